"""Sign-in, sessions, CSRF, lockout and hostile input: every refusal is a clear 4xx and changes nothing."""

from __future__ import annotations

import uuid

import pytest

from regiongate.console.runtime.auth import Accounts, hash_password, verify_password
from tests.fixtures.clock import pinned
from tests.fixtures.console_world import PASSWORD, TEST_LOG_N, csrf_of, new_client, sign_in, snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.clock]


def fresh_account(store, role="org_admin", org="acme") -> str:
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    Accounts(store.pool, "eu", clock=pinned()).create_user(
        email=email, password=PASSWORD, role=role, org_id=org, log_n=TEST_LOG_N
    )
    return email


# --- passwords ------------------------------------------------------------------------------------------------


def test_passwords_are_scrypt_hashes_with_their_own_salt():
    first, second = hash_password("a long enough password"), hash_password("a long enough password")
    assert first.startswith("scrypt$15$8$1$") and first != second
    assert verify_password("a long enough password", first)
    assert not verify_password("a long enough passworD", first)
    assert not verify_password("x", "not-a-hash") and not verify_password("x", "scrypt$99$8$1$AA==$AA==")


def test_no_password_is_stored_in_clear(store, world):
    with store.pool.connection() as conn:
        rows = conn.run("SELECT password_hash FROM console_users")
    assert rows and all(r[0].startswith("scrypt$") and PASSWORD not in r[0] for r in rows)


# --- sign-in and sessions ----------------------------------------------------------------------------------------


def test_session_cookie_is_secure_httponly_samesite_strict(app, world):
    with new_client(app) as client:
        login_page = client.get("/login")
        assert "__Host-rg_login=" in login_page.headers["set-cookie"]
        response = sign_in(client, world.users["acme_viewer"].email)
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-rg_session="))
        lowered = cookie.lower()
        assert "secure" in lowered and "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
        assert "domain=" not in lowered


def test_wrong_password_is_401_and_names_neither(app, world):
    with new_client(app) as client:
        wrong = sign_in(client, world.users["acme_viewer"].email, "not the password at all")
        unknown = sign_in(client, "nobody@example.com", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong e-mail address or password." in wrong.text and "Wrong e-mail address or password." in unknown.text
    assert "__Host-rg_session" not in wrong.headers.get("set-cookie", "")


def test_lockout_after_five_failures_even_with_the_right_password(app, store):
    email = fresh_account(store)
    with new_client(app) as client:
        for _ in range(5):
            assert sign_in(client, email, "wrong password!!").status_code == 401
        locked = sign_in(client, email, PASSWORD)
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
        assert client.get("/").status_code == 303  # not signed in
    other = fresh_account(store)  # the lockout is per account
    with new_client(app) as client:
        assert sign_in(client, other, PASSWORD).status_code == 303


def test_lockout_applies_to_unknown_addresses_alike(app):
    email = f"ghost{uuid.uuid4().hex[:8]}@example.com"
    with new_client(app) as client:
        statuses = [sign_in(client, email, "whatever password").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_a_successful_sign_in_clears_earlier_failures(app, store):
    email = fresh_account(store)
    with new_client(app) as client:
        for _ in range(4):
            sign_in(client, email, "wrong password!!")
        assert sign_in(client, email, PASSWORD).status_code == 303
    with new_client(app) as client:
        for _ in range(4):
            assert sign_in(client, email, "wrong password!!").status_code == 401
        assert sign_in(client, email, PASSWORD).status_code == 303


def test_sign_in_form_needs_its_csrf_cookie(app, world):
    with new_client(app) as client:
        page = client.get("/login")
        token = csrf_of(page.text)
        client.cookies.clear()
        response = client.post(
            "/login", data={"csrf": token, "email": world.users["platform"].email, "password": PASSWORD}
        )
        assert response.status_code == 403
        client.get("/login")
        forged = client.post(
            "/login", data={"csrf": "forged", "email": world.users["platform"].email, "password": PASSWORD}
        )
        assert forged.status_code == 403
        assert client.get("/").status_code == 303


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_sign_in_never_redirects_off_site(app, world, target):
    with new_client(app) as client:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "csrf": csrf_of(page.text),
                "email": world.users["acme_viewer"].email,
                "password": PASSWORD,
                "next": target,
            },
        )
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(app, world):
    with new_client(app) as client:
        redirect = client.get("/keys?org=acme")
        assert redirect.headers["location"] == "/login?next=%2Fkeys%3Forg%3Dacme"
        page = client.get(redirect.headers["location"])
        assert 'name="next" value="/keys?org=acme"' in page.text
        response = client.post(
            "/login",
            data={
                "csrf": csrf_of(page.text),
                "email": world.users["acme_viewer"].email,
                "password": PASSWORD,
                "next": "/keys?org=acme",
            },
        )
        assert response.headers["location"] == "/keys?org=acme"


