"""The console in a real browser: Debian's Chromium, headless, driven by Playwright, against the console
served by uvicorn and the gateway served by its local HTTP server (loopback fake providers, audit events
written by the gateway's writer code into a database of this module's own).

Sign in with the keyboard, see the dashboard with the gateway's data, create a key, use it, revoke it and
watch the gateway refuse it (401); an org user is denied the other org's pages. Screenshots of the
dashboard and keys pages at laptop and phone widths go to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from regiongate.store.keys import KeyService
from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.console_world import PASSWORD, ROOT, TEST_LOG_N, fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("console-browser")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README shows the committed screenshots; a test run refreshes them only when asked, so `make test`
# leaves the work tree clean: UPDATE_SCREENSHOTS=1 make test PYTEST_ARGS=tests/console/test_browser.py
SCREENSHOTS = ROOT / ("docs/screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else "build/screenshots")
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing: scripts/test-packages.sh installs Debian's chromium", allow_module_level=True)


def _wait(predicate, what: str, limit: float = 20.0):
    """Poll a condition (servers starting, the audit writer catching up); fail with ``what`` past ``limit``."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


class ThreadServer:
    """An HTTP server on 127.0.0.1 in a daemon thread (uvicorn for the console)."""

    def __init__(self, app) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        _wait(lambda: self.server.started, "the console to start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def browser_store():
    with fresh_database("browser", kind="console") as url:
        store = PostgresStore(ConnectionPool(ConnectionParams.from_url(url).connect, size=8))
        yield store
        store.pool.close()


@pytest.fixture(scope="module")
def fakes():
    from tests.fixtures.fakes import FakeBedrock, FakeOpenAI

    bedrock, azure = (
        FakeBedrock(reply="The capital of France is Paris", usage=(420, 180)),
        FakeOpenAI(reply="Bonjour", usage=(900, 350)),
    )
    yield bedrock, azure
    bedrock.close()
    azure.close()


@pytest.fixture(scope="module")
def gateway(browser_store, eu_runtime, fakes):
    """The gateway's local HTTP server (what `regiongate serve` runs), audit events written in process.
    The key cache is off, so a revocation in the console applies to the very next request."""
    from regiongate.audit.runtime.events import BackgroundAuditSink
    from regiongate.audit.runtime.writer import write_bodies
    from regiongate.gateway.runtime.local import GatewayHTTPServer
    from tests.fixtures.gateway import make_gateway

    sink = BackgroundAuditSink(lambda bodies: write_bodies(browser_store, bodies), interval=0.05)
    bedrock, azure = fakes
    service, _ = make_gateway(eu_runtime, browser_store, bedrock=bedrock, azure=azure, sink=sink, key_cache_ttl=0)
    server = GatewayHTTPServer(("127.0.0.1", 0), service)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    sink.close()


def call_gateway(base: str, key: str, model: str, text: str) -> int:
    """One chat completion over HTTP, as any client would send it; returns the status."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(
        f"{base}/v1/chat/completions",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def audit_count(store) -> int:
    with store.pool.connection() as conn:
        return conn.run("SELECT count(*) FROM audit_events")[0][0]


@pytest.fixture(scope="module")
def traffic(browser_store, eu_runtime, fakes, gateway):
    """A week of usage for two orgs. Earlier days go through the gateway's service with its clock set back
    (the only way to have history without waiting); today's requests go over HTTP to the served gateway.
    Everything runs on the pinned clock of tests/fixtures/clock.py."""
    from regiongate.audit.runtime.events import ListAuditSink
    from regiongate.console.runtime.auth import Accounts
    from tests.fixtures.gateway import make_gateway, post

    store = browser_store
    service = KeyService(store, clock=pinned())
    keys = {}
    for name, org, team, budget in (
        ("acme-ml", "acme", "ml", "40"),
        ("acme-web", "acme", "web", None),
        ("acme-batch", "acme", "batch", "5"),
        ("globex-main", "globex", "main", None),
    ):
        keys[name] = service.create(
            region_code="eu", org_id=org, team_id=team, monthly_budget_usd=Decimal(budget) if budget else None
        )
    store.set_org_budget("acme", Decimal("60"))
    accounts = Accounts(store.pool, "eu", clock=pinned())
    users = {
        "admin": accounts.create_user(
            email="admin@acme.example", password=PASSWORD, role="org_admin", org_id="acme", log_n=TEST_LOG_N
        ),
        "viewer": accounts.create_user(
            email="viewer@acme.example", password=PASSWORD, role="org_viewer", org_id="acme", log_n=TEST_LOG_N
        ),
        "platform": accounts.create_user(
            email="ops@regiongate.example", password=PASSWORD, role="platform_admin", org_id=None, log_n=TEST_LOG_N
        ),
    }
    bedrock, azure = fakes
    plan = [  # (key, model, requests per day)
        ("acme-ml", "claude-sonnet-4-5", 3),
        ("acme-ml", "gpt-4o", 2),
        ("acme-web", "nova-pro", 4),
        ("acme-batch", "gpt-4o", 1),
        ("globex-main", "gpt-4o", 2),
    ]
    now = NOW  # the console and the served gateway below use the same pinned clock
    sink = ListAuditSink()
    for days_back in range(6, 0, -1):
        moment = now - timedelta(days=days_back)
        past, _ = make_gateway(eu_runtime, store, bedrock=bedrock, azure=azure, sink=sink, clock=lambda m=moment: m)
        for key_name, model, per_day in plan:
            for i in range((per_day + days_back) % 4 + 1):
                post(
                    past,
                    "/v1/chat/completions",
                    {"model": model, "messages": [{"role": "user", "content": f"day {days_back} #{i}"}]},
                    keys[key_name].key,
                )
        if days_back in (2, 4):
            post(
                past,
                "/v1/chat/completions",
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "IBAN DE89370400440532013000"}]},
                keys["acme-web"].key,
            )
    assert store.write_audit_events(sink.events) == len(sink.events)
    before = audit_count(store)
    statuses = [call_gateway(gateway, keys[k].key, m, "What is the capital of France?") for k, m, _ in plan]
    statuses.append(call_gateway(gateway, keys["acme-web"].key, "gpt-4o", "card 4111 1111 1111 1111"))
    statuses.append(call_gateway(gateway, keys["acme-ml"].key, "no-such-model", "hi"))
    assert statuses == [200] * len(plan) + [400, 404]
    _wait(lambda: audit_count(store) >= before + len(statuses), "the gateway's audit events to reach the database")
    return {"keys": keys, "users": users}


@pytest.fixture(scope="module")
def console_url(browser_store, region, traffic):
    from regiongate.console.runtime.app import Console, create_app

    server = ThreadServer(create_app(Console(region=region, store=browser_store, secure_cookies=True, clock=pinned())))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser(chromium, tmp_path):
    """A fresh Chromium with its own user-data-dir per test (no cookies shared between tests)."""
    context = chromium.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=LAPTOP,
    )
    yield context
    context.close()


def sign_in_with_keyboard(page, base: str, email: str) -> None:
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login?next=")
    assert page.evaluate("document.activeElement.id") == "email"  # autofocus
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")


def shoot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_dashboard_shows_the_gateways_data(browser, console_url, traffic, browser_store):
    page = browser.new_page()
    sign_in_with_keyboard(page, console_url, "admin@acme.example")
    page.goto(f"{console_url}/?days=7&group=team")
    page.keyboard.press("Tab")  # keyboard users land on the skip link first, then the navigation
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/"
    with browser_store.pool.connection() as conn:
        requests, cost = conn.run("SELECT count(*), sum(cost_usd) FROM audit_events WHERE org_id = 'acme'")[0]
    assert page.locator('[data-kpi="requests"]').inner_text() == f"{requests:,}"
    assert page.locator('[data-kpi="spend"]').inner_text() == f"${Decimal(cost):,.2f}"
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.chart rect").count() > 10  # bars, one per day and team
    assert "claude-sonnet-4-5" in page.locator("text=Top models >> xpath=..").inner_text()
    assert page.get_by_text("org acme").is_visible()  # budget use
    assert "globex" not in page.content()
    shoot(page, "console-dashboard")
    page.set_viewport_size(PHONE)
    no_sideways_scroll = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_sideways_scroll
    shoot(page, "console-dashboard-phone")
    page.set_viewport_size(LAPTOP)
    page.goto(f"{console_url}/requests")
    assert page.locator("tbody tr").count() >= 7
    page.fill("#q", "no-such-model-anywhere")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/requests\?q=no-such-model-anywhere.*"))
    assert page.get_by_text("No requests match").is_visible()
    page.goto(f"{console_url}/violations")
    assert page.get_by_role("cell", name="payment-card").first.is_visible()
    content = page.content()  # the numbers themselves: their first 4 digits alone can occur in random request ids
    assert "4111 1111" not in content and "41111111" not in content and "DE89370400" not in content


def test_create_use_and_revoke_a_key(browser, console_url, gateway, traffic):
    page = browser.new_page()
    sign_in_with_keyboard(page, console_url, "admin@acme.example")
    page.goto(f"{console_url}/keys")
    page.fill("#team", "browser")
    page.fill("#budget", "12.50")
    page.get_by_label("claude-sonnet-4-5").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key").input_value()
    assert re.fullmatch(r"rk-eu-[A-Za-z0-9_-]{32}", secret)
    assert call_gateway(gateway, secret, "claude-sonnet-4-5", "hello") == 200
    assert call_gateway(gateway, secret, "gpt-4o", "hello") == 403  # not on the key's allowlist
    page.get_by_role("link", name="Done, I have copied it").click()
    assert secret not in page.content()
    page.goto(f"{console_url}/keys")
    assert secret not in page.content()
    page.set_viewport_size(LAPTOP)
    shoot(page, "console-keys")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # wide tables scroll in their box
    shoot(page, "console-keys-phone")
    page.set_viewport_size(LAPTOP)
    prefix = secret[: len("rk-eu-") + 6]
    page.get_by_role("link", name=f"{prefix}…").click()
    page.get_by_role("button", name=re.compile("Revoke key")).click()
    # The click submits a form; is_visible() does not wait for the page it loads (it failed once when that was slow).
    page.get_by_text("The key was revoked").wait_for(state="visible")
    assert page.get_by_text("The key was revoked").is_visible()
    assert page.locator("h1 .tag").inner_text() == "revoked"
    assert call_gateway(gateway, secret, "claude-sonnet-4-5", "hello") == 401


def test_org_user_is_denied_another_orgs_pages(browser, console_url, traffic):
    globex_key = traffic["keys"]["globex-main"].record
    page = browser.new_page()
    sign_in_with_keyboard(page, console_url, "viewer@acme.example")
    for path in (
        f"/keys/{globex_key.key_id}",
        "/?org=globex",
        "/requests?org=globex",
        "/violations?org=globex",
        "/keys?org=globex",
        "/usage.csv?org=globex",
    ):
        response = page.goto(f"{console_url}{path}")
        assert response.status == 404, path
        assert page.get_by_role("heading", name="Not found").is_visible()
    response = page.goto(f"{console_url}/users")
    assert response.status == 403
    page.goto(f"{console_url}/keys")
    assert globex_key.display_prefix not in page.content()
    assert page.get_by_role("button", name="Create key").count() == 0  # viewers cannot create keys


def test_signed_out_browser_is_sent_to_sign_in_and_sign_out_works(browser, console_url, traffic):
    page = browser.new_page()
    page.goto(f"{console_url}/keys")
    assert page.url.startswith(f"{console_url}/login?next=%2Fkeys")
    page.fill("#email", "ops@regiongate.example")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{console_url}/keys")
    assert "globex" in page.content() and "acme" in page.content()  # a platform admin sees every org
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{console_url}/login")
    page.goto(f"{console_url}/")
    assert "/login" in page.url
