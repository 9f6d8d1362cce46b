"""Single sign-on sign-ins: the attempt in flight (state, nonce, PKCE verifier, bound to the browser), the
callback that checks it, and the account the verified claims map to.

The state is single use and bound to the browser that started the sign-in (the SHA-256 of a cookie of its
own), so a forged or replayed state, or a callback URL sent to another browser, is refused. The account of an
SSO user is found by (issuer, subject); its org and role come from the claims at every sign-in (the identity
provider is the authority: a user removed from a group loses the role at the next sign-in). An existing
password account is linked to the subject only when the provider says the e-mail address is verified and the
claims map it to the account's own org.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from regiongate.console.runtime.auth import Accounts, AuthError, normalise_email, token_hash
from regiongate.console.runtime.oidc import MappedUser, OidcClient, OidcError, map_claims, pkce_pair

ATTEMPT_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class Started:
    url: str  # the identity provider's authorization URL
    browser_token: str  # the value of the browser's SSO cookie


class SingleSignOn:
    def __init__(self, accounts: Accounts, client: OidcClient) -> None:
        self.accounts = accounts
        self.client = client
        self.pool = accounts.pool

    def start(self, next_path: str) -> Started:
        state, nonce, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        url = self.client.authorization_url(state=state, nonce=nonce, code_challenge=challenge)
        now = self.accounts.clock()
        with self.pool.connection() as conn:
            conn.run("DELETE FROM console_oidc_logins WHERE expires_at < :t", t=now)
            conn.run(
                "INSERT INTO console_oidc_logins (state_hash, browser_hash, nonce, code_verifier, next_path, "
                "created_at, expires_at) VALUES (:s, :b, :n, :v, :p, :t, :x)",
                s=token_hash(state),
                b=token_hash(browser),
                n=nonce,
                v=verifier,
                p=next_path,
                t=now,
                x=now + ATTEMPT_LIFETIME,
            )
        return Started(url=url, browser_token=browser)

    def finish(self, *, state: str, code: str, browser_token: str | None) -> tuple[str, str]:
        """(session token, next path) for a callback; :class:`OidcError` for anything not right."""
        if not state or len(state) > 128 or not code or len(code) > 2048:
            raise OidcError("The sign-in answer is incomplete. Start the sign-in again.")
        now = self.accounts.clock()
        with self.pool.connection() as conn:
            rows = conn.run(
                "DELETE FROM console_oidc_logins WHERE state_hash = :s RETURNING browser_hash, nonce, code_verifier, "
                "next_path, expires_at",
                s=token_hash(state),
            )
        if not rows:
            raise OidcError(
                "The sign-in's state is unknown or was already used (a forged or replayed answer). "
                "Start the sign-in again."
            )
        browser_hash, nonce, verifier, next_path, expires_at = rows[0]
        if not browser_token or not secrets.compare_digest(bytes(browser_hash), token_hash(browser_token)):
            raise OidcError("The sign-in was started in another browser. Start the sign-in again here.")
        if expires_at <= now:
            raise OidcError("The sign-in took too long. Start it again.")
        claims = self.client.verify(self.client.exchange(code, verifier), nonce)
        mapped = map_claims(claims, self.client.settings)
        try:
            mapped = replace(mapped, email=normalise_email(mapped.email))
        except AuthError:
            raise OidcError("Your identity provider sent an e-mail address the console cannot use.") from None
        user_id = self._account(mapped, email_verified=claims.get("email_verified") is True)
        return self.accounts.open_session(user_id), next_path

    def _account(self, mapped: MappedUser, *, email_verified: bool) -> str:
        issuer = self.client.settings.issuer
        region = self.accounts.region
        with self.pool.connection() as conn:
            conn.run("BEGIN")
            try:
                rows = conn.run(
                    "SELECT user_id, disabled_at FROM console_users WHERE oidc_issuer = :i AND oidc_subject = :s "
                    "AND region = :r FOR UPDATE",
                    i=issuer,
                    s=mapped.subject,
                    r=region,
                )
                if not rows:
                    rows = self._link_or_create(conn, mapped, email_verified=email_verified)
                user_id, disabled_at = rows[0]
                if disabled_at is not None:
                    raise OidcError("This console account is disabled. Ask an admin of your organisation.")
                if mapped.org_id:
                    conn.run("INSERT INTO orgs (org_id) VALUES (:o) ON CONFLICT DO NOTHING", o=mapped.org_id)
                conn.run(
                    "UPDATE console_users SET role = :role, org_id = :o WHERE user_id = :u",
                    role=mapped.role,
                    o=mapped.org_id,
                    u=user_id,
                )
                conn.run("COMMIT")
            except BaseException:
                conn.run("ROLLBACK")
                raise
        return str(user_id)

    def _link_or_create(self, conn, mapped: MappedUser, *, email_verified: bool) -> list:
        existing = conn.run(
            "SELECT user_id, disabled_at, org_id, oidc_subject, region FROM console_users WHERE email = :e FOR UPDATE",
            e=mapped.email,
        )
        if existing:
            user_id, disabled_at, org_id, subject, region = existing[0]
            if region != self.accounts.region or subject is not None or not email_verified or org_id != mapped.org_id:
                raise OidcError(
                    "A console account with your e-mail address already exists and cannot be linked to your "
                    "identity provider account. Ask a platform admin."
                )
            conn.run(
                "UPDATE console_users SET oidc_issuer = :i, oidc_subject = :s WHERE user_id = :u",
                i=self.client.settings.issuer,
                s=mapped.subject,
                u=user_id,
            )
            return [(user_id, disabled_at)]
        user_id = "usr_" + secrets.token_hex(8)
        conn.run(
            "INSERT INTO console_users (user_id, email, region, role, org_id, password_hash, created_at, created_by, "
            "oidc_issuer, oidc_subject) VALUES (:u, :e, :r, :role, :o, NULL, :t, 'sso', :i, :s)",
            u=user_id,
            e=mapped.email,
            r=self.accounts.region,
            role=mapped.role,
            o=mapped.org_id,
            t=self.accounts.clock(),
            i=self.client.settings.issuer,
            s=mapped.subject,
        )
        return [(user_id, None)]
