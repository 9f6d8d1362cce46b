"""Account hygiene and the database side of single sign-on, in a database of this module's own.

Password change (other sessions end, the current one stays), reset by an org admin with a one-time code (the
old password and every session end at once), disabling ends sessions, the password policy, password sign-in
turned off per org, and the SSO attempt checks: a forged, replayed, expired or other-browser state is refused,
and an existing account is linked only under the rules of regiongate.console.runtime.sso.
"""

from __future__ import annotations

import re
import uuid

import pytest

from regiongate.console.runtime.app import Console, create_app
from regiongate.console.runtime.auth import Accounts, AuthError, LoginResult
from regiongate.console.runtime.hygiene import Hygiene, check_new_password
from regiongate.console.runtime.oidc import OidcError
from regiongate.console.runtime.sso import ATTEMPT_LIFETIME, SingleSignOn
from regiongate.contract.console_oidc import ClaimMapping, OidcSettings, RoleMapping
from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.console_world import PASSWORD, TEST_LOG_N, csrf_of, fresh_database, new_client, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.clock]

NEW_PASSWORD = "a different long passphrase"


@pytest.fixture(scope="module")
def db():
    with fresh_database("hygiene", kind="console") as url:
        store = PostgresStore(ConnectionPool(ConnectionParams.from_url(url).connect, size=4))
        yield store
        store.pool.close()


@pytest.fixture(scope="module")
def app(db, region):
    return create_app(Console(region=region, store=db, secure_cookies=True, clock=pinned()))


def account(db, role="org_viewer", org="acme", password=PASSWORD):
    email = f"u{uuid.uuid4().hex[:10]}@{org or 'platform'}.example"
    return Accounts(db.pool, "eu", clock=pinned()).create_user(
        email=email, password=password, role=role, org_id=None if role == "platform_admin" else org, log_n=TEST_LOG_N
    )


def signed_in(app, user, password=PASSWORD):
    client = new_client(app)
    response = sign_in(client, user.email, password)
    assert response.status_code == 303, response.text
    client.csrf = csrf_of(client.get("/account").text)
    return client


def is_signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def sessions(db, user) -> int:
    with db.pool.connection() as conn:
        return conn.run("SELECT count(*) FROM console_sessions WHERE user_id = :u", u=user.user_id)[0][0]


# --- password policy ---------------------------------------------------------------------------------------------


def test_password_policy():
    check_new_password("correct horse battery staple", email="alice@acme.example")
    for password, message in (
        ("short", "12 to 256 characters"),
        ("x" * 257, "12 to 256 characters"),
        ("alice@acme.example", "e-mail address"),
        ("ALICE@acme.example", "e-mail address"),
        ("alice1234567", "e-mail address"),
        ("aaaaaaaaaaaaaaaa", "4 different characters"),
        ("abababababababab", "4 different characters"),
    ):
        with pytest.raises(AuthError, match=message):
            check_new_password(password, email="alice@acme.example")
    with pytest.raises(AuthError, match="differ from the current"):
        check_new_password(PASSWORD, email="alice@acme.example", current=PASSWORD)


# --- password change -------------------------------------------------------------------------------------------


