"""`regiongate console-org settings`: password sign-in per organisation, as a process against PostgreSQL."""

from __future__ import annotations

import pytest

from regiongate.console.runtime.auth import Accounts, LoginResult
from regiongate.store.postgres import ConnectionParams, ConnectionPool
from tests.e2e.console.test_cli import regiongate
from tests.fixtures.clock import pinned
from tests.fixtures.console_world import PASSWORD, TEST_LOG_N, fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cli_db():
    with fresh_database("cliorg", kind="console") as url:
        yield url


def test_password_sign_in_off_and_on_again(cli_db):
    pool = ConnectionPool(ConnectionParams.from_url(cli_db).connect, size=1)
    try:
        accounts = Accounts(pool, "eu", clock=pinned())
        accounts.create_user(
            email="ann@acme.example", password=PASSWORD, role="org_viewer", org_id="acme", log_n=TEST_LOG_N
        )
        shown = regiongate("console-org", "settings", "--region", "eu", "--org", "acme", DATABASE_URL=cli_db)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.strip() == "org acme in region eu: password sign-in on"
        off = regiongate(
            "console-org",
            "settings",
            "--region",
            "eu",
            "--org",
            "acme",
            "--password-sign-in",
            "off",
            DATABASE_URL=cli_db,
        )
        assert off.returncode == 0, off.stderr
        assert off.stdout.strip() == "org acme in region eu: password sign-in off"
        assert "has no console_oidc" in off.stderr  # the shipped eu region has no single sign-on
        assert accounts.login("ann@acme.example", PASSWORD)[0] == LoginResult.SSO_ONLY
        on = regiongate(
            "console-org",
            "settings",
            "--region",
            "eu",
            "--org",
            "acme",
            "--password-sign-in",
            "on",
            DATABASE_URL=cli_db,
        )
        assert on.returncode == 0 and on.stdout.strip().endswith("password sign-in on")
        assert accounts.login("ann@acme.example", PASSWORD)[0] == LoginResult.OK
        bad = regiongate("console-org", "settings", "--region", "eu", "--org", "Not An Org", DATABASE_URL=cli_db)
        assert bad.returncode == 2 and "organisation id" in bad.stderr
    finally:
        pool.close()
