"""Console accounts: scrypt password hashes, database-backed sessions, CSRF tokens and sign-in lockout.

Tables are in ``regiongate.gateway.runtime/store/migrations/0002_console_accounts.sql``. A session cookie carries a random
token; only its SHA-256 is stored, so a copy of the database cannot be replayed as a cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ROLES = ("platform_admin", "org_admin", "org_viewer")
ROLE_NAMES = {"platform_admin": "Platform admin", "org_admin": "Org admin", "org_viewer": "Org viewer"}

# scrypt, memory-hard: N=2^15, r=8 uses 32 MiB per hash (OWASP's minimum is N=2^17 with r=8, p=1 for 128 MiB;
# we keep the 2 vCPU / 1 GiB Fargate task in mind and allow raising it: the parameters are stored per hash).
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
PASSWORD_MIN, PASSWORD_MAX = 12, 256
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE = timedelta(minutes=60)
# Sign-in throttling (failures counted over LOCKOUT_WINDOW). The right password does not get past a throttle.
# - one source and one account: LOCKOUT_FAILURES, then that source waits out the window for that account;
# - one source, any accounts: SOURCE_FAILURES (a password sprayer), then that source waits out the window;
# - one account, all sources: ACCOUNT_FAILURES, then the account waits ACCOUNT_COOLDOWN after the last failure.
# Nobody can lock a user out for long: from other addresses the account stays open until ACCOUNT_FAILURES,
# and that lock lasts a minute. Keeping it shut needs ACCOUNT_FAILURES failures a minute, and each address
# can give at most LOCKOUT_FAILURES of them per window.
LOCKOUT_FAILURES = 5
SOURCE_FAILURES = 100
ACCOUNT_FAILURES = 20
ACCOUNT_COOLDOWN = timedelta(minutes=1)
LOCKOUT_WINDOW = timedelta(minutes=15)

_EMAIL_RE = re.compile(r"^[a-z0-9._%+-]{1,64}@[a-z0-9.-]{1,185}\.[a-z]{2,24}$")
_ORG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class AuthError(ValueError):
    """Invalid account input (the message is safe to show)."""


def hash_password(password: str, *, log_n: int = SCRYPT_LOG_N) -> str:
    check_password_policy(password)
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, log_n, SCRYPT_R, SCRYPT_P)
    return f"scrypt${log_n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, log_n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password[:PASSWORD_MAX], base64.b64decode(salt), int(log_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash to verify against when the account does not exist, so timing does not tell which e-mails exist.
_DUMMY_HASH = f"scrypt${SCRYPT_LOG_N}${SCRYPT_R}${SCRYPT_P}${'A' * 22}==${'A' * 43}="


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    if not 10 <= log_n <= 20:
        raise ValueError("scrypt cost out of range")
    n = 1 << log_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=n * r * 256, dklen=32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def check_password_policy(password: str) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise AuthError(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise AuthError("enter an e-mail address like name@example.com")
    return email


def check_org_id(org_id: str) -> str:
    if not isinstance(org_id, str) or not _ORG_RE.match(org_id):
        raise AuthError("an organisation id is 1 to 63 lower-case letters, digits, '.', '_' or '-'")
    return org_id


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_equal(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    region: str
    role: str
    org_id: str | None
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "platform_admin"

    @property
    def can_manage(self) -> bool:
        """Create and revoke keys, manage the org's users."""
        return self.role in ("platform_admin", "org_admin")

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


_USER_COLUMNS = "u.user_id, u.email, u.region, u.role, u.org_id, u.created_at, u.last_login_at, u.disabled_at"


def _user(row: Any) -> User:
    return User(*row)


class LoginResult:
    OK, BAD, LOCKED = "ok", "bad", "locked"
    # The right password, but the user's org turned password sign-in off (console_org_settings): SSO only.
    SSO_ONLY = "sso-only"


