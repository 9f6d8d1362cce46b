"""The console's database credentials in ECS: read from the audit store's secret, again after a rotation."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from regiongate.console.runtime.settings import ConsoleSettings, Region, SettingsError
from regiongate.store.postgres import RefreshingConnect

EU = Region(code="eu", display_name="EU")


@pytest.fixture
def secret_arn(monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-central-1")
        arn = client.create_secret(
            Name="regiongate/eu/audit-store-admin",
            SecretString=json.dumps({"username": "regiongate_admin", "password": "first"}),
        )["ARN"]
        yield arn


def ecs_env(arn: str) -> dict[str, str]:
    return {
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "DB_NAME": "regiongate",
        "DB_SECRET_ARN": arn,
        "DB_CA_BUNDLE": "/app/regiongate/store/rds-ca/global-bundle.pem",
    }


def test_credentials_come_from_the_secret_and_are_read_again_after_a_rotation(secret_arn):
    settings = ConsoleSettings.from_env(ecs_env(secret_arn), region=EU)
    connect = settings.connector()
    assert isinstance(connect, RefreshingConnect)  # the gateway's re-read-on-rejected-password path
    params = connect._load()
    assert (params.host, params.port, params.database) == ("db.internal", 5432, "regiongate")
    assert (params.user, params.password, params.ssl_mode) == ("regiongate_admin", "first", "verify-full")
    assert params.ca_bundle == "/app/regiongate/store/rds-ca/global-bundle.pem"
    boto3.client("secretsmanager", region_name="eu-central-1").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"username": "regiongate_admin", "password": "rotated"})
    )
    assert connect._load().password == "rotated"


def test_no_password_is_taken_from_the_environment():
    env = {**ecs_env("arn:aws:secretsmanager:eu-central-1:111111111111:secret:x-AbCdEf"), "DB_PASSWORD": "leaked"}
    settings = ConsoleSettings.from_env(env, region=EU)
    assert "leaked" not in repr(settings)


@pytest.mark.parametrize("arn", ["", "regiongate/eu/audit-store-admin", "arn:aws:s3:::bucket"])
def test_a_bad_secret_arn_is_named(arn):
    with pytest.raises(SettingsError, match="DB_SECRET_ARN"):
        ConsoleSettings.from_env(ecs_env(arn), region=EU)


def test_the_region_comes_from_the_document_the_stack_puts_in_the_environment():
    from regiongate.config.gateway import runtime_config
    from regiongate.config.regions import load_catalogue
    from regiongate.contract import environment

    document = runtime_config(load_catalogue().region("eu"))
    env = environment.console_environment(
        region=document,
        database={
            **environment.database_environment(
                host="db.internal", secret_arn="arn:aws:secretsmanager:eu-central-1:111111111111:secret:x-AbCdEf"
            ),
            **environment.database_tls_environment(ca_bundle="/app/regiongate/store/rds-ca/global-bundle.pem"),
        },
    )
    settings = ConsoleSettings.from_env(env)
    assert settings.region == Region(code="eu", display_name=document.display_name, models=tuple(document.models))
    assert "nova-pro" in settings.region.models and settings.db_host == "db.internal"
    with pytest.raises(SettingsError, match=r"^REGIONGATE_REGION_DOCUMENT: models\[0\]\.kind: missing key"):
        ConsoleSettings.from_env(
            {**env, "REGIONGATE_REGION_DOCUMENT": env["REGIONGATE_REGION_DOCUMENT"].replace('"kind":"chat",', "", 1)}
        )
