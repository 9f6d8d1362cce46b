"""Team budgets on the console dashboard: the month's spend of each team budget in the viewer's scope."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from regiongate.console.runtime.queries import ConsoleQueries
from tests.fixtures.clock import NOW

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def no_team_budgets_left(store):
    """The console's database lives for the session: leave no team budget for other tests to meet."""
    yield
    for org, team, _ in store.team_budgets():
        store.set_team_budget(org, team, None)


def test_the_dashboard_shows_the_team_budgets_of_the_viewers_org_only(login, world, store):
    store.set_team_budget("acme", "ml", Decimal("40"))
    store.set_team_budget("globex", "main", Decimal("7"))
    acme = login("acme_viewer").get("/?days=1").text
    assert "team ml (acme)" in acme and "team main (globex)" not in acme
    platform = login("platform").get("/?days=1").text
    assert "team ml (acme)" in platform and "team main (globex)" in platform
    assert re.search(r"team ml \(acme\)</span><span class=\"num\">\$[0-9.,]+ of \$40", acme)


def test_team_budget_spend_is_the_teams_rollup_of_the_month(world, store):
    store.set_team_budget("acme", "ml", Decimal("40"))
    queries = ConsoleQueries(store.pool, "eu")
    team = next(b for b in queries.budgets("acme", NOW.date()) if b.scope == "team")
    assert (team.scope_id, team.budget) == ("acme/ml", Decimal("40"))
    assert team.spent == store.month_spend("team", "acme/ml", NOW.date())
    assert team.spent > 0  # the world's traffic of acme's ml key


@pytest.mark.parametrize("who", ["acme_admin", "acme_viewer", "platform", "globex_admin"])
def test_managers_set_and_clear_their_orgs_team_budgets_on_the_dashboard(login, store, who):
    client = login(who)
    page = client.get("/").text
    manager = who != "acme_viewer"
    assert ('action="/budgets/team"' in page) == manager
    data = {"csrf": client.csrf, "team": "ops", "budget": "12.5"}
    if who == "platform":
        data["org"] = "acme"
    response = client.post("/budgets/team", data=data)
    if not manager:
        assert response.status_code == 403 and store.team_budget("acme", "ops") is None
        return
    org = "globex" if who == "globex_admin" else "acme"  # an org admin sets their own org's team
    assert response.status_code == 303
    assert store.team_budget(org, "ops") == Decimal("12.5")
    assert "team ops (" + org + ")" in client.get("/?org=" + org if who == "platform" else "/").text
    assert client.post("/budgets/team", data={**data, "budget": ""}).status_code == 303  # empty: cleared
    assert store.team_budget(org, "ops") is None


def test_the_team_budget_form_refuses_bad_input_and_other_orgs(login, store):
    client = login("acme_admin")
    for data, status, text in (
        ({"team": "Ops Team", "budget": "1"}, 400, "Team must be"),
        ({"team": "", "budget": "1"}, 400, "Name the team"),
        ({"team": "ops", "budget": "lots"}, 400, "amount of USD"),
        ({"team": "ops", "budget": "100000000"}, 400, "100,000,000"),
        ({"team": "ops", "budget": "1", "org": "globex"}, 404, "No such organisation"),
    ):
        response = client.post("/budgets/team", data={"csrf": client.csrf, **data})
        assert response.status_code == status and text in response.text, (data, response.status_code)
    assert [t for _, t, _ in store.team_budgets()] == []
    assert login("platform").post("/budgets/team", data={"csrf": "x", "team": "ops", "org": "acme"}).status_code == 403
