"""The runtimes' environment: names defined once, ``from_env`` naming what is missing, and the constructs'
dicts built by the same module (so what a stack sets is what a runtime reads)."""

from __future__ import annotations

import pytest

from regiongate.config.gateway import runtime_config
from regiongate.config.regions import load_catalogue
from regiongate.contract import environment
from regiongate.contract.environment import ConsoleEnvironment, Settings, SettingsError
from regiongate.contract.limits import (
    CONSOLE_PORT,
    DATABASE_NAME,
    DATABASE_PORT,
    DEFAULT_AUDIT_BUFFER_EVENTS,
    GATEWAY_PORT,
    REGION_DOCUMENT_PATH,
)

EU = runtime_config(load_catalogue().region("eu"))
ARN = "arn:aws:secretsmanager:eu-central-1:111111111111:secret:regiongate/eu/audit-store-admin-AbCdEf"


def database() -> dict[str, str]:
    return {
        **environment.database_environment(host="db.internal", secret_arn=ARN),
        **environment.database_tls_environment(ca_bundle="/var/task/regiongate/store/rds-ca/global-bundle.pem"),
    }


def test_what_the_stack_sets_for_the_functions_is_what_they_read():
    function = environment.function_environment(code="eu", database=database())
    gateway = environment.gateway_environment(function, audit_queue_url="https://sqs/q", provider_secret_arn="arn:p")
    settings = Settings.from_env(gateway)
    assert (settings.region_code, settings.config_path) == ("eu", REGION_DOCUMENT_PATH)
    assert (settings.db_host, settings.db_port, settings.db_name, settings.db_secret_arn) == (
        "db.internal",
        DATABASE_PORT,
        DATABASE_NAME,
        ARN,
    )
    assert (settings.audit_queue_url, settings.provider_secret_arn) == ("https://sqs/q", "arn:p")
    assert environment.DB_SECRET_ARN not in environment.rotation_environment(function)
    assert environment.rotation_environment(function)[environment.DB_HOST] == "db.internal"


def test_what_the_stack_sets_for_the_console_is_what_it_reads():
    read = ConsoleEnvironment.from_env(environment.console_environment(region=EU, database=database()))
    assert read.region == EU and read.port == CONSOLE_PORT
    assert (read.db_host, read.db_port, read.db_name, read.db_secret_arn) == (
        "db.internal",
        DATABASE_PORT,
        DATABASE_NAME,
        ARN,
    )


@pytest.mark.parametrize(
    "missing",
    [environment.REGION_CODE, environment.REGION_DOCUMENT_JSON, environment.DB_HOST, environment.DB_SECRET_ARN],
)
def test_the_console_names_a_missing_variable(missing):
    env = environment.console_environment(region=EU, database=database())
    env.pop(missing)
    with pytest.raises(SettingsError, match=missing):
        ConsoleEnvironment.from_env(env)


def test_the_console_refuses_a_document_of_another_region_or_contract():
    env = environment.console_environment(region=EU, database=database())
    with pytest.raises(SettingsError, match="document of region eu, but REGIONGATE_REGION_CODE=us"):
        ConsoleEnvironment.from_env({**env, environment.REGION_CODE: "us"})
    broken = env[environment.REGION_DOCUMENT_JSON].replace('"contract_version":"', '"contract_version":"9')
    with pytest.raises(
        SettingsError, match=r"^REGIONGATE_REGION_DOCUMENT: contract_version: the document is version 9"
    ):
        ConsoleEnvironment.from_env({**env, environment.REGION_DOCUMENT_JSON: broken})


@pytest.mark.parametrize("name", [environment.DB_PORT, environment.CONSOLE_LISTEN_PORT])
@pytest.mark.parametrize("value", ["x", "0", "70000"])
def test_a_port_that_is_not_one_is_named(name, value):
    env = {**environment.console_environment(region=EU, database=database()), name: value}
    with pytest.raises(SettingsError, match=rf"^{name} must be a port number, got '{value}'"):
        ConsoleEnvironment.from_env(env)


def test_the_functions_refuse_a_document_of_another_region(tmp_path):
    path = tmp_path / "region.json"
    path.write_text(EU.to_json())
    settings = Settings(region_code="us", config_path=str(path), database_url="postgresql://x/y")
    with pytest.raises(SettingsError, match=r"REGIONGATE_CONFIG_PATH=.*region\.json \(REGIONGATE_REGION_CODE=us\)"):
        settings.region_document()
    assert Settings(region_code="eu", config_path=str(path)).region_document() == EU


# --- the gateway container ----------------------------------------------------------------------------------
def container_environment() -> dict[str, str]:
    function = environment.function_environment(code="eu", database=database())
    gateway = environment.gateway_environment(function, audit_queue_url="https://sqs/q", provider_secret_arn="arn:p")
    return environment.gateway_container_environment(gateway, region=EU)


def test_what_the_stack_sets_for_the_gateway_container_is_what_it_reads():
    env = container_environment()
    assert environment.REGION_DOCUMENT_FILE not in env  # a task has no layer: the document itself is set
    read = environment.GatewayContainerEnvironment.from_env(env)
    assert read.region == EU and read.port == GATEWAY_PORT
    assert read.audit_buffer_events == DEFAULT_AUDIT_BUFFER_EVENTS
    settings = read.settings
    assert (settings.region_code, settings.audit_queue_url, settings.provider_secret_arn) == (
        "eu",
        "https://sqs/q",
        "arn:p",
    )
    assert (settings.db_host, settings.db_name, settings.db_secret_arn) == ("db.internal", DATABASE_NAME, ARN)


@pytest.mark.parametrize(
    "missing",
    [environment.REGION_CODE, environment.REGION_DOCUMENT_JSON, environment.AUDIT_QUEUE_URL, environment.DB_HOST],
)
def test_the_gateway_container_names_a_missing_variable(missing):
    env = container_environment()
    del env[missing]
    with pytest.raises(SettingsError, match=missing):
        environment.GatewayContainerEnvironment.from_env(env)


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_the_gateway_containers_audit_buffer_must_be_a_positive_number(value):
    env = {**container_environment(), environment.AUDIT_BUFFER_EVENTS: value}
    with pytest.raises(SettingsError, match=rf"^{environment.AUDIT_BUFFER_EVENTS} must be a positive number"):
        environment.GatewayContainerEnvironment.from_env(env)


def test_the_gateway_container_refuses_a_document_of_another_region():
    env = {**container_environment(), environment.REGION_CODE: "us"}
    with pytest.raises(SettingsError, match="document of region eu, but REGIONGATE_REGION_CODE=us"):
        environment.GatewayContainerEnvironment.from_env(env)
