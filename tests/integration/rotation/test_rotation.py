"""Rotation of the audit store's admin secret, against the real local PostgreSQL and moto's Secrets Manager.

The test server trusts every password except for members of ``regiongate_password_checked``
(scripts/test-postgres.sh), so each test signs in as a login role of that group created for it alone.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends
from pg8000.exceptions import DatabaseError

from regiongate.rotation.runtime import handler as rotation
from regiongate.rotation.runtime.handler import EXCLUDE_CHARACTERS, PASSWORD_LENGTH, Rotation, RotationError
from regiongate.store.postgres import (
    ConnectionParams,
    ConnectionPool,
    PostgresStore,
    RefreshingConnect,
    password_rejected,
)
from tests.fixtures.gateway_db import _admin_params

REGION = "eu-central-1"
PASSWORD_GROUP = "regiongate_password_checked"
INITIAL_PASSWORD = "initial-Password-1"


@pytest.fixture
def role():
    """A login role whose password PostgreSQL checks (scram), dropped afterwards."""
    admin = _admin_params()
    conn = admin.connect()
    try:
        if not conn.run("SELECT 1 FROM pg_roles WHERE rolname = :g", g=PASSWORD_GROUP):
            pytest.skip(f"role {PASSWORD_GROUP} is missing: start PostgreSQL with scripts/test-postgres.sh")
        name = f"rg_rotation_{uuid.uuid4().hex[:10]}"
        conn.run(f"CREATE ROLE {name} LOGIN PASSWORD '{INITIAL_PASSWORD}' IN ROLE {PASSWORD_GROUP}")
    finally:
        conn.close()
    yield name
    conn = admin.connect()
    conn.run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'")
    conn.run(f"DROP ROLE IF EXISTS {name}")
    conn.close()


def params_for(secret) -> ConnectionParams:
    # The local server has no TLS; in AWS the handler signs in with rotation.tls_connect (TLS required).
    return replace(_admin_params(), user=secret["username"], password=secret["password"], ssl_mode="disable")


def local_connect(secret):
    return params_for(secret).connect()


def signs_in(username: str, password: str) -> bool:
    try:
        local_connect({"username": username, "password": password}).close()
        return True
    except Exception as exc:
        if password_rejected(exc):
            return False
        raise


@pytest.fixture
def secrets():
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def secret_arn(secrets, role):
    admin = _admin_params()
    value = {
        "engine": "postgres",
        "username": role,
        "password": INITIAL_PASSWORD,
        "host": admin.host,
        "port": admin.port,
        "dbname": admin.database,
    }
    arn = secrets.create_secret(Name=f"regiongate/eu/audit-store-admin-{role}", SecretString=json.dumps(value))["ARN"]
    # Turns rotation on (moto has no rotation function to call; the value stays as it is).
    secrets.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    return arn


def begin_rotation(secrets, arn) -> str:
    """What RotateSecret does before it calls the function: a new version id labelled AWSPENDING, without a
    value yet. moto's RotateSecret without a function would promote the version at once, so it is set up here."""
    token = str(uuid.uuid4())
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[arn]
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": 0, "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


def stages(secrets, arn) -> dict[str, list[str]]:
    return secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]


def value(secrets, arn, stage="AWSCURRENT") -> dict:
    return json.loads(secrets.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def rotation_logs():
    """Every record of the rotation logger (attached to it directly: regiongate.common.logs stops propagation)."""
    logger = logging.getLogger("regiongate.rotation")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_four_steps_rotate_the_password_and_move_awscurrent(secrets, secret_arn, role, rotation_logs):
    old_version = next(v for v, s in stages(secrets, secret_arn).items() if "AWSCURRENT" in s)
    token = begin_rotation(secrets, secret_arn)
    rotation_ = Rotation(secrets, local_connect)
    for step in rotation.STEPS:
        rotation_.run(secret_arn, token, step)

    new = value(secrets, secret_arn)
    assert new["username"] == role and new["host"] and new["dbname"]  # everything but the password is kept
    assert new["password"] != INITIAL_PASSWORD
    assert len(new["password"]) == PASSWORD_LENGTH
    assert not set(new["password"]) & set(EXCLUDE_CHARACTERS)
    assert "AWSCURRENT" in stages(secrets, secret_arn)[token]
    assert "AWSPREVIOUS" in stages(secrets, secret_arn)[old_version]
    assert value(secrets, secret_arn, "AWSPREVIOUS")["password"] == INITIAL_PASSWORD
    assert signs_in(role, new["password"])
    assert not signs_in(role, INITIAL_PASSWORD)
    # Never a secret value in the function's logs.
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in rotation_logs)
    assert "setSecret" in logged and token in logged
    assert new["password"] not in logged and INITIAL_PASSWORD not in logged

    # Secrets Manager may call any step again: nothing changes once the version is current.
    for step in rotation.STEPS:
        rotation_.run(secret_arn, token, step)
    assert value(secrets, secret_arn) == new
    assert signs_in(role, new["password"])


def test_every_step_may_run_twice(secrets, secret_arn, role):
    token = begin_rotation(secrets, secret_arn)
    rotation_ = Rotation(secrets, local_connect)
    rotation_.run(secret_arn, token, "createSecret")
    pending = value(secrets, secret_arn, "AWSPENDING")
    rotation_.run(secret_arn, token, "createSecret")
    assert value(secrets, secret_arn, "AWSPENDING") == pending  # the first generated password is kept
    assert value(secrets, secret_arn)["password"] == INITIAL_PASSWORD

    rotation_.run(secret_arn, token, "setSecret")
    rotation_.run(secret_arn, token, "setSecret")  # signs in with the pending password: already set
    assert signs_in(role, pending["password"]) and not signs_in(role, INITIAL_PASSWORD)

    for step in ("testSecret", "testSecret", "finishSecret", "finishSecret"):
        rotation_.run(secret_arn, token, step)
    assert value(secrets, secret_arn) == pending
    assert [v for v, s in stages(secrets, secret_arn).items() if "AWSCURRENT" in s] == [token]


