"""The budget bound (contract.limits.budget_problem) is what PostgreSQL's numeric(14, 6) columns hold: the largest
budget KeyService accepts is stored exactly for a key, a team and an org, and the CLI's org budget goes through
the same check (the smallest refused amount never reaches the database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regiongate.cli.main import main
from regiongate.contract.limits import BUDGET_RULE
from regiongate.store.keys import KeyService
from tests.fixtures.clock import pinned

pytestmark = pytest.mark.postgres

LARGEST = Decimal("99999999.999999")


def test_the_largest_accepted_budget_is_stored_exactly_for_keys_teams_and_orgs(pg_store):
    service = KeyService(pg_store, clock=pinned())
    key = service.create(region_code="eu", org_id="acme", monthly_budget_usd=LARGEST).record
    service.set_team_budget("acme", "ml", LARGEST)
    service.set_org_budget("acme", LARGEST)
    [stored] = [k for k in pg_store.list_keys(org_id="acme") if k.key_id == key.key_id]
    assert stored.monthly_budget_usd == LARGEST
    assert pg_store.team_budget("acme", "ml") == LARGEST and pg_store.org_budget("acme") == LARGEST


def test_the_cli_org_budget_is_checked_before_the_database(pg_store, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["keys", "org-budget", "--org", "acme", "--budget-usd", str(LARGEST)]) == 0
    assert pg_store.org_budget("acme") == LARGEST
    with pytest.raises(SystemExit, match=r"^2$"):
        main(["keys", "org-budget", "--org", "acme", "--budget-usd", "100000000"])
    assert BUDGET_RULE in capsys.readouterr().err and pg_store.org_budget("acme") == LARGEST
    assert main(["keys", "org-budget", "--org", "ACME corp", "--budget-usd", "1"]) == 2
    assert "org must be" in capsys.readouterr().err
