"""One bound for every monthly budget (keys, teams, orgs: numeric(14, 6) columns), ``contract.limits.budget_problem``,
used alike by KeyService, the console's amount fields and the CLI's budget flags, each with a clear error. No I/O:
the in-memory store, the console's field parser and the CLI's argument parser."""

from __future__ import annotations

from decimal import Decimal

import pytest

from regiongate.cli.main import main
from regiongate.console.runtime.web import BadInput, optional_amount
from regiongate.contract.errors import InvalidRequest
from regiongate.contract.limits import BUDGET_RULE, MAX_BUDGET_USD, budget_problem
from regiongate.store.keys import KeyService
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import pinned

LARGEST = Decimal("99999999.999999")  # the largest value numeric(14, 6) holds
REFUSED = (
    Decimal("100000000"),  # accepted by the console before, and 10**8 overflows numeric(14, 6)
    Decimal("99999999.9999995"),  # PostgreSQL would round it to 10**8: an overflow too
    Decimal("1e9"),
    Decimal("0.0000001"),
    Decimal("-0.01"),
    Decimal("NaN"),
    Decimal("Infinity"),
)
ACCEPTED = (Decimal(0), Decimal("0.000001"), Decimal("250"), Decimal("1.0000000"), LARGEST)


def test_the_bound_is_what_numeric_14_6_holds():
    assert Decimal(10) ** 8 == MAX_BUDGET_USD and "100,000,000" in BUDGET_RULE
    for amount in ACCEPTED:
        assert budget_problem(amount) is None, amount
    for amount in REFUSED:
        assert budget_problem(amount) is not None, amount


@pytest.mark.parametrize("text", ["100000000", "100,000,000", "99999999.9999995", "1e8", "0.0000001", "-1", "Infinity"])
def test_the_console_refuses_what_the_column_cannot_hold(text):
    with pytest.raises(BadInput, match="Budget must be a non-negative amount below 100,000,000 USD"):
        optional_amount(text)


def test_the_console_accepts_the_largest_budget():
    assert optional_amount("99,999,999.999999") == LARGEST and optional_amount("") is None


def test_key_service_refuses_out_of_bound_budgets_for_keys_teams_and_orgs():
    store = MemoryStore()
    service = KeyService(store, clock=pinned())
    key = service.create(region_code="eu", org_id="acme", monthly_budget_usd=LARGEST).record
    for amount in REFUSED:
        with pytest.raises(InvalidRequest, match="a key budget must be a non-negative amount below 100,000,000 USD"):
            service.create(region_code="eu", org_id="acme", monthly_budget_usd=amount)
        with pytest.raises(InvalidRequest, match="a key budget must be"):
            service.update(
                key.key_id,
                region_code="eu",
                monthly_budget_usd=amount,
                model_allowlist=None,
                expires_at=None,
            )
        with pytest.raises(InvalidRequest, match="a team budget must be"):
            service.set_team_budget("acme", "ml", amount)
        with pytest.raises(InvalidRequest, match="an org budget must be"):
            service.set_org_budget("acme", amount)
    service.set_team_budget("acme", "ml", LARGEST)
    service.set_org_budget("acme", LARGEST)
    assert (store.team_budget("acme", "ml"), store.org_budget("acme")) == (LARGEST, LARGEST)
    assert store.keys[key.key_id].monthly_budget_usd == LARGEST
    with pytest.raises(InvalidRequest, match="org must be"):
        service.set_org_budget("ACME corp", Decimal(1))


@pytest.mark.parametrize(
    "argv",
    [
        ("keys", "create", "--region", "eu", "--org", "acme", "--budget-usd", "100000000"),
        ("keys", "org-budget", "--org", "acme", "--budget-usd", "100000000"),
        ("keys", "org-budget", "--org", "acme", "--budget-usd", "0.0000001"),
        ("keys", "team-budget", "--org", "acme", "--team", "ml", "--budget-usd", "1e12"),
    ],
)
def test_the_cli_budget_flags_have_the_same_bound(argv, capsys, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # refused before any store is opened
    with pytest.raises(SystemExit, match=r"^2$"):
        main(list(argv))
    assert f"a budget must be {BUDGET_RULE}" in capsys.readouterr().err