def test_changing_the_password_ends_the_other_sessions_only(app, db):
    user = account(db)
    here, elsewhere = signed_in(app, user), signed_in(app, user)
    assert sessions(db, user) == 2
    response = here.post(
        "/account/password",
        data={
            "csrf": here.csrf,
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200 and "Every other session of your account was signed out" in response.text
    assert is_signed_in(here) and not is_signed_in(elsewhere)
    assert sessions(db, user) == 1
    with new_client(app) as client:
        assert sign_in(client, user.email, PASSWORD).status_code == 401
        assert sign_in(client, user.email, NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    "current, new, again, message",
    [
        ("wrong current password", NEW_PASSWORD, NEW_PASSWORD, "the current password is wrong"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "The two new passwords differ"),
        (PASSWORD, "too short", "too short", "12 to 256 characters"),
        (PASSWORD, PASSWORD, PASSWORD, "must differ from the current one"),
    ],
)
def test_a_refused_password_change_changes_nothing(app, db, current, new, again, message):
    user = account(db)
    here, elsewhere = signed_in(app, user), signed_in(app, user)
    response = here.post(
        "/account/password",
        data={"csrf": here.csrf, "current_password": current, "new_password": new, "new_password_again": again},
    )
    assert response.status_code == 400 and message in response.text
    assert is_signed_in(here) and is_signed_in(elsewhere)
    with new_client(app) as client:
        assert sign_in(client, user.email, PASSWORD).status_code == 303


def test_password_change_needs_the_csrf_token(app, db):
    user = account(db)
    here = signed_in(app, user)
    response = here.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
    )
    assert response.status_code == 403
    with new_client(app) as client:
        assert sign_in(client, user.email, PASSWORD).status_code == 303


# --- disabling ------------------------------------------------------------------------------------------------


def test_disabling_a_user_ends_all_their_sessions(app, db):
    admin, user = account(db, "org_admin"), account(db)
    first, second = signed_in(app, user), signed_in(app, user)
    manager = signed_in(app, admin)
    assert manager.post(f"/users/{user.user_id}/disable", data={"csrf": manager.csrf}).status_code == 303
    assert not is_signed_in(first) and not is_signed_in(second) and sessions(db, user) == 0
    with new_client(app) as client:
        assert sign_in(client, user.email).status_code == 401


# --- reset by an org admin -------------------------------------------------------------------------------------


def reset_code(html: str) -> str:
    match = re.search(r'data-testid="reset-code" readonly value="([^"]+)"', html)
    assert match, "no reset code on the page"
    return match.group(1)


def complete(app, email, code, password=NEW_PASSWORD):
    with new_client(app) as client:
        page = client.get("/password-reset")
        assert page.status_code == 200
        return client.post(
            "/password-reset",
            data={
                "csrf": csrf_of(page.text),
                "email": email,
                "code": code,
                "new_password": password,
                "new_password_again": password,
            },
        )


def test_reset_by_an_org_admin_with_a_one_time_code(app, db):
    admin, user = account(db, "org_admin"), account(db)
    victim_session = signed_in(app, user)
    manager = signed_in(app, admin)
    response = manager.post(f"/users/{user.user_id}/reset", data={"csrf": manager.csrf})
    assert response.status_code == 201
    code = reset_code(response.text)
    # The old password and every session end at once; only the code's hash is stored.
    assert not is_signed_in(victim_session)
    with new_client(app) as client:
        assert sign_in(client, user.email, PASSWORD).status_code == 401
    with db.pool.connection() as conn:
        stored = conn.run("SELECT code_hash FROM console_password_resets WHERE user_id = :u", u=user.user_id)
    assert len(stored) == 1 and code.encode() not in bytes(stored[0][0])
    # The code works with its own account's address only, once.
    assert complete(app, admin.email, code).status_code == 400
    assert complete(app, user.email, code + "x").status_code == 400
    done = complete(app, user.email, code)
    assert done.status_code == 303 and done.headers["location"] == "/login?done=password-set"
    again = complete(app, user.email, code, "yet another long passphrase")
    assert again.status_code == 400 and "expired or was used" in again.text
    with new_client(app) as client:
        assert sign_in(client, user.email, NEW_PASSWORD).status_code == 303


def test_reset_codes_expire(db):
    accounts = Accounts(db.pool, "eu", clock=pinned())
    admin, user = account(db, "org_admin"), account(db)
    code = Hygiene(accounts).issue_reset(user, by=admin)
    later = Hygiene(Accounts(db.pool, "eu", clock=lambda: NOW + ATTEMPT_LIFETIME * 200))
    with pytest.raises(AuthError, match="expired or was used"):
        later.complete_reset(user.email, code, NEW_PASSWORD, log_n=TEST_LOG_N)


def test_reset_is_scoped_to_the_admins_org_and_role(app, db):
    admin, other_org_user = account(db, "org_admin"), account(db, org="globex")
    platform = account(db, "platform_admin")
    manager = signed_in(app, admin)
    assert manager.post(f"/users/{other_org_user.user_id}/reset", data={"csrf": manager.csrf}).status_code == 404
    assert manager.post(f"/users/{platform.user_id}/reset", data={"csrf": manager.csrf}).status_code == 404
    assert manager.post(f"/users/{admin.user_id}/reset", data={"csrf": manager.csrf}).status_code == 409
    viewer = signed_in(app, account(db))
    assert viewer.post(f"/users/{admin.user_id}/reset", data={"csrf": viewer.csrf}).status_code == 403
    with new_client(app) as client:  # nothing changed for the targets
        assert sign_in(client, other_org_user.email).status_code == 303


# --- password sign-in off per org -------------------------------------------------------------------------------


def test_password_sign_in_off_for_an_org_points_at_sso(app, db):
    org = "sso-" + uuid.uuid4().hex[:6]
    user, elsewhere = account(db, org=org), account(db, org="acme")
    hygiene = Hygiene(Accounts(db.pool, "eu", clock=pinned()))
    hygiene.set_password_sign_in(org, False, by="test")
    with new_client(app) as client:
        refused = sign_in(client, user.email)
        assert refused.status_code == 403 and "sign in with single sign-on" in refused.text
        assert "__Host-rg_session" not in refused.headers.get("set-cookie", "")
        assert sign_in(client, user.email, "not the password at all").status_code == 401  # says nothing more
        assert sign_in(client, elsewhere.email).status_code == 303  # other orgs unchanged
    assert Accounts(db.pool, "eu", clock=pinned()).login(user.email, PASSWORD)[0] == LoginResult.SSO_ONLY
    hygiene.set_password_sign_in(org, True, by="test")
    with new_client(app) as client:
        assert sign_in(client, user.email).status_code == 303


def test_only_platform_admins_change_org_sign_in_settings(app, db):
    org = "sso-" + uuid.uuid4().hex[:6]
    account(db, org=org)
    admin = signed_in(app, account(db, "org_admin", org=org))
    data = {"org": org, "password_sign_in": "off"}
    assert admin.post("/org-settings", data={**data, "csrf": admin.csrf}).status_code == 403
    platform = signed_in(app, account(db, "platform_admin"))
    response = platform.post("/org-settings", data={**data, "csrf": platform.csrf})
    assert response.status_code == 303
    page = platform.get(f"/users?org={org}")
    assert 'data-testid="password-sign-in">off<' in page.text
    assert not Hygiene(Accounts(db.pool, "eu", clock=pinned())).password_sign_in(org)
    assert (
        platform.post("/org-settings", data={**data, "password_sign_in": "maybe", "csrf": platform.csrf}).status_code
        == 400
    )


# --- single sign-on attempts ----------------------------------------------------------------------------------

SETTINGS = OidcSettings(
    issuer="https://idp.example.com",
    client_id="console",
    redirect_uri="https://console.example.com/login/sso/callback",
    mapping=ClaimMapping(
        groups_claim="groups", roles=(RoleMapping(group="acme-admins", role="org_admin", org_id="acme"),)
    ),
    client_secret="x",
)


class FakeProvider:
    """Stands in for the network half of OidcClient: the token endpoint answers with claims for the code."""

    settings = SETTINGS

    def __init__(self) -> None:
        self.claims: dict = {}
        self.exchanges = 0

    def authorization_url(self, *, state, nonce, code_challenge):
        self.last = {"state": state, "nonce": nonce, "challenge": code_challenge}
        return f"https://idp.example.com/auth?state={state}"

    def exchange(self, code, verifier):
        self.exchanges += 1
        return code

    def verify(self, token, nonce):
        if nonce != self.last["nonce"]:
            raise OidcError("wrong nonce")
        return self.claims


def sso(db, clock=pinned()):
    provider = FakeProvider()
    return SingleSignOn(Accounts(db.pool, "eu", clock=clock), provider), provider


def test_a_forged_state_is_refused_without_calling_the_provider(db):
    flow, provider = sso(db)
    started = flow.start("/")
    with pytest.raises(OidcError, match="state is unknown"):
        flow.finish(state="forged-state", code="c", browser_token=started.browser_token)
    assert provider.exchanges == 0


def test_a_state_from_another_browser_or_used_twice_is_refused(db):
    flow, provider = sso(db)
    provider.claims = {
        "sub": "s-" + uuid.uuid4().hex,
        "email": f"{uuid.uuid4().hex[:8]}@acme.example",
        "groups": ["acme-admins"],
    }
    started = flow.start("/keys")
    state = provider.last["state"]
    with pytest.raises(OidcError, match="started in another browser"):
        flow.finish(state=state, code="c", browser_token="another browser's cookie")
    with pytest.raises(OidcError, match="already used"):  # the attempt is consumed by the failure too
        flow.finish(state=state, code="c", browser_token=started.browser_token)
    started = flow.start("/keys")
    token, next_path = flow.finish(state=provider.last["state"], code="c", browser_token=started.browser_token)
    assert token and next_path == "/keys"
    with pytest.raises(OidcError, match="already used"):
        flow.finish(state=provider.last["state"], code="c", browser_token=started.browser_token)


def test_an_old_attempt_is_refused(db):
    flow, provider = sso(db)
    started = flow.start("/")
    state = provider.last["state"]
    late, _ = sso(db, clock=lambda: NOW + ATTEMPT_LIFETIME + ATTEMPT_LIFETIME)
    with pytest.raises(OidcError, match="took too long"):
        late.finish(state=state, code="c", browser_token=started.browser_token)


def finish_with(db, claims):
    flow, provider = sso(db)
    provider.claims = claims
    started = flow.start("/")
    return flow.finish(state=provider.last["state"], code="c", browser_token=started.browser_token)


def test_an_existing_password_account_is_linked_only_when_verified_and_in_the_mapped_org(db):
    user = account(db, "org_viewer", org="acme")
    with pytest.raises(OidcError, match="cannot be linked"):
        finish_with(db, {"sub": "s1-" + user.user_id, "email": user.email, "groups": ["acme-admins"]})
    other_org = account(db, "org_viewer", org="globex")
    with pytest.raises(OidcError, match="cannot be linked"):
        finish_with(
            db,
            {
                "sub": "s2-" + other_org.user_id,
                "email": other_org.email,
                "email_verified": True,
                "groups": ["acme-admins"],
            },
        )
    finish_with(
        db, {"sub": "s3-" + user.user_id, "email": user.email, "email_verified": True, "groups": ["acme-admins"]}
    )
    linked = Accounts(db.pool, "eu", clock=pinned()).get_user(user.user_id)
    assert linked.role == "org_admin" and linked.org_id == "acme"  # the claims decide the role


def test_a_disabled_sso_user_is_refused(db):
    claims = {
        "sub": "s-" + uuid.uuid4().hex,
        "email": f"{uuid.uuid4().hex[:8]}@acme.example",
        "groups": ["acme-admins"],
    }
    finish_with(db, claims)
    accounts = Accounts(db.pool, "eu", clock=pinned())
    with db.pool.connection() as conn:
        user_id = conn.run("SELECT user_id FROM console_users WHERE email = :e", e=claims["email"])[0][0]
    accounts.disable_user(user_id)
    with pytest.raises(OidcError, match="disabled"):
        finish_with(db, claims)
    with db.pool.connection() as conn:
        assert conn.run("SELECT count(*) FROM console_sessions WHERE user_id = :u", u=user_id)[0][0] == 0