def test_sign_out_ends_the_session_on_the_server(app, world):
    with new_client(app) as client:
        sign_in(client, world.users["acme_viewer"].email)
        cookie = client.cookies.get("__Host-rg_session")
        csrf = csrf_of(client.get("/").text)
        assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    with new_client(app) as replay:
        replay.cookies.set("__Host-rg_session", cookie)
        assert replay.get("/").status_code == 303


@pytest.mark.parametrize("cookie", ["", "x", "A" * 43, "A" * 5000, "../../etc/passwd", "%00", "' OR 1=1 --"])
def test_tampered_session_cookies_are_signed_out(app, store, world, cookie):
    before = snapshot(store)
    with new_client(app) as client:
        client.cookies.clear()
        client.cookies.set("__Host-rg_session", cookie)
        assert client.get("/").status_code == 303
        assert client.get("/keys").status_code == 303
        post = client.post("/keys", data={"csrf": "x", "team": "evil"})
        assert post.status_code in (403, 431)
    assert snapshot(store) == before


def test_a_cookie_with_one_character_changed_is_refused(app, world):
    with new_client(app) as client:
        sign_in(client, world.users["platform"].email)
        token = client.cookies.get("__Host-rg_session")
        flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
        client.cookies.clear()
        client.cookies.set("__Host-rg_session", flipped)
        assert client.get("/").status_code == 303


def test_another_regions_account_does_not_sign_in_here(app, store):
    email = f"us{uuid.uuid4().hex[:8]}@example.com"
    Accounts(store.pool, "us", clock=pinned()).create_user(
        email=email, password=PASSWORD, role="platform_admin", org_id=None, log_n=TEST_LOG_N
    )
    with new_client(app) as client:
        assert sign_in(client, email).status_code == 401


# --- CSRF on every form -------------------------------------------------------------------------------------------


def forms(world):
    key = world.keys["acme_ml"][1].key_id
    return [
        ("/keys", {"team": "csrf"}),
        (f"/keys/{key}/settings", {"budget": "1"}),
        (f"/keys/{key}/revoke", {}),
        ("/users", {"email": "csrf@example.com", "role": "org_viewer", "password": "p" * 14}),
        (f"/users/{world.users['acme_viewer'].user_id}/disable", {}),
        ("/logout", {}),
    ]


@pytest.mark.parametrize("csrf", [None, "", "forged", "other-session"])
def test_forged_csrf_is_refused_on_every_form(app, login, store, world, csrf):
    client = login("acme_admin")
    if csrf == "other-session":
        csrf = login("acme_admin").csrf
    before = snapshot(store)
    for path, data in forms(world):
        body = dict(data) if csrf is None else {**data, "csrf": csrf}
        response = client.post(path, data=body)
        assert response.status_code == 403, path
        assert "security token" in response.text
    assert snapshot(store) == before
    assert client.get("/").status_code == 200  # still signed in: logout was refused too


