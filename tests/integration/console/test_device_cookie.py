"""The device cookie: a browser that signed in before gets past the account-wide sign-in hold (an attacker
spreading failures over many addresses), never past the per-address throttles. Injected clocks throughout."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from regiongate.console.runtime.auth import ACCOUNT_FAILURES, LOCKOUT_FAILURES, Accounts
from regiongate.console.runtime.devices import DEVICE_LIFETIME, DeviceTrust
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.console_world import PASSWORD, TEST_LOG_N, csrf_of, new_client, sign_in

pytestmark = [pytest.mark.postgres, pytest.mark.clock]


def _account(store) -> str:
    email = f"d{uuid.uuid4().hex[:10]}@example.com"
    Accounts(store.pool, "eu", clock=pinned()).create_user(
        email=email, password=PASSWORD, role="org_admin", org_id="acme", log_n=TEST_LOG_N
    )
    return email


def _sign_out(client) -> None:
    assert client.post("/logout", data={"csrf": csrf_of(client.get("/").text)}).status_code == 303
    assert client.get("/").status_code == 303  # signed out; the device cookie stays


def _hold(store, email, at=NOW):
    """ACCOUNT_FAILURES failures on the account from many addresses, each under its per-address limit (rows as
    login() records them: scrypt per attempt would only slow the test)."""
    with store.pool.connection() as conn:
        for i in range(ACCOUNT_FAILURES):
            conn.run(
                "INSERT INTO console_login_failures (email, failed_at, source) VALUES (:e, :t, :s)",
                e=email,
                t=at,
                s=f"198.18.{uuid.uuid4().int % 250}.{i // LOCKOUT_FAILURES}",
            )


def test_a_device_cookie_is_the_accounts_own_of_this_region_and_expires(store):
    moment = [NOW]
    devices = DeviceTrust(store.pool, "eu", clock=lambda: moment[0])
    cookie = devices.issue("Owner@Example.com")
    assert devices.trusted("owner@example.com", cookie)
    assert DeviceTrust(store.pool, "eu", clock=lambda: moment[0]).trusted("owner@example.com", cookie)  # another task
    assert not devices.trusted("other@example.com", cookie)
    assert not DeviceTrust(store.pool, "us", clock=lambda: moment[0]).trusted("owner@example.com", cookie)
    version, issued, signature = cookie.split(".")
    assert not devices.trusted("owner@example.com", f"{version}.{int(issued) + 1}.{signature}")  # re-dated
    assert not devices.trusted("owner@example.com", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    for junk in (None, "", "v1", "v1..", "v2." + cookie[3:], "v1.-5.x", "v1.99999999999999999999.x", "x" * 200):
        assert not devices.trusted("owner@example.com", junk)
    assert "owner" not in cookie.lower()  # names no account in clear
    moment[0] = NOW + DEVICE_LIFETIME - timedelta(seconds=1)
    assert devices.trusted("owner@example.com", cookie)
    moment[0] = NOW + DEVICE_LIFETIME
    assert not devices.trusted("owner@example.com", cookie)
    moment[0] = NOW - timedelta(hours=1)  # issued "in the future" by more than the tasks' clock slack
    assert not devices.trusted("owner@example.com", cookie)


def test_a_trusted_device_passes_the_account_hold_but_not_the_per_address_throttle(store):
    email = _account(store)
    accounts = Accounts(store.pool, "eu", clock=pinned())
    _hold(store, email)
    assert accounts.login(email, PASSWORD, source="203.0.113.20")[0] == "locked"  # a new browser waits
    assert accounts.login(email, PASSWORD, source="203.0.113.20", trusted_device=True)[0] == "ok"
    assert accounts.login(email, "wrong password!!", source="203.0.113.21", trusted_device=True)[0] == "bad"
    for _ in range(LOCKOUT_FAILURES - 1):
        accounts.login(email, "wrong password!!", source="203.0.113.21", trusted_device=True)
    # five failures from this address on this account: the cookie does not lift that throttle
    assert accounts.login(email, PASSWORD, source="203.0.113.21", trusted_device=True)[0] == "locked"


def test_a_browser_that_signed_in_before_signs_in_during_an_attack_and_a_new_one_waits(app, store):
    email = _account(store)
    with new_client(app) as owner:
        owner.headers["x-forwarded-for"] = "203.0.113.30"
        first = sign_in(owner, email)
        assert first.status_code == 303
        [device] = [c for c in first.headers.get_list("set-cookie") if c.startswith("__Host-rg_device=")]
        lowered = device.lower()
        assert "secure" in lowered and "httponly" in lowered and "samesite=strict" in lowered
        assert f"max-age={int(DEVICE_LIFETIME.total_seconds())}" in lowered
        _sign_out(owner)
        _hold(store, email)
        owner.headers["x-forwarded-for"] = "203.0.113.31"  # even from another address
        again = sign_in(owner, email)
        assert again.status_code == 303 and "__Host-rg_session=" in again.headers.get("set-cookie", "")
    with new_client(app) as stranger:
        stranger.headers["x-forwarded-for"] = "203.0.113.32"
        assert sign_in(stranger, email).status_code == 429
    with new_client(app) as copied:  # another account's cookie is no trust for this one
        other = _account(store)
        copied.headers["x-forwarded-for"] = "203.0.113.33"
        assert sign_in(copied, other).status_code == 303
        _sign_out(copied)
        assert sign_in(copied, email).status_code == 429