class Accounts:
    """Users, sessions and lockout in the region's database (the store's connection pool)."""

    def __init__(self, pool: Any, region: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.pool = pool
        self.region = region
        self.clock = clock

    # --- users -------------------------------------------------------------------------------------------
    def create_user(
        self,
        *,
        email: str,
        password: str,
        role: str,
        org_id: str | None,
        created_by: str | None = None,
        log_n: int = SCRYPT_LOG_N,
    ) -> User:
        email = normalise_email(email)
        if role not in ROLES:
            raise AuthError(f"role must be one of {', '.join(ROLES)}")
        if role == "platform_admin":
            if org_id:
                raise AuthError("a platform admin belongs to no organisation")
            org_id = None
        else:
            check_org_id(org_id or "")
        encoded = hash_password(password, log_n=log_n)
        user_id = "usr_" + secrets.token_hex(8)
        with self.pool.connection() as conn:
            conn.run("BEGIN")
            try:
                if org_id:
                    conn.run("INSERT INTO orgs (org_id) VALUES (:o) ON CONFLICT DO NOTHING", o=org_id)
                if conn.run("SELECT 1 FROM console_users WHERE email = :e", e=email):
                    raise AuthError(f"an account for {email} already exists")
                conn.run(
                    "INSERT INTO console_users (user_id, email, region, role, org_id, password_hash, created_at, created_by) "
                    "VALUES (:i, :e, :r, :role, :o, :h, :t, :by)",
                    i=user_id,
                    e=email,
                    r=self.region,
                    role=role,
                    o=org_id,
                    h=encoded,
                    t=self.clock(),
                    by=created_by,
                )
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        user = self.get_user(user_id)
        assert user is not None
        return user

    def get_user(self, user_id: str) -> User | None:
        with self.pool.connection() as conn:
            rows = conn.run(
                f"SELECT {_USER_COLUMNS} FROM console_users u WHERE u.user_id = :i AND u.region = :r",
                i=user_id,
                r=self.region,
            )
        return _user(rows[0]) if rows else None

    def list_users(self, org_id: str | None) -> list[User]:
        with self.pool.connection() as conn:
            rows = conn.run(
                f"SELECT {_USER_COLUMNS} FROM console_users u WHERE u.region = :r "
                "AND (CAST(:o AS text) IS NULL OR u.org_id = :o) ORDER BY u.org_id NULLS FIRST, u.email",
                r=self.region,
                o=org_id,
            )
        return [_user(r) for r in rows]

    def disable_user(self, user_id: str) -> bool:
        with self.pool.connection() as conn:
            conn.run("BEGIN")
            try:
                rows = conn.run(
                    "UPDATE console_users SET disabled_at = :t WHERE user_id = :i AND region = :r "
                    "AND disabled_at IS NULL RETURNING user_id",
                    t=self.clock(),
                    i=user_id,
                    r=self.region,
                )
                conn.run("DELETE FROM console_sessions WHERE user_id = :i", i=user_id)
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        return bool(rows)

    # --- sign-in -----------------------------------------------------------------------------------------
    def is_locked(self, email: str, source: str | None = None, *, trusted_device: bool = False) -> bool:
        """Whether a sign-in to ``email`` from ``source`` is throttled now (see LOCKOUT_FAILURES). A browser
        that signed in to the account before (``trusted_device``: its device cookie, devices.py) is past the
        account-wide hold, not the per-address ones."""
        now = self.clock()
        with self.pool.connection() as conn:
            rows = conn.run(
                "SELECT count(*) FILTER (WHERE email = :e AND source IS NOT DISTINCT FROM :s), "
                "count(*) FILTER (WHERE source IS NOT DISTINCT FROM :s AND CAST(:s AS text) IS NOT NULL), "
                "count(*) FILTER (WHERE email = :e), max(failed_at) FILTER (WHERE email = :e) "
                "FROM console_login_failures WHERE failed_at > :t AND (email = :e OR source = :s)",
                e=email,
                s=source,
                t=now - LOCKOUT_WINDOW,
            )
        pair, from_source, account, last = rows[0]
        if pair >= LOCKOUT_FAILURES or from_source >= SOURCE_FAILURES:
            return True
        if trusted_device:
            return False
        return account >= ACCOUNT_FAILURES and last is not None and last > now - ACCOUNT_COOLDOWN

    def login(
        self, email: str, password: str, source: str | None = None, *, trusted_device: bool = False
    ) -> tuple[str, str | None]:
        """(result, session token). Throttled sign-ins are refused even with the right password; ``source``
        is the client's address (failures are counted per address and per account)."""
        try:
            email = normalise_email(email)
        except AuthError:
            email = (email or "")[:254].strip().lower()
        source = source[:64] if source else None
        if self.is_locked(email, source, trusted_device=trusted_device):
            return LoginResult.LOCKED, None
        with self.pool.connection() as conn:
            rows = conn.run(
                "SELECT u.user_id, u.password_hash, COALESCE(o.password_sign_in, true) FROM console_users u "
                "LEFT JOIN console_org_settings o ON o.org_id = u.org_id WHERE u.email = :e AND u.region = :r "
                "AND u.disabled_at IS NULL",
                e=email,
                r=self.region,
            )
        encoded = (rows[0][1] if rows else None) or _DUMMY_HASH  # no password (SSO user, reset): never matches
        too_long = len(password or "") > PASSWORD_MAX  # never a valid password: no prefix of it may match
        ok = verify_password(password or "", encoded) and bool(rows) and not too_long
        now = self.clock()
        with self.pool.connection() as conn:
            if not ok:
                conn.run(
                    "INSERT INTO console_login_failures (email, failed_at, source) VALUES (:e, :t, :s)",
                    e=email,
                    t=now,
                    s=source,
                )
                conn.run("DELETE FROM console_login_failures WHERE failed_at < :t", t=now - 4 * LOCKOUT_WINDOW)
                return LoginResult.BAD, None
            if not rows[0][2]:
                return LoginResult.SSO_ONLY, None
            token = new_token()
            conn.run("BEGIN")
            try:
                # This source proved it knows the password: its failures on the account no longer count.
                conn.run(
                    "DELETE FROM console_login_failures WHERE email = :e AND source IS NOT DISTINCT FROM :s",
                    e=email,
                    s=source,
                )
                _insert_session(conn, rows[0][0], token, now)
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        return LoginResult.OK, token

    def session(self, token: str | None) -> Session | None:
        """The signed-in session for a cookie token, or None (unknown, expired, idle or disabled)."""
        if not token or len(token) > 128:
            return None
        now = self.clock()
        with self.pool.connection() as conn:
            rows = conn.run(
                f"SELECT {_USER_COLUMNS}, s.csrf_token, s.last_seen_at FROM console_sessions s "
                "JOIN console_users u ON u.user_id = s.user_id WHERE s.token_hash = :h AND s.expires_at > :t "
                "AND s.last_seen_at > :idle AND u.disabled_at IS NULL AND u.region = :r",
                h=token_hash(token),
                t=now,
                idle=now - SESSION_IDLE,
                r=self.region,
            )
            if not rows:
                return None
            row = rows[0]
            if row[9] < now - timedelta(minutes=1):
                conn.run(
                    "UPDATE console_sessions SET last_seen_at = :t WHERE token_hash = :h", t=now, h=token_hash(token)
                )
        return Session(user=_user(row[:8]), csrf_token=row[8])

    def logout(self, token: str) -> None:
        with self.pool.connection() as conn:
            conn.run("DELETE FROM console_sessions WHERE token_hash = :h", h=token_hash(token))

    # --- sessions opened and ended by single sign-on and password changes (regiongate.console.runtime.sso,
    # .hygiene) -------------------------------------------------------------------------------------------
    def open_session(self, user_id: str) -> str:
        """A new session for ``user_id`` (already authenticated by the caller); returns its cookie token."""
        now = self.clock()
        token = new_token()
        with self.pool.connection() as conn:
            _insert_session(conn, user_id, token, now)
        return token

    def end_sessions(self, conn: Any, user_id: str, keep_token: str | None = None) -> int:
        """Ends every session of ``user_id`` (but the one of ``keep_token``) on ``conn``: the caller's transaction."""
        rows = conn.run(
            "DELETE FROM console_sessions WHERE user_id = :u AND token_hash <> :k RETURNING 1",
            u=user_id,
            k=token_hash(keep_token) if keep_token else b"\0" * 32,
        )
        return len(rows)


def _insert_session(conn: Any, user_id: str, token: str, now: datetime) -> None:
    """Stores a new session of ``user_id`` for ``token`` (password and single sign-on alike), dropping expired ones."""
    conn.run("DELETE FROM console_sessions WHERE expires_at < :t", t=now)
    conn.run(
        "INSERT INTO console_sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) "
        "VALUES (:h, :u, :c, :t, :t, :x)",
        h=token_hash(token),
        u=user_id,
        c=new_token(),
        t=now,
        x=now + SESSION_LIFETIME,
    )
    conn.run("UPDATE console_users SET last_login_at = :t WHERE user_id = :u", t=now, u=user_id)
