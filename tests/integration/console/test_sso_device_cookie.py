"""A browser that signed in with single sign-on is a known device of its account (devices.py), as after a password
sign-in: the SSO callback issues the device cookie, so a later password sign-in from that browser passes the
account-wide hold an attacker may have raised, while a new browser still waits. Injected clocks throughout; the
identity provider's network half is a stand-in (the SSO flow's own checks are test_sso_and_hygiene.py's)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest

from regiongate.console.runtime.app import Console, create_app
from regiongate.console.runtime.auth import ACCOUNT_FAILURES, LOCKOUT_FAILURES, Accounts
from regiongate.console.runtime.devices import DEVICE_LIFETIME, DeviceTrust
from regiongate.console.runtime.oidc import OidcError
from regiongate.contract.console_oidc import ClaimMapping, OidcSettings, RoleMapping
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.console_world import PASSWORD, TEST_LOG_N, csrf_of, new_client, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.clock]

SETTINGS = OidcSettings(
    issuer="https://idp.example.com",
    client_id="console",
    redirect_uri="https://testserver/login/sso/callback",
    mapping=ClaimMapping(
        groups_claim="groups", roles=(RoleMapping(group="acme-admins", role="org_admin", org_id="acme"),)
    ),
    client_secret="x",
)


class FakeProvider:
    """The network half of OidcClient: the token endpoint answers with ``claims`` for any code."""

    settings = SETTINGS

    def __init__(self) -> None:
        self.claims: dict = {}

    def authorization_url(self, *, state, nonce, code_challenge):
        self.last = {"state": state, "nonce": nonce}
        return f"https://idp.example.com/auth?state={state}"

    def exchange(self, code, verifier):
        return code

    def verify(self, token, nonce):
        if nonce != self.last["nonce"]:
            raise OidcError("wrong nonce")
        return self.claims


@pytest.fixture
def sso_app(store, region):
    provider = FakeProvider()
    return create_app(Console(region=region, store=store, secure_cookies=True, clock=pinned(), oidc=provider)), provider


def _password_account(store) -> str:
    email = f"s{uuid.uuid4().hex[:10]}@acme.example"
    Accounts(store.pool, "eu", clock=pinned()).create_user(
        email=email, password=PASSWORD, role="org_admin", org_id="acme", log_n=TEST_LOG_N
    )
    return email


def _hold(store, email):
    """ACCOUNT_FAILURES failures on the account from many addresses, each under its per-address limit."""
    with store.pool.connection() as conn:
        for i in range(ACCOUNT_FAILURES):
            conn.run(
                "INSERT INTO console_login_failures (email, failed_at, source) VALUES (:e, :t, :s)",
                e=email,
                t=NOW,
                s=f"198.19.{uuid.uuid4().int % 250}.{i // LOCKOUT_FAILURES}",
            )


def _sso_sign_in(client, provider, claims):
    provider.claims = claims
    started = client.get("/login/sso?next=/keys")
    assert started.status_code == 303 and started.headers["location"].startswith("https://idp.example.com/")
    return client.get("/login/sso/callback?" + urlencode({"state": provider.last["state"], "code": "c"}))


def _device_cookie(response) -> str:
    [device] = [c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-rg_device=")]
    return device


def test_an_sso_sign_in_makes_the_browser_a_known_device_for_a_later_password_sign_in(sso_app, store):
    app, provider = sso_app
    email = _password_account(store)  # an existing password account, linked at its first SSO sign-in
    claims = {"sub": "s-" + uuid.uuid4().hex, "email": email, "email_verified": True, "groups": ["acme-admins"]}
    with new_client(app) as owner:
        owner.headers["x-forwarded-for"] = "203.0.113.40"
        done = _sso_sign_in(owner, provider, claims)
        assert done.status_code == 200, done.text
        device = _device_cookie(done)
        lowered = device.lower()
        assert "secure" in lowered and "httponly" in lowered and "samesite=strict" in lowered
        assert f"max-age={int(DEVICE_LIFETIME.total_seconds())}" in lowered
        value = device.split(";", 1)[0].split("=", 1)[1]
        assert DeviceTrust(store.pool, "eu", clock=pinned()).trusted(email, value)  # this account's own cookie
        assert owner.post("/logout", data={"csrf": csrf_of(owner.get("/").text)}).status_code == 303
        _hold(store, email)
        owner.headers["x-forwarded-for"] = "203.0.113.41"  # even from another address
        again = sign_in(owner, email)
        assert again.status_code == 303 and "__Host-rg_session=" in again.headers.get("set-cookie", "")
    with new_client(app) as stranger:  # a browser that never signed in waits out the hold
        stranger.headers["x-forwarded-for"] = "203.0.113.42"
        assert sign_in(stranger, email).status_code == 429


def test_the_device_cookie_of_an_sso_sign_in_names_the_accounts_email_not_the_claims(sso_app, store):
    """A returning SSO user is found by (issuer, subject): the cookie is for the account's e-mail, which a password
    sign-in names, even when the provider now sends another address for the same subject."""
    app, provider = sso_app
    email = _password_account(store)
    subject = "s-" + uuid.uuid4().hex
    claims = {"sub": subject, "email": email, "email_verified": True, "groups": ["acme-admins"]}
    with new_client(app) as first:
        assert _sso_sign_in(first, provider, claims).status_code == 200
    with new_client(app) as browser:
        done = _sso_sign_in(browser, provider, {**claims, "email": "renamed-" + email})
        assert done.status_code == 200
        value = _device_cookie(done).split(";", 1)[0].split("=", 1)[1]
    devices = DeviceTrust(store.pool, "eu", clock=pinned())
    assert devices.trusted(email, value) and not devices.trusted("renamed-" + email, value)


def test_a_refused_sso_callback_issues_no_device_cookie(sso_app, store):
    app, provider = sso_app
    with new_client(app) as browser:
        provider.claims = {"sub": "s-x", "email": "x@acme.example", "groups": ["acme-admins"]}
        browser.get("/login/sso")
        refused = browser.get("/login/sso/callback?" + urlencode({"state": "forged", "code": "c"}))
        assert refused.status_code == 403
        assert not any(c.startswith("__Host-rg_device=") for c in refused.headers.get_list("set-cookie"))
