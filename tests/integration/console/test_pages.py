"""Every route, every role, against real PostgreSQL: what each role sees and may do, and that another org's
data never shows and another org's ids in URLs and forms get a clear 4xx with nothing changed."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from regiongate.console.runtime.auth import Accounts
from regiongate.store.keys import KeyService
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.console_world import new_client, sign_in, snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.clock]

GET_PAGES = ["/", "/requests", "/violations", "/keys", "/usage.csv"]
ORG_OF = {"acme_admin": "acme", "acme_viewer": "acme", "globex_admin": "globex", "globex_viewer": "globex"}
OTHER = {"acme": "globex", "globex": "acme"}


def markers(world, org: str) -> list[str]:
    """Strings that identify one org's data: its keys' ids and prefixes and its request ids."""
    out = []
    for _key, record in world.keys.values():
        if record.org_id == org:
            out += [record.key_id, record.display_prefix]
    return out + world.request_ids[org]


# --- signed out -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GET_PAGES + ["/users", "/keys/key_0123456789abcdef", "/?org=acme"])
def test_signed_out_visitors_are_sent_to_login(app, world, path):
    with new_client(app) as client:
        response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "path", ["/keys", "/keys/KEY/settings", "/keys/KEY/revoke", "/users", "/users/USER/disable", "/logout"]
)
def test_signed_out_posts_are_refused_and_change_nothing(app, store, world, path):
    path = path.replace("KEY", world.keys["acme_ml"][1].key_id).replace("USER", world.users["acme_viewer"].user_id)
    before = snapshot(store)
    with new_client(app) as client:
        response = client.post(
            path, data={"csrf": "x", "org": "acme", "email": "a@b.example", "role": "org_admin", "password": "p" * 20}
        )
    assert response.status_code == 403
    assert "Sign in again" in response.text
    assert snapshot(store) == before


def test_health_check_needs_no_session(app):
    with new_client(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_unknown_pages_and_methods_are_clear_4xx(login):
    client = login("acme_admin")
    assert client.get("/nope").status_code == 404
    assert client.delete("/keys").status_code == 405
    assert client.put("/").status_code == 405


def test_static_css_and_pages_load_nothing_from_other_hosts(app, login):
    client = login("platform")
    css = client.get("/static/console.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    for path in GET_PAGES[:-1] + ["/users", "/login"]:
        html = client.get(path).text
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), path
        assert "<script" not in html
    assert "url(" not in css.text and "@import" not in css.text


def test_every_page_sends_security_headers(login):
    client = login("acme_viewer")
    response = client.get("/")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


# --- what each role sees ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", sorted(ORG_OF))
@pytest.mark.parametrize("path", ["/", "/requests?days=90", "/violations?days=90", "/keys", "/usage.csv"])
def test_org_users_see_their_org_and_nothing_of_the_other(login, world, who, path):
    org = ORG_OF[who]
    client = login(who)
    response = client.get(path)
    assert response.status_code == 200
    for marker in markers(world, OTHER[org]):
        assert marker not in response.text, f"{who} sees {marker} of {OTHER[org]} on {path}"
    if path.startswith(("/requests", "/keys", "/usage.csv")):
        own_keys = [r.key_id for _, r in world.keys.values() if r.org_id == org]
        assert any(k in response.text for k in own_keys)


def test_platform_admin_sees_every_org_and_can_filter(login, world):
    client = login("platform")
    everything = client.get("/requests?days=90").text
    for org in ("acme", "globex"):
        for rid in world.request_ids[org]:
            assert rid in everything
    only_globex = client.get("/requests?days=90&org=globex").text
    assert all(rid in only_globex for rid in world.request_ids["globex"])
    assert not any(rid in only_globex for rid in world.request_ids["acme"])
    assert 'value="acme"' in client.get("/").text  # the org selector


@pytest.mark.parametrize("who", sorted(ORG_OF))
@pytest.mark.parametrize("path", ["/", "/requests", "/violations", "/keys", "/usage.csv", "/users"])
def test_another_orgs_id_in_the_url_is_404(login, who, path):
    client = login(who)
    if path == "/users" and who.endswith("viewer"):
        assert client.get(path + f"?org={OTHER[ORG_OF[who]]}").status_code == 403
        return
    response = client.get(path + f"?org={OTHER[ORG_OF[who]]}")
    assert response.status_code == 404
    assert "No such organisation" in response.text
    assert client.get(path + f"?org={ORG_OF[who]}").status_code == 200  # their own, named, is fine


@pytest.mark.parametrize("who", sorted(ORG_OF))
def test_another_orgs_key_page_is_404(login, world, who):
    client = login(who)
    other_key = next(r for _, r in world.keys.values() if r.org_id == OTHER[ORG_OF[who]])
    own_key = next(r for _, r in world.keys.values() if r.org_id == ORG_OF[who])
    assert client.get(f"/keys/{other_key.key_id}").status_code == 404
    assert client.get(f"/keys/{own_key.key_id}").status_code == 200


def test_dashboard_numbers_are_the_orgs_own(login, world, store):
    client = login("acme_viewer")
    html = client.get("/?days=1").text
    with store.pool.connection() as conn:
        count, cost = conn.run("SELECT count(*), sum(cost_usd) FROM audit_events WHERE org_id = 'acme'")[0]
    assert count == 7
    assert re.search(r'data-kpi="requests">7<', html)
    assert f"${Decimal(cost):,.2f}" in html or f"${Decimal(cost):.6f}".rstrip("0") in html
    # 2 of 7 failed (blocked card, unknown model); 2 of 7 hit a guardrail (iban flagged, card blocked)
    assert re.search(r'data-kpi="errors">28\.6%<', html)
    assert re.search(r'data-kpi="violations">28\.6%<', html)
    assert "claude-sonnet-4-5" in html and "<svg" in html
    assert "org acme" in html  # the org budget meter


@pytest.mark.parametrize("group", ["org", "team", "key", "model"])
def test_dashboard_breakdowns(login, world, group):
    client = login("platform")
    html = client.get(f"/?group={group}&days=7").text
    expected = {"org": "globex", "team": "ml", "key": world.keys["acme_ml"][1].key_id, "model": "gpt-4o"}[group]
    assert "<title>" in html and expected in html


def test_requests_search_and_filters(login, world):
    client = login("acme_admin")
    rid = world.request_ids["acme"][0]
    found = client.get(f"/requests?q={rid}").text
    assert rid in found and world.request_ids["acme"][1] not in found
    errors = client.get("/requests?status=error").text
    assert "model_not_found" in errors and "guardrail_violation" in errors
    assert world.request_ids["acme"][0] not in errors
    prefix = world.keys["acme_web"][1].display_prefix
    by_prefix = client.get(f"/requests?q={prefix}").text
    assert world.request_ids["acme"][3] in by_prefix and world.request_ids["acme"][0] not in by_prefix
    # another org's request id finds nothing
    assert "No requests match" in client.get(f"/requests?q={world.request_ids['globex'][0]}").text
    assert "No requests match" in client.get("/requests?q=zzz-nothing").text


def test_requests_paging(login, world):
    client = login("platform")
    page = client.get("/requests?page=2").text
    assert "No requests match" in page  # 9 requests: one page of 50
    assert 'rel="prev"' in page


def test_violations_show_type_and_message_never_content(login, world):
    client = login("acme_admin")
    html = client.get("/violations").text
    assert "payment-card" in html and "iban" in html
    # The card number itself, spaced or not (its first 4 digits alone also occur in random request ids).
    for content in ("4111 1111", "41111111", "1111 1111 1111", "DE89370400440532013000", "Pay to", "My card"):
        assert content not in html
    blocked_only = client.get("/violations?detector=payment-card").text
    assert "<td>payment-card</td>" in blocked_only and "<td>iban</td>" not in blocked_only


def test_csv_export(login, world):
    client = login("acme_viewer")
    response = client.get("/usage.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="regiongate-eu-usage-acme-' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["org_id"] for r in rows} == {"acme"}
    assert sum(int(r["requests"]) for r in rows) == 7
    assert sum(int(r["errors"]) for r in rows) == 2
    ml = [r for r in rows if r["team_id"] == "ml" and r["model"] == "claude-sonnet-4-5"]
    assert len(ml) == 1 and ml[0]["requests"] == "2" and ml[0]["key_prefix"].startswith("rk-eu-")
    admin_rows = list(csv.DictReader(io.StringIO(login("platform").get("/usage.csv").text)))
    assert {r["org_id"] for r in admin_rows} == {"acme", "globex"}


def test_csv_export_defaults_to_the_30_days_up_to_the_consoles_today(login, world):
    response = login("acme_viewer").get("/usage.csv")
    first, last = NOW.date() - timedelta(days=29), NOW.date()
    assert response.headers["content-disposition"].endswith(f'-acme-{first.isoformat()}-{last.isoformat()}.csv"')
    assert sum(int(r["requests"]) for r in csv.DictReader(io.StringIO(response.text))) == 7  # today's traffic is in


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-13-01",
        "from=yesterday",
        "to=2026-01-01&from=2026-02-01",
        "from=2020-01-01&to=2026-01-01",
        "org=ACME",
        "org=" + "a" * 80,
        "to=9999-12-31",
        "from=9999-12-31&to=9999-12-31",
        "from=0001-01-01&to=0001-01-02",
    ],
)
def test_csv_export_bad_input(login, query):
    assert login("acme_admin").get(f"/usage.csv?{query}").status_code in (400, 404)


# --- keys -----------------------------------------------------------------------------------------------------


def test_org_admin_creates_a_key_shown_once_that_the_gateway_accepts_then_revokes_it(login, store, eu_runtime):
    from tests.fixtures.fakes import FakeBedrock
    from tests.fixtures.gateway import make_gateway, post

    client = login("acme_admin")
    response = client.post(
        "/keys",
        data={
            "csrf": client.csrf,
            "team": "ops",
            "budget": "25.5",
            "models": ["claude-sonnet-4-5"],
            "expires": (NOW + timedelta(days=30)).date().isoformat(),
        },
    )
    assert response.status_code == 201
    key = re.search(r'value="(rk-eu-[A-Za-z0-9_-]+)"', response.text).group(1)
    record = next(r for r in KeyService(store, clock=pinned()).list(org_id="acme") if r.team_id == "ops")
    assert record.monthly_budget_usd == Decimal("25.5") and record.model_allowlist == ("claude-sonnet-4-5",)
    assert record.expires_at is not None
    # shown once: nowhere afterwards
    assert key not in client.get("/keys").text and key not in client.get(f"/keys/{record.key_id}").text
    bedrock = FakeBedrock()
    try:
        gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, key_cache_ttl=0)
        body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
        assert post(gateway, "/v1/chat/completions", body, key).status == 200
        assert post(gateway, "/v1/chat/completions", {**body, "model": "gpt-4o"}, key).status == 403  # allowlist
        revoked = client.post(f"/keys/{record.key_id}/revoke", data={"csrf": client.csrf})
        assert revoked.status_code == 303
        assert "revoked" in client.get(revoked.headers["location"]).text
        refused = post(gateway, "/v1/chat/completions", body, key)
        assert refused.status == 401 and b"revoked" in refused.body
    finally:
        bedrock.close()


def test_a_gateway_with_a_key_cache_refuses_the_revoked_key_once_the_cache_expires(login, store, eu_runtime):
    from tests.fixtures.fakes import FakeBedrock
    from tests.fixtures.gateway import make_gateway, post

    client = login("acme_admin")
    response = client.post("/keys", data={"csrf": client.csrf, "team": "cache"})
    key = re.search(r'value="(rk-eu-[A-Za-z0-9_-]+)"', response.text).group(1)
    key_id = re.search(r"<code>(key_[0-9a-f]{16})</code>", response.text).group(1)
    now = [1000.0]
    bedrock = FakeBedrock()
    try:
        gateway, _ = make_gateway(eu_runtime, store, bedrock=bedrock, key_cache_ttl=30, monotonic=lambda: now[0])
        body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
        assert post(gateway, "/v1/chat/completions", body, key).status == 200
        assert client.post(f"/keys/{key_id}/revoke", data={"csrf": client.csrf}).status_code == 303
        now[0] += 31  # past the key cache TTL
        assert post(gateway, "/v1/chat/completions", body, key).status == 401
    finally:
        bedrock.close()


def test_key_settings_change_budget_models_and_expiry(login, store):
    client = login("acme_admin")
    created = KeyService(store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="settings")
    response = client.post(
        f"/keys/{created.record.key_id}/settings",
        data={"csrf": client.csrf, "budget": "10", "models": ["gpt-4o", "nova-pro"], "expires": "2099-01-01"},
    )
    assert response.status_code == 400  # more than five years ahead
    response = client.post(
        f"/keys/{created.record.key_id}/settings",
        data={
            "csrf": client.csrf,
            "budget": "10",
            "models": ["gpt-4o", "nova-pro"],
            "expires": (NOW + timedelta(days=3)).date().isoformat(),
        },
    )
    assert response.status_code == 303
    record = next(r for r in KeyService(store, clock=pinned()).list(org_id="acme") if r.key_id == created.record.key_id)
    assert record.monthly_budget_usd == Decimal("10") and record.model_allowlist == ("gpt-4o", "nova-pro")
    cleared = client.post(
        f"/keys/{created.record.key_id}/settings", data={"csrf": client.csrf, "budget": "", "expires": ""}
    )
    assert cleared.status_code == 303
    record = next(r for r in KeyService(store, clock=pinned()).list(org_id="acme") if r.key_id == created.record.key_id)
    assert record.monthly_budget_usd is None and record.model_allowlist is None and record.expires_at is None


def test_platform_admin_creates_keys_for_any_org(login, store):
    client = login("platform")
    assert client.post("/keys", data={"csrf": client.csrf}).status_code == 400  # org is required
    response = client.post("/keys", data={"csrf": client.csrf, "org": "initech", "team": "a"})
    assert response.status_code == 201
    assert any(r.org_id == "initech" for r in KeyService(store, clock=pinned()).list(region_code="eu"))


@pytest.mark.parametrize("who", ["acme_viewer", "globex_viewer"])
def test_viewers_cannot_change_anything(login, store, world, who):
    client = login(who)
    own = next(r for _, r in world.keys.values() if r.org_id == ORG_OF[who])
    before = snapshot(store)
    for path, data in (
        ("/keys", {"team": "x"}),
        (f"/keys/{own.key_id}/revoke", {}),
        (f"/keys/{own.key_id}/settings", {"budget": "1"}),
        ("/users", {"email": "new@example.com", "role": "org_admin", "password": "p" * 14}),
        (f"/users/{world.users['acme_admin'].user_id}/disable", {}),
    ):
        response = client.post(path, data={"csrf": client.csrf, **data})
        assert response.status_code == 403, path
    assert client.get("/users").status_code == 403
    assert "Create a key" not in client.get("/keys").text
    assert snapshot(store) == before


@pytest.mark.parametrize("who", ["acme_admin", "globex_admin"])
def test_org_admins_cannot_touch_another_orgs_keys_or_accounts(login, store, world, who):
    client = login(who)
    other_org = OTHER[ORG_OF[who]]
    other_key = next(r for _, r in world.keys.values() if r.org_id == other_org)
    other_user = world.users[f"{other_org}_viewer"]
    before = snapshot(store)
    for path, data in (
        (f"/keys/{other_key.key_id}/revoke", {}),
        (f"/keys/{other_key.key_id}/settings", {"budget": "0"}),
        ("/keys", {"org": other_org, "team": "evil"}),
        ("/users", {"email": "evil@example.com", "role": "org_admin", "org": other_org, "password": "p" * 14}),
        (f"/users/{other_user.user_id}/disable", {}),
    ):
        response = client.post(path, data={"csrf": client.csrf, **data})
        assert response.status_code == 404, path
    assert snapshot(store) == before


# --- accounts -------------------------------------------------------------------------------------------------


def test_org_admin_adds_and_disables_an_account_of_their_org(app, login, store):
    client = login("acme_admin")
    data = {
        "csrf": client.csrf,
        "email": "New.Viewer@Example.com",
        "role": "org_viewer",
        "password": "a fine long password",
    }
    assert client.post("/users", data=data).status_code == 303
    assert client.post("/users", data=data).status_code == 400  # exists
    assert client.post("/users", data={**data, "email": "p@example.com", "role": "platform_admin"}).status_code == 400
    assert client.post("/users", data={**data, "email": "short@example.com", "password": "short"}).status_code == 400

    new = next(
        u for u in Accounts(store.pool, "eu", clock=pinned()).list_users("acme") if u.email == "new.viewer@example.com"
    )
    assert new.role == "org_viewer" and new.org_id == "acme"
    with new_client(app) as other:
        assert sign_in(other, "new.viewer@example.com", "a fine long password").status_code == 303
        assert other.get("/").status_code == 200
        assert client.post(f"/users/{new.user_id}/disable", data={"csrf": client.csrf}).status_code == 303
        assert other.get("/").status_code == 303  # signed out at once
        assert sign_in(other, "new.viewer@example.com", "a fine long password").status_code == 401
    me = next(
        u for u in Accounts(store.pool, "eu", clock=pinned()).list_users("acme") if u.email.startswith("acme.admin@")
    )
    assert client.post(f"/users/{me.user_id}/disable", data={"csrf": client.csrf}).status_code == 409


def test_users_page_lists_only_the_orgs_accounts(login, world):
    html = login("acme_admin").get("/users").text
    assert world.users["acme_viewer"].email in html
    assert world.users["globex_viewer"].email not in html and world.users["platform"].email not in html
    everyone = login("platform").get("/users").text
    assert world.users["globex_viewer"].email in everyone


# --- the route × role matrix ---------------------------------------------------------------------------------

ROLES = ["platform", "acme_admin", "acme_viewer"]


@pytest.mark.parametrize("who", ROLES)
def test_every_get_route_for_every_role(login, world, who):
    client = login(who)
    own_key = world.keys["acme_ml"][1].key_id
    expected = {
        "/": 200,
        "/?days=90&group=key": 200,
        "/requests": 200,
        "/requests?status=guardrail&days=30": 200,
        "/violations": 200,
        "/keys": 200,
        f"/keys/{own_key}": 200,
        "/usage.csv": 200,
        "/healthz": 200,
        "/static/console.css": 200,
        "/login": 303,
        "/users": 403 if who == "acme_viewer" else 200,
    }
    for path, status in expected.items():
        response = client.get(path)
        assert response.status_code == status, (who, path, response.status_code)
        if status == 200 and path not in ("/usage.csv", "/healthz", "/static/console.css"):
            assert "<!doctype html>" in response.text and "Sign out" in response.text
    assert client.get("/login").headers["location"] == "/"  # already signed in


@pytest.mark.parametrize("who", ROLES)
def test_every_post_route_for_every_role(login, store, world, who):
    client = login(who)
    manager = who != "acme_viewer"
    key = KeyService(store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="matrix").record
    from regiongate.console.runtime.auth import Accounts

    target = Accounts(store.pool, "eu", clock=pinned()).create_user(
        email=f"matrix.{who}@example.com", password="p" * 14, role="org_viewer", org_id="acme", log_n=10
    )
    steps = [
        ("/keys", {"org": "acme", "team": "matrix2"}, 201),
        (f"/keys/{key.key_id}/settings", {"budget": "3"}, 303),
        (f"/keys/{key.key_id}/revoke", {}, 303),
        (
            "/users",
            {"email": f"added.{who}@example.com", "role": "org_viewer", "org": "acme", "password": "p" * 14},
            303,
        ),
        (f"/users/{target.user_id}/disable", {}, 303),
    ]
    for path, data, status in steps:
        response = client.post(path, data={"csrf": client.csrf, **data})
        assert response.status_code == (status if manager else 403), (who, path, response.status_code)
    revoked = next(r for r in KeyService(store, clock=pinned()).list(org_id="acme") if r.key_id == key.key_id)
    assert (revoked.revoked_at is not None) == manager
    assert (revoked.monthly_budget_usd == Decimal("3")) == manager
    assert (Accounts(store.pool, "eu", clock=pinned()).get_user(target.user_id).disabled_at is not None) == manager
    assert client.post("/logout", data={"csrf": client.csrf}).status_code == 303
    assert client.get("/").status_code == 303


def test_sign_in_form_bounds(app):
    with new_client(app) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        big = client.post(
            "/login",
            content=f"csrf={token}&email={'a' * 20000}".encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert big.status_code == 413
        long_field = client.post("/login", data={"csrf": token, "email": "a" * 2000, "password": "x"})
        assert long_field.status_code == 413
        long_password = client.post("/login", data={"csrf": token, "email": "a@example.com", "password": "x" * 1000})
        assert long_password.status_code == 401


def test_a_refused_key_form_comes_back_with_the_message_and_what_was_typed(login, store):
    client = login("acme_admin")
    before = snapshot(store)
    response = client.post(
        "/keys", data={"csrf": client.csrf, "team": "keepme", "budget": "lots", "models": ["gpt-4o"]}
    )
    assert response.status_code == 400
    assert "Budget must be an amount of USD" in response.text
    assert 'value="keepme"' in response.text and 'value="lots"' in response.text
    assert re.search(r'value="gpt-4o" checked', response.text)
    assert snapshot(store) == before


def test_dashboard_export_form_downloads_the_chosen_days(login, world):
    client = login("acme_admin")
    html = client.get("/").text
    start = re.search(r'id="from" name="from" type="date" value="([0-9-]+)"', html).group(1)
    end = re.search(r'id="to" name="to" type="date" value="([0-9-]+)"', html).group(1)
    response = client.get(f"/usage.csv?from={start}&to={end}")
    assert response.status_code == 200 and f"-{start}-{end}.csv" in response.headers["content-disposition"]
    assert sum(int(r["requests"]) for r in csv.DictReader(io.StringIO(response.text))) == 7
    empty = client.get("/usage.csv?from=2020-01-01&to=2020-01-31")
    from regiongate.console.runtime.queries import ConsoleQueries

    assert empty.text.strip() == ",".join(ConsoleQueries.CSV_HEADER)