def test_cross_site_posts_are_refused_even_with_the_token(login, store, world):
    client = login("acme_admin")
    before = snapshot(store)
    for path, data in forms(world):
        response = client.post(path, data={**data, "csrf": client.csrf}, headers={"origin": "https://evil.example"})
        assert response.status_code == 403, path
        response = client.post(path, data={**data, "csrf": client.csrf}, headers={"sec-fetch-site": "cross-site"})
        assert response.status_code == 403, path
    assert snapshot(store) == before


# --- hostile and malformed input -----------------------------------------------------------------------------------


def bad_bodies(csrf: str):
    yield "huge body", 413, {"content": ("csrf=" + csrf + "&team=" + "a" * 20000).encode()}
    yield "huge field", 413, {"content": f"csrf={csrf}&team={'a' * 2000}".encode()}
    yield "not utf-8", 400, {"content": b"csrf=" + csrf.encode() + b"&budget=%ff%fe"}
    yield "multipart", 415, {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data; boundary=x"}}
    yield "json", 415, {"content": b'{"team": "x"}', "headers": {"content-type": "application/json"}}
    yield "too many fields", 400, {"content": ("csrf=" + csrf + "".join(f"&f{i}=1" for i in range(100))).encode()}
    yield "duplicate", 400, {"content": f"csrf={csrf}&budget=1&budget=2".encode()}
    yield "nul", 400, {"content": f"csrf={csrf}&budget=1%002".encode()}
    for field, value in (
        ("team", "Team A"),
        ("team", "a/b"),
        ("user", "<script>"),
        ("budget", "abc"),
        ("budget", "-1"),
        ("budget", "NaN"),
        ("budget", "1e400"),
        ("budget", "Infinity"),
        ("budget", "0.0000001"),
        ("budget", "100000001"),
        ("expires", "2020-01-01"),
        ("expires", "tomorrow"),
        ("expires", "2026-02-30"),
        ("models", "no-such-model"),
        ("models", "gpt-4o' OR '1'='1"),
        ("org", "globex"),
    ):
        status = 404 if field == "org" else 400
        yield f"{field}={value}", status, {"data": {"csrf": csrf, field: value}}


def test_bad_key_forms_are_4xx_and_change_nothing(login, store, world):
    client = login("acme_admin")
    before = snapshot(store)
    for name, status, kwargs in bad_bodies(client.csrf):
        headers = {"content-type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
        if "data" in kwargs:
            response = client.post("/keys", **kwargs)
        else:
            response = client.post("/keys", headers=headers, **kwargs)
        assert response.status_code == status, (name, response.status_code)
        assert "<script>" not in response.text
        if name.startswith(("team=", "user=", "org=")):
            continue  # not fields of the settings form
        response = client.post(
            f"/keys/{world.keys['acme_ml'][1].key_id}/settings",
            **({"data": kwargs["data"]} if "data" in kwargs else {"headers": headers, **kwargs}),
        )
        assert 400 <= response.status_code < 500, name
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "path", ["/keys/nope", "/keys/key_' OR '1'='1", "/keys/" + "a" * 3000, "/keys/key_0123456789abcdef", "/keys/%00"]
)
def test_bad_key_ids_in_urls_are_404(login, store, path):
    client = login("platform")
    before = snapshot(store)
    assert client.get(path).status_code == 404
    assert client.post(path + "/revoke", data={"csrf": client.csrf}).status_code == 404
    assert client.post(path + "/settings", data={"csrf": client.csrf, "budget": "1"}).status_code == 404
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "query",
    [
        "days=5",
        "days=abc",
        "group=password_hash",
        "group=org_id;drop",
        "page=0",
        "page=-1",
        "page=abc",
        "page=99999999999",
        "status=weird",
        "q=" + "a" * 201,
        "org=Not%20An%20Id",
        "org=a&org=b",
        "detector=%3Cscript%3E",
    ],
)
def test_bad_query_parameters_are_400(login, query):
    client = login("platform")
    path = (
        "/violations"
        if query.startswith("detector")
        else "/requests"
        if query.startswith(("q=", "status", "page"))
        else "/"
    )
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400, (query, response.status_code)
    assert "<script>" not in response.text


