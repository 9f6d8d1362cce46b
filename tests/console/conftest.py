"""Fixtures of the console tests: a PostgreSQL database per xdist worker, accounts of every role in two
orgs, and audit rows produced by real gateway requests (the gateway's service with loopback fake providers,
its audit events written by the store's writer code)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "console") not in sys.path:
    sys.path.insert(0, str(ROOT / "console"))

from llm_gateway.settings import RuntimeConfig  # noqa: E402
from llm_gateway.store.postgres import ConnectionParams, ConnectionPool, PostgresStore  # noqa: E402
from regiongate.config import load_catalogue  # noqa: E402
from regiongate.gateway_config import runtime_document  # noqa: E402
from regiongate_console.app import Console, create_app  # noqa: E402
from regiongate_console.auth import Accounts  # noqa: E402
from regiongate_console.settings import Region  # noqa: E402
from tests.clock import pinned  # noqa: E402

PASSWORD = "correct horse battery staple"
TEST_LOG_N = 12  # scrypt cost of the fixture accounts (4 MiB, fast); production hashes use 2^15
_AWS_VARS = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL",
)


@pytest.fixture(autouse=True)
def no_aws_account(monkeypatch, tmp_path_factory):
    for name in _AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")


@pytest.fixture(scope="session")
def eu_region_config():
    return load_catalogue().region("eu")


@pytest.fixture(scope="session")
def eu_runtime(eu_region_config) -> RuntimeConfig:
    return RuntimeConfig.from_document(runtime_document(eu_region_config))


@pytest.fixture(scope="session")
def region(eu_region_config) -> Region:
    return Region(code="eu", display_name=eu_region_config.display_name,
                  models=tuple(m.name for m in eu_region_config.gateway.models))


# --- PostgreSQL ------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def fresh_database(tag: str):
    """A new, migrated database (the test role may CREATE DATABASE), dropped afterwards; yields its URL."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        pytest.skip("DATABASE_URL is not set (make test starts PostgreSQL: scripts/test-postgres.sh)")
    admin = ConnectionParams.from_url(url)
    name = f"rg_console_{tag}_{uuid.uuid4().hex[:8]}"
    conn = admin.connect()
    conn.run(f'CREATE DATABASE "{name}"')
    conn.close()
    params = replace(admin, database=name)
    store = PostgresStore(ConnectionPool(params.connect, size=1))
    store.migrate()  # writes create the partitions they need
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


@pytest.fixture(scope="session")
def store(database_url):
    store = PostgresStore(ConnectionPool(ConnectionParams.from_url(database_url).connect, size=8))
    yield store
    store.pool.close()


# --- the world: two orgs, every role, real traffic ------------------------------------------------------------

@dataclass
class World:
    users: dict  # name -> User
    keys: dict  # name -> (key, KeyRecord)
    request_ids: dict  # org -> [request ids]


def make_users(store, suffix: str = "") -> dict:
    accounts = Accounts(store.pool, "eu", clock=pinned())
    spec = {
        "platform": ("platform_admin", None),
        "acme_admin": ("org_admin", "acme"),
        "acme_viewer": ("org_viewer", "acme"),
        "globex_admin": ("org_admin", "globex"),
        "globex_viewer": ("org_viewer", "globex"),
    }
    return {
        name: accounts.create_user(email=f"{name.replace('_', '.')}{suffix}@example.com", password=PASSWORD, role=role,
                                   org_id=org, log_n=TEST_LOG_N)
        for name, (role, org) in spec.items()
    }


def send_traffic(store, runtime, keys: dict) -> dict:
    """Real requests through the gateway's service (fake providers on loopback); returns request ids per org."""
    from tests.gateway.fakes import FakeBedrock, FakeOpenAI
    from tests.gateway.helpers import make_gateway, post

    bedrock, azure = FakeBedrock(reply="Paris"), FakeOpenAI(reply="Bonjour")
    try:
        gateway, sink = make_gateway(runtime, store, bedrock=bedrock, azure=azure)
        ids: dict[str, list[str]] = {}

        def chat(key_name: str, model: str, text: str) -> int:
            key, record = keys[key_name]
            response = post(gateway, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": text}]}, key)
            ids.setdefault(record.org_id, []).append(response.headers["x-request-id"])
            return response.status

        assert chat("acme_ml", "claude-3-7-sonnet", "Capital of France?") == 200
        assert chat("acme_ml", "claude-3-7-sonnet", "Capital of Spain?") == 200
        assert chat("acme_ml", "gpt-4o", "Bonjour?") == 200
        assert chat("acme_web", "nova-pro", "Summarise this.") == 200
        assert chat("acme_web", "gpt-4o", "Pay to DE89370400440532013000 please") == 200  # iban: flagged
        assert chat("acme_web", "gpt-4o", "My card is 4111 1111 1111 1111") == 400  # payment card: blocked
        assert chat("acme_web", "no-such-model", "hi") == 404
        assert chat("globex_main", "gpt-4o", "Globex secret plans") == 200
        assert chat("globex_main", "claude-3-7-sonnet", "Card 5555 5555 5555 4444") == 400
        assert store.write_audit_events(sink.events) == len(sink.events)
        return ids
    finally:
        bedrock.close()
        azure.close()


@pytest.fixture(scope="session")
def world(store, eu_runtime) -> World:
    from llm_gateway.keys import KeyService

    service = KeyService(store, clock=pinned())
    users = make_users(store)
    keys = {}
    for name, org, team in (("acme_ml", "acme", "ml"), ("acme_web", "acme", "web"), ("globex_main", "globex", "main")):
        created = service.create(region_code="eu", org_id=org, team_id=team)
        keys[name] = (created.key, created.record)
    store.set_org_budget("acme", Decimal("100"))
    ids = send_traffic(store, eu_runtime, keys)
    return World(users=users, keys=keys, request_ids=ids)


# --- the app ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def console(store, region) -> Console:
    return Console(region=region, store=store, secure_cookies=True, clock=pinned())


@pytest.fixture(scope="session")
def app(console):
    return create_app(console)


def new_client(app):
    from starlette.testclient import TestClient

    return TestClient(app, base_url="https://testserver", follow_redirects=False)


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/"})


@pytest.fixture
def login(app, world):
    """login("acme_admin") -> a TestClient signed in as that fixture account, and its CSRF token."""
    clients = []

    def _login(name: str):
        client = new_client(app)
        clients.append(client)
        response = sign_in(client, world.users[name].email)
        assert response.status_code == 303, response.text
        client.csrf = csrf_of(client.get("/keys").text)
        return client

    yield _login
    for client in clients:
        client.close()


def snapshot(store) -> dict:
    """Everything a console action could change (sessions by count: sign-ins touch last_seen_at)."""
    with store.pool.connection() as conn:
        return {
            "orgs": conn.run("SELECT org_id, monthly_budget_usd FROM orgs ORDER BY 1"),
            "keys": conn.run("SELECT key_id, org_id, team_id, user_id, monthly_budget_usd, model_allowlist, expires_at, "
                             "revoked_at FROM api_keys ORDER BY 1"),
            "users": conn.run("SELECT user_id, email, role, org_id, disabled_at FROM console_users ORDER BY 1"),
            "audit": conn.run("SELECT count(*) FROM audit_events"),
        }
