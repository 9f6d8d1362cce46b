"""``regiongate db migrate`` and ``regiongate keys create|list|revoke|org-budget|team-budget`` against the real PostgreSQL."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from regiongate.store.keys import hash_key

pytestmark = pytest.mark.postgres


def test_db_migrate_is_idempotent(cli):
    code, out, _ = cli("db", "migrate")
    assert code == 0 and "up to date" in out


def test_keys_lifecycle(cli, pg_store):
    code, out, err = cli(
        "keys",
        "create",
        "--region",
        "eu",
        "--org",
        "acme",
        "--team",
        "ml",
        "--user",
        "ana",
        "--budget-usd",
        "12.5",
        "--models",
        "gpt-4o,nova-pro",
        "--expires-days",
        "30",
    )
    assert code == 0
    key = out.strip()
    assert re.fullmatch(r"rk-eu-[A-Za-z0-9_-]{32}", key)
    key_id = re.search(r"key id (key_[0-9a-f]{16})", err).group(1)
    record = pg_store.find_key_by_hash(hash_key(key))
    assert record.key_id == key_id and record.monthly_budget_usd == Decimal("12.5")
    assert record.model_allowlist == ("gpt-4o", "nova-pro") and record.expires_at is not None

    code, out, _ = cli("keys", "list", "--org", "acme")
    assert code == 0 and key_id in out and key not in out and "active" in out and key[:12] in out

    assert cli("keys", "revoke", key_id)[0] == 0
    assert "revoked" in cli("keys", "list")[1]
    assert cli("keys", "revoke", key_id)[0] == 1

    assert cli("keys", "org-budget", "--org", "acme", "--budget-usd", "100")[0] == 0
    assert pg_store.org_budget("acme") == Decimal("100")


def test_keys_team_budget_sets_lists_and_clears_a_teams_budget(cli, pg_store, capsys):
    code, out, _ = cli("keys", "team-budget", "--org", "acme", "--team", "ml", "--budget-usd", "25.5")
    assert (code, out.strip()) == (0, "org acme team ml: monthly budget 25.5 USD")
    assert pg_store.team_budget("acme", "ml") == Decimal("25.5")
    assert cli("keys", "team-budget", "--org", "acme")[1].strip() == "org acme team ml: monthly budget 25.500000 USD"
    code, _, err = cli("keys", "team-budget", "--org", "acme", "--team", "ML team", "--budget-usd", "1")
    assert code == 2 and "team must be" in err
    code, _, err = cli("keys", "team-budget", "--org", "acme", "--clear")
    assert code == 2 and "--team is required" in err
    with pytest.raises(SystemExit, match=r"^2$"):  # the flag's own bound (contract.limits.budget_problem)
        cli("keys", "team-budget", "--org", "acme", "--team", "ml", "--budget-usd", "100000000")
    err = capsys.readouterr().err
    assert "below 100,000,000 USD" in err and pg_store.team_budget("acme", "ml") == Decimal("25.5")
    assert cli("keys", "team-budget", "--org", "acme", "--team", "ml", "--clear")[0] == 0
    assert pg_store.team_budget("acme", "ml") is None
    assert cli("keys", "team-budget", "--org", "acme")[1].strip() == "org acme: no team budgets"


def test_keys_create_refuses_unknown_region_model_and_bad_ids(cli):
    code, _, err = cli("keys", "create", "--region", "mars", "--org", "acme")
    assert code == 2 and "no such region" in err
    code, _, err = cli("keys", "create", "--region", "eu", "--org", "acme", "--models", "gpt-9")
    assert code == 2 and "unknown model" in err
    code, _, err = cli("keys", "create", "--region", "eu", "--org", "Acme Corp")
    assert code == 2 and "org must be" in err