def test_user_forms_reject_bad_input(login, store):
    client = login("platform")
    before = snapshot(store)
    for data in (
        {"email": "not-an-email", "role": "org_admin", "org": "acme", "password": "p" * 14},
        {"email": "a@example.com", "role": "root", "org": "acme", "password": "p" * 14},
        {"email": "a@example.com", "role": "org_admin", "org": "", "password": "p" * 14},
        {"email": "a@example.com", "role": "org_admin", "org": "Bad Org", "password": "p" * 14},
        {"email": "a@example.com", "role": "org_admin", "org": "acme", "password": "p" * 300},
        {"email": "a" * 300 + "@example.com", "role": "org_admin", "org": "acme", "password": "p" * 14},
    ):
        response = client.post("/users", data={"csrf": client.csrf, **data})
        assert response.status_code in (400, 413), data
    assert client.post("/users/usr_0123456789abcdef/disable", data={"csrf": client.csrf}).status_code == 404
    assert client.post("/users/' OR 1=1/disable", data={"csrf": client.csrf}).status_code == 404
    assert snapshot(store) == before


# --- sign-in throttling per source and per account (#14) --------------------------------------------------


def _from(client, address: str):
    client.headers["x-forwarded-for"] = address
    return client


def test_failures_from_one_address_do_not_lock_the_user_out_from_another(app, store):
    email = fresh_account(store, role="platform_admin", org=None)
    with new_client(app) as attacker:
        _from(attacker, "198.51.100.66")  # the same address in other tests never nears the 100 of a source
        statuses = [sign_in(attacker, email, "wrong password!!").status_code for _ in range(7)]
        assert sign_in(attacker, email, PASSWORD).status_code == 429
    print(f"attacker statuses: {statuses}")
    assert statuses == [401] * 5 + [429] * 2
    with new_client(app) as owner:
        _from(owner, "203.0.113.10")
        assert sign_in(owner, email, PASSWORD).status_code == 303  # the admin is not locked out


def test_an_account_attacked_from_many_addresses_is_held_one_minute_only(app, store):
    from datetime import timedelta

    from regiongate.console.runtime.auth import ACCOUNT_COOLDOWN, ACCOUNT_FAILURES, LOCKOUT_FAILURES, Accounts
    from tests.fixtures.clock import NOW

    email = fresh_account(store)
    moment = [NOW]
    accounts = Accounts(store.pool, "eu", clock=lambda: moment[0])
    for i in range(ACCOUNT_FAILURES):
        source = f"198.51.100.{i // LOCKOUT_FAILURES}"
        assert accounts.login(email, "wrong password!!", source=source)[0] == "bad"
    assert accounts.login(email, PASSWORD, source="203.0.113.10")[0] == "locked"
    moment[0] = NOW + ACCOUNT_COOLDOWN + timedelta(seconds=1)
    result, token = accounts.login(email, PASSWORD, source="203.0.113.10")
    assert result == "ok" and token


def test_one_address_spraying_many_accounts_is_throttled(app, store):
    from regiongate.console.runtime.auth import SOURCE_FAILURES, Accounts
    from tests.fixtures.clock import pinned

    accounts = Accounts(store.pool, "eu", clock=pinned())
    sprayer = f"198.51.100.{uuid.uuid4().int % 200}"
    assert accounts.login(f"v-{uuid.uuid4().hex[:6]}@example.com", "guess", source=sprayer)[0] == "bad"
    with store.pool.connection() as conn:  # the other failures as login() records them (scrypt takes time)
        for i in range(SOURCE_FAILURES - 1):
            conn.run(
                "INSERT INTO console_login_failures (email, failed_at, source) VALUES (:e, :t, :s)",
                e=f"v{i}@example.com",
                t=pinned()(),
                s=sprayer,
            )
    email = fresh_account(store)
    assert accounts.login(email, PASSWORD, source=sprayer)[0] == "locked"
    assert accounts.login(email, PASSWORD, source="203.0.113.11")[0] == "ok"
