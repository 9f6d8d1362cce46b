"""Single sign-on in a real browser against a real OpenID Connect provider on loopback.

The provider is panva's oidc-provider (tests/e2e/oidc: package.json + package-lock.json, installed by
`make test`), run by node with its development sign-in page; the console is served by uvicorn; Debian's
Chromium, driven by Playwright, goes through the whole authorization code flow (PKCE S256, state, nonce).
Cases: a mapped user lands on the org's dashboard with the mapped role; a forged state, a token issued for
another client (the provider made to misbehave) and an expired token (the console's token clock moved past
the token's expiry, never a sleep) are refused, and so is a user whose groups map to no role.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from regiongate.console.runtime.auth import token_hash
from regiongate.console.runtime.oidc import OidcClient
from regiongate.contract.console_oidc import CALLBACK_PATH, ClaimMapping, OidcSettings, RoleMapping
from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore
from tests.e2e.console.test_browser import CHROMIUM, CHROMIUM_ARGS, LAPTOP, _wait
from tests.fixtures.clock import pinned
from tests.fixtures.console_world import ROOT, fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("console-browser")]

OIDC_DIR = ROOT / "tests/e2e/oidc"
NODE = ROOT / ".venv/bin/node"
CLIENT_ID, CLIENT_SECRET = "regiongate-console-eu", "console-client-secret-for-tests"
OTHER_CLIENT = "another-application"
ACCOUNTS = {
    "alice": {"email": "alice@acme.example", "email_verified": True, "groups": ["staff", "rg-acme-admins"]},
    "victor": {"email": "victor@acme.example", "email_verified": True, "groups": ["rg-acme-viewers"]},
    "mallory": {"email": "mallory@acme.example", "email_verified": True, "groups": ["staff", "marketing"]},
}
MAPPING = ClaimMapping(
    groups_claim="groups",
    roles=(
        RoleMapping(group="rg-acme-admins", role="org_admin", org_id="acme"),
        RoleMapping(group="rg-acme-viewers", role="org_viewer", org_id="acme"),
    ),
)

if not (OIDC_DIR / "node_modules/oidc-provider").is_dir() or not NODE.exists():
    if os.environ.get("REGIONGATE_OIDC_PROVIDER"):
        pytest.fail("oidc-provider is not installed in tests/e2e/oidc (make test installs it)")
    pytest.skip("oidc-provider is not installed in tests/e2e/oidc: make test installs it", allow_module_level=True)
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing: scripts/test-packages.sh installs Debian's chromium", allow_module_level=True)


class TokenClock:
    """The console's clock for ID token checks: the real time (the provider dates its tokens with it) plus an
    offset a test sets to be past a token's expiry."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Provider:
    def __init__(self, tmp: Path, redirect_uri: str) -> None:
        config = tmp / "provider.json"
        config.write_text(
            json.dumps(
                {
                    "clients": [
                        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect_uri]},
                        {
                            "client_id": OTHER_CLIENT,
                            "client_secret": "other-secret-other",
                            "redirect_uris": [redirect_uri],
                        },
                    ],
                    "accounts": ACCOUNTS,
                }
            )
        )
        self.process = subprocess.Popen(
            [str(NODE), str(OIDC_DIR / "provider.mjs"), str(config)],
            cwd=OIDC_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = ""
        while not line.startswith("{"):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                pytest.fail("the OIDC provider did not start")
        self.issuer = json.loads(line)["issuer"]

    def wrong_audience(self, client_id: str | None) -> None:
        request = urllib.request.Request(
            f"{self.issuer}/__test/mode",
            data=json.dumps({"wrong_audience": client_id}).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 204

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def sso(region, tmp_path_factory):
    import uvicorn

    from regiongate.console.runtime.app import Console, create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    provider = Provider(tmp_path_factory.mktemp("oidc"), url + CALLBACK_PATH)
    clock = TokenClock()
    settings = OidcSettings(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        redirect_uri=url + CALLBACK_PATH,
        mapping=MAPPING,
        client_secret=CLIENT_SECRET,
    )
    with fresh_database("sso", kind="console") as database:
        store = PostgresStore(ConnectionPool(ConnectionParams.from_url(database).connect, size=4))
        oidc = OidcClient(settings, client_secret=lambda: CLIENT_SECRET, clock=clock)
        console = Console(region=region, store=store, secure_cookies=True, clock=pinned(), oidc=oidc)
        server = uvicorn.Server(uvicorn.Config(create_app(console), log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        _wait(lambda: server.started, "the console to start")
        try:
            yield {"url": url, "provider": provider, "clock": clock, "store": store}
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
            store.pool.close()
            provider.stop()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser(chromium, tmp_path):
    context = chromium.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=LAPTOP
    )
    # Loopback only: the provider's development pages link a web font, which is never fetched.
    context.route(lambda url: not url.startswith("http://127.0.0.1:"), lambda route: route.abort())
    yield context
    context.close()


def sign_in_at_provider(page, console_url: str, login: str) -> None:
    """From the console's sign-in page through the provider's own sign-in and consent pages."""
    page.goto(f"{console_url}/")
    assert page.url.startswith(f"{console_url}/login?next=")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password: the provider's development sign-in")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent page


def test_mapped_user_lands_on_the_orgs_dashboard_with_the_mapped_role(browser, sso):
    page = browser.new_page()
    sign_in_at_provider(page, sso["url"], "alice")
    page.wait_for_url(f"{sso['url']}/")
    assert page.get_by_role("heading", name="Signed in").count() == 0  # moved on to the dashboard
    assert "alice@acme.example · Org admin · acme" in page.locator(".who").inner_text()
    assert page.get_by_role("link", name="Accounts").is_visible()  # org admins manage accounts
    with sso["store"].pool.connection() as conn:
        rows = conn.run(
            "SELECT role, org_id, oidc_subject, password_hash FROM console_users WHERE email = 'alice@acme.example'"
        )
    assert rows == [["org_admin", "acme", "alice", None]]
    page.goto(f"{sso['url']}/?org=globex")  # the mapped org only
    assert page.get_by_role("heading", name="Not found").is_visible()


def test_viewer_group_maps_to_org_viewer(browser, sso):
    page = browser.new_page()
    sign_in_at_provider(page, sso["url"], "victor")
    page.wait_for_url(f"{sso['url']}/")
    assert "victor@acme.example · Org viewer · acme" in page.locator(".who").inner_text()
    assert page.get_by_role("link", name="Accounts").count() == 0


def test_forged_state_is_refused(browser, sso):
    """The state the provider sends back is not the one the console issued to this browser: refused, although
    the code is real and the provider's redirect genuine."""
    page = browser.new_page()
    forged: list[str] = []
    real: list[str] = []

    def forge(route):
        response = route.fetch(max_redirects=0)
        location = urlsplit(response.headers["location"])
        params = dict(parse_qsl(location.query))
        real.append(params["state"])
        params["state"] = "forged" + params["state"][6:]
        forged.append(params["state"])
        headers = {**response.headers, "location": location._replace(query=urlencode(params)).geturl()}
        route.fulfill(response=response, headers=headers)

    page.route(lambda url: urlsplit(url).path == "/login/sso", forge)
    sign_in_at_provider(page, sso["url"], "alice")
    page.wait_for_url(f"{sso['url']}{CALLBACK_PATH}*")
    assert forged and f"state={forged[0]}" in page.url  # the provider did send the forged state back
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    assert page.get_by_text("state is unknown or was already used").is_visible()
    page.goto(f"{sso['url']}/")
    assert "/login" in page.url  # no session
    with sso["store"].pool.connection() as conn:  # the attempt of the real state is still open, unused
        rows = conn.run("SELECT 1 FROM console_oidc_logins WHERE state_hash = :h", h=token_hash(real[0]))
    assert rows == [[1]]


def test_token_for_another_client_is_refused(browser, sso):
    sso["provider"].wrong_audience(OTHER_CLIENT)
    try:
        page = browser.new_page()
        sign_in_at_provider(page, sso["url"], "alice")
        page.wait_for_url(f"{sso['url']}{CALLBACK_PATH}*")
        assert page.get_by_text("issued for another application (wrong audience)").is_visible()
        assert page.get_by_role("heading", name="Not allowed").is_visible()
    finally:
        sso["provider"].wrong_audience(None)
    page.goto(f"{sso['url']}/")
    assert "/login" in page.url


def test_expired_token_is_refused(browser, sso):
    sso["clock"].offset = timedelta(hours=3)  # past the provider's ID token lifetime (1 hour) and our leeway
    try:
        page = browser.new_page()
        sign_in_at_provider(page, sso["url"], "alice")
        page.wait_for_url(f"{sso['url']}{CALLBACK_PATH}*")
        assert page.get_by_text("token has expired").is_visible()
    finally:
        sso["clock"].offset = timedelta(0)
    page.goto(f"{sso['url']}/")
    assert "/login" in page.url


def test_unmapped_user_is_refused_with_a_clear_page(browser, sso):
    page = browser.new_page()
    sign_in_at_provider(page, sso["url"], "mallory")
    page.wait_for_url(f"{sso['url']}{CALLBACK_PATH}*")
    assert page.get_by_text("not mapped to any organisation and role of this console").is_visible()
    with sso["store"].pool.connection() as conn:
        assert conn.run("SELECT count(*) FROM console_users WHERE email = 'mallory@acme.example'") == [[0]]
    page.goto(f"{sso['url']}/")
    assert "/login" in page.url
