"""Fixtures of the gateway tests: no AWS account is reachable, each xdist worker has its own database."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from llm_gateway.settings import RuntimeConfig
from regiongate.config import load_catalogue
from regiongate.gateway_config import runtime_document

from tests.clock import pinned

from .fakes import FakeBedrock, FakeOpenAI

_AWS_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_ENDPOINT_URL",
    "AWS_CREDENTIAL_EXPIRATION",
)


@pytest.fixture(autouse=True)
def no_aws_account(monkeypatch, tmp_path_factory):
    """Clear every way boto3 could find real credentials, so no test can reach an AWS account."""
    for name in _AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path_factory.getbasetemp() / "gateway-no-aws-config"  # never created: no profiles at all
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    for name in list(os.environ):
        if name.startswith("REGIONGATE_PROVIDER_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="session")
def eu_runtime(catalogue) -> RuntimeConfig:
    return RuntimeConfig.from_document(runtime_document(catalogue.region("eu")))


# --- PostgreSQL ------------------------------------------------------------------------------------------------

def _admin_params():
    from llm_gateway.store.postgres import ConnectionParams

    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip("DATABASE_URL is not set (make test starts PostgreSQL: scripts/test-postgres.sh)")
    return ConnectionParams.from_url(url)


@contextlib.contextmanager
def fresh_database(tag: str):
    """A new, migrated database of its own; yields its URL, dropped afterwards."""
    from dataclasses import replace

    from llm_gateway.store.postgres import ConnectionPool, PostgresStore

    admin = _admin_params()
    name = f"rg_gateway_{tag}_{uuid.uuid4().hex[:8]}"
    conn = admin.connect()
    conn.run(f'CREATE DATABASE "{name}"')
    conn.close()
    params = replace(admin, database=name)
    store = PostgresStore(ConnectionPool(params.connect, size=1))
    store.migrate()
    store.pool.close()
    try:
        yield f"postgresql://{params.user}:{params.password}@{params.host}:{params.port}/{name}"
    finally:
        conn = admin.connect()
        conn.run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        conn.run(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


@pytest.fixture(scope="session")
def database_url(worker_id):
    """A database of this worker's own, migrated once, dropped at the end of the session."""
    with fresh_database(worker_id) as url:
        yield url


def _store(url: str):
    from llm_gateway.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    return PostgresStore(ConnectionPool(ConnectionParams.from_url(url).connect, size=4), clock=pinned())


@pytest.fixture
def pg_store(database_url):
    """A PostgresStore on an emptied database (partitions stay: other stores of the session may know them)."""
    store = _store(database_url)
    with store.pool.connection() as conn:
        conn.run("TRUNCATE daily_spend, guardrail_violations, audit_events, api_keys, orgs CASCADE")
    yield store
    store.pool.close()


@pytest.fixture
def empty_store():
    """A PostgresStore on a database of its own with no partitions yet (for partition and retention tests)."""
    with fresh_database("partitions") as url:
        store = _store(url)
        yield store
        store.pool.close()


def dump_database(store) -> str:
    """Every row of every table of the database as text (for the zero-retention searches)."""
    with store.pool.connection() as conn:
        tables = [r[0] for r in conn.run(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"  # leaf tables: partitions, not their parent
        )]
        lines = []
        for table in tables:
            for (row,) in conn.run(f'SELECT t::text FROM "{table}" t'):
                lines.append(f"{table}: {row}")
    return "\n".join(lines)


# --- upstream fakes ---------------------------------------------------------------------------------------------

@pytest.fixture
def bedrock():
    fake = FakeBedrock()
    yield fake
    fake.close()


@pytest.fixture
def azure():
    fake = FakeOpenAI()
    yield fake
    fake.close()