def test_a_failed_test_step_leaves_awscurrent_untouched(secrets, secret_arn, role):
    current_before = value(secrets, secret_arn)
    stages_before = {v: s for v, s in stages(secrets, secret_arn).items() if "AWSCURRENT" in s}
    token = begin_rotation(secrets, secret_arn)
    rotation_ = Rotation(secrets, local_connect)
    rotation_.run(secret_arn, token, "createSecret")
    # setSecret never happened (say, the function timed out): the pending password does not sign in.
    with pytest.raises(RotationError, match="testSecret"):
        rotation_.run(secret_arn, token, "testSecret")
    assert value(secrets, secret_arn) == current_before
    assert {v: s for v, s in stages(secrets, secret_arn).items() if "AWSCURRENT" in s} == stages_before
    assert signs_in(role, INITIAL_PASSWORD)


def test_set_secret_after_a_half_finished_rotation_signs_in_with_the_previous_password(secrets, secret_arn, role):
    """A rotation set the password but never moved AWSCURRENT, and the next one starts: only AWSPREVIOUS
    (the earlier AWSCURRENT) is not what the database has, so setSecret falls back to it."""
    first = begin_rotation(secrets, secret_arn)
    rotation_ = Rotation(secrets, local_connect)
    for step in rotation.STEPS:
        rotation_.run(secret_arn, first, step)
    # The database is set back to the previous password behind Secrets Manager's back.
    admin = _admin_params().connect()
    admin.run(f"ALTER ROLE {role} PASSWORD '{INITIAL_PASSWORD}'")
    admin.close()
    second = begin_rotation(secrets, secret_arn)
    for step in rotation.STEPS:
        rotation_.run(secret_arn, second, step)
    assert signs_in(role, value(secrets, secret_arn)["password"])


def test_steps_check_the_version_stages(secrets, secret_arn):
    rotation_ = Rotation(secrets, local_connect)
    with pytest.raises(RotationError, match="no stage for rotation"):
        rotation_.run(secret_arn, str(uuid.uuid4()), "createSecret")
    with pytest.raises(RotationError, match="unknown rotation step"):
        rotation_.run(secret_arn, begin_rotation(secrets, secret_arn), "dropSecret")
    plain = secrets.create_secret(Name="not-rotated", SecretString=json.dumps({"username": "u", "password": "p"}))[
        "ARN"
    ]
    with pytest.raises(RotationError, match="rotation is not enabled"):
        rotation_.run(plain, str(uuid.uuid4()), "createSecret")


def test_the_handler_creates_no_client_at_import_and_uses_tls(monkeypatch):
    assert rotation._client is None
    seen = {}

    class Params(ConnectionParams):
        def connect(self):
            seen.update(ssl_mode=self.ssl_mode, host=self.host, port=self.port, database=self.database)
            return object()

    monkeypatch.setattr(rotation, "ConnectionParams", Params)
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PORT", "5432")
    monkeypatch.setenv("DB_NAME", "regiongate")
    monkeypatch.setenv("DB_CA_BUNDLE", "/var/task/regiongate/store/rds-ca/global-bundle.pem")
    rotation.tls_connect({"username": "u", "password": "p", "host": "ignored"})
    assert seen == {"ssl_mode": "verify-full", "host": "db.internal", "port": 5432, "database": "regiongate"}


# --- the store after a rotation ---------------------------------------------------------------------


def test_store_reads_the_secret_again_when_the_password_was_rotated(secrets, secret_arn, role):
    loads = []

    def load():
        loads.append(1)
        return params_for(value(secrets, secret_arn))

    store = PostgresStore(ConnectionPool(RefreshingConnect(load), size=1))
    assert loads == []  # nothing read before the first connection
    with store.pool.connection() as conn:
        assert conn.run("SELECT current_user") == [[role]]
    assert loads == [1]

    token = begin_rotation(secrets, secret_arn)
    for step in rotation.STEPS:
        Rotation(secrets, local_connect).run(secret_arn, token, step)
    with store.pool.connection() as conn:  # the open connection survives the rotation
        assert conn.run("SELECT 1") == [[1]]
    store.pool.close()  # the next connection signs in again: 28P01 with the cached password, then the new one
    with store.pool.connection() as conn:
        assert conn.run("SELECT current_user") == [[role]]
    assert loads == [1, 1]
    store.pool.close()


class _Rejecting:
    def connect(self):
        from pg8000.exceptions import DatabaseError

        raise DatabaseError({"S": "FATAL", "C": "28P01", "M": "password authentication failed"})


class _Down:
    def connect(self):
        raise ConnectionRefusedError("no server")


def test_refreshing_connect_reloads_once_and_only_for_a_rejected_password():
    loads = []
    connect = RefreshingConnect(lambda: loads.append(1) or _Rejecting())
    with pytest.raises(DatabaseError, match="'C': '28P01'") as raised:
        connect()
    assert password_rejected(raised.value) and loads == [1, 1]  # one reload, then the rejection is raised

    loads.clear()
    connect = RefreshingConnect(lambda: loads.append(1) or _Down())
    with pytest.raises(ConnectionRefusedError, match=r"^no server$"):
        connect()
    assert loads == [1]  # a server that is down is no reason to read the secret again
