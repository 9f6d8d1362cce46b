"""Account hygiene: password change, reset by an org admin, and the per-org password sign-in setting.

A reset is a one-time code, not a temporary password: the admin never learns a password the user keeps, and
issuing it clears the old password and ends every session at once (the reason for a reset is usually that the
password may be known to someone else). The code is shown to the admin once, given to the user by a separate
channel, works once, for RESET_LIFETIME, and only its SHA-256 is stored. It is typed into /password-reset (never
part of a URL, so it appears in no access log or browser history).

Every password change ends the user's other sessions; a disabled user's sessions end with the disabling
(:meth:`Accounts.disable_user`). Tables: store/migrations/0007_console_sso_password_hygiene.sql.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from regiongate.console.runtime.auth import (
    SCRYPT_LOG_N,
    Accounts,
    AuthError,
    User,
    check_org_id,
    check_password_policy,
    hash_password,
    token_hash,
    verify_password,
)

RESET_LIFETIME = timedelta(hours=24)


def check_new_password(password: str, *, email: str, current: str | None = None) -> None:
    """The password policy for a new password: 12 to 256 characters, not the e-mail address or a part of it
    that long, not one character repeated, and different from the current password."""
    check_password_policy(password)
    lowered = password.lower()
    local = email.split("@", 1)[0].lower()
    if lowered == email.lower() or (len(local) >= 4 and local in lowered and len(lowered) - len(local) < 8):
        raise AuthError("a password must not be your e-mail address or built from it")
    if len(set(password)) < 4:
        raise AuthError("a password needs at least 4 different characters")
    if current is not None and password == current:
        raise AuthError("the new password must differ from the current one")


class Hygiene:
    """Password changes, resets and org settings on the same pool, region and clock as :class:`Accounts`."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.pool = accounts.pool
        self.region = accounts.region
        self.clock = accounts.clock

    # --- per-org password sign-in ------------------------------------------------------------------------
    def password_sign_in(self, org_id: str) -> bool:
        with self.pool.connection() as conn:
            rows = conn.run("SELECT password_sign_in FROM console_org_settings WHERE org_id = :o", o=org_id)
        return bool(rows[0][0]) if rows else True

    def set_password_sign_in(self, org_id: str, enabled: bool, *, by: str) -> None:
        check_org_id(org_id)
        with self.pool.connection() as conn:
            conn.run(
                "INSERT INTO console_org_settings (org_id, password_sign_in, updated_at, updated_by) "
                "VALUES (:o, :e, :t, :b) ON CONFLICT (org_id) DO UPDATE SET password_sign_in = :e, "
                "updated_at = :t, updated_by = :b",
                o=org_id,
                e=enabled,
                t=self.clock(),
                b=by,
            )

    def sign_in_methods(self, user_id: str) -> tuple[bool, bool]:
        """(has a password, is linked to the identity provider)."""
        with self.pool.connection() as conn:
            rows = conn.run(
                "SELECT password_hash IS NOT NULL, oidc_subject IS NOT NULL FROM console_users WHERE user_id = :u",
                u=user_id,
            )
        return (bool(rows[0][0]), bool(rows[0][1])) if rows else (False, False)

    # --- the user's own change -----------------------------------------------------------------------------
    def change_password(
        self, user: User, current: str, new: str, *, keep_token: str | None, log_n: int = SCRYPT_LOG_N
    ) -> int:
        """Changes ``user``'s password after checking the current one; ends their other sessions (the one of
        ``keep_token`` stays signed in). Returns how many sessions ended."""
        with self.pool.connection() as conn:
            rows = conn.run(
                "SELECT password_hash FROM console_users WHERE user_id = :u AND region = :r AND disabled_at IS NULL",
                u=user.user_id,
                r=self.region,
            )
        if not rows or not rows[0][0]:
            raise AuthError("your account has no password: you sign in by single sign-on")
        if not verify_password(current or "", rows[0][0]):
            raise AuthError("the current password is wrong")
        check_new_password(new, email=user.email, current=current)
        return self._set_password(user.user_id, hash_password(new, log_n=log_n), keep_token=keep_token)

    def _set_password(self, user_id: str, encoded: str | None, *, keep_token: str | None) -> int:
        with self.pool.connection() as conn:
            conn.run("BEGIN")
            try:
                conn.run(
                    "UPDATE console_users SET password_hash = :h, password_changed_at = :t WHERE user_id = :u",
                    h=encoded,
                    t=self.clock(),
                    u=user_id,
                )
                ended = self.accounts.end_sessions(conn, user_id, keep_token)
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        return ended

    # --- reset by an admin -----------------------------------------------------------------------------------
    def issue_reset(self, target: User, *, by: User) -> str:
        """A one-time reset code for ``target``. Its old password stops working and its sessions end now."""
        if target.user_id == by.user_id:
            raise AuthError("change your own password on your account page")
        if target.disabled_at is not None:
            raise AuthError("the account is disabled")
        if target.role == "platform_admin" and not by.is_platform_admin:
            raise AuthError("only a platform admin can reset a platform admin's password")
        code = secrets.token_urlsafe(32)
        now = self.clock()
        with self.pool.connection() as conn:
            conn.run("BEGIN")
            try:
                conn.run(
                    "DELETE FROM console_password_resets WHERE user_id = :u OR expires_at < :t", u=target.user_id, t=now
                )
                conn.run(
                    "INSERT INTO console_password_resets (code_hash, user_id, created_by, created_at, expires_at) "
                    "VALUES (:h, :u, :b, :t, :x)",
                    h=token_hash(code),
                    u=target.user_id,
                    b=by.user_id,
                    t=now,
                    x=now + RESET_LIFETIME,
                )
                conn.run(
                    "UPDATE console_users SET password_hash = NULL, password_changed_at = :t WHERE user_id = :u",
                    t=now,
                    u=target.user_id,
                )
                self.accounts.end_sessions(conn, target.user_id)
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        return code

    def complete_reset(self, email: str, code: str, new: str, *, log_n: int = SCRYPT_LOG_N) -> User:
        """Sets a new password with a reset code (single use). The message never says which part was wrong."""
        wrong = AuthError("the e-mail address or reset code is wrong, or the code has expired or was used")
        if not code or len(code) > 128:
            raise wrong
        now = self.clock()
        with self.pool.connection() as conn:
            rows = conn.run(
                "SELECT r.user_id, u.email FROM console_password_resets r JOIN console_users u ON u.user_id = r.user_id "
                "WHERE r.code_hash = :h AND r.expires_at > :t AND u.region = :r AND u.disabled_at IS NULL",
                h=token_hash(code),
                t=now,
                r=self.region,
            )
        if not rows or rows[0][1] != (email or "").strip().lower():
            raise wrong
        user_id, address = rows[0]
        check_new_password(new, email=address)
        encoded = hash_password(new, log_n=log_n)
        with self.pool.connection() as conn:
            conn.run("BEGIN")
            try:
                used = conn.run(
                    "DELETE FROM console_password_resets WHERE code_hash = :h AND expires_at > :t RETURNING 1",
                    h=token_hash(code),
                    t=now,
                )
                if not used:  # used meanwhile by another request
                    raise wrong
                conn.run(
                    "UPDATE console_users SET password_hash = :h, password_changed_at = :t WHERE user_id = :u",
                    h=encoded,
                    t=now,
                    u=user_id,
                )
                self.accounts.end_sessions(conn, user_id)
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        user = self.accounts.get_user(user_id)
        assert user is not None
        return user
