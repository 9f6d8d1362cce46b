"""The device cookie: a browser that signed in to an account before may sign in to it despite the account-wide
hold (``auth.ACCOUNT_FAILURES``), so an attacker spreading failures over many addresses cannot keep its owner
out. Still throttled per address and account, and per address (``Accounts.is_locked``); still needs the
password. Without the cookie (a new browser) the hold applies as before.

The cookie is ``v1.<issued, unix seconds>.<HMAC-SHA256 of the region, the account's e-mail and the issue
time>``, signed with one random key per region kept in the region's database (``console_device_keys``,
migration 0008) so that every console task accepts it. It names no account in clear and holds no secret of
the account; it expires after ``DEVICE_LIFETIME``. One account per browser: signing in as another replaces it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

DEVICE_LIFETIME = timedelta(days=30)
_VERSION = "v1"
_CLOCK_SLACK = timedelta(minutes=5)  # console tasks' clocks may differ a little


def _email(email: str | None) -> str:
    return (email or "")[:254].strip().lower()


class DeviceTrust:
    def __init__(self, pool: Any, region: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.pool = pool
        self.region = region
        self.clock = clock
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        if self._key is None:
            with self._lock, self.pool.connection() as conn:
                if self._key is None:
                    conn.run(
                        "INSERT INTO console_device_keys (key_id, secret, created_at) VALUES (1, :s, :t) "
                        "ON CONFLICT (key_id) DO NOTHING",
                        s=secrets.token_bytes(32),
                        t=self.clock(),
                    )
                    self._key = bytes(conn.run("SELECT secret FROM console_device_keys WHERE key_id = 1")[0][0])
        return self._key

    def _signature(self, email: str, issued: int) -> str:
        message = f"{_VERSION}|{self.region}|{_email(email)}|{issued}".encode()
        digest = hmac.new(self._secret(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def issue(self, email: str) -> str:
        """The cookie value for a browser that has just signed in to ``email``."""
        issued = int(self.clock().timestamp())
        return f"{_VERSION}.{issued}.{self._signature(email, issued)}"

    def trusted(self, email: str | None, value: str | None) -> bool:
        """Whether ``value`` is an unexpired device cookie of this region for ``email``."""
        if not value or len(value) > 128 or not email:
            return False
        version, _, rest = value.partition(".")
        issued_text, _, signature = rest.partition(".")
        if version != _VERSION or not issued_text.isdigit() or not signature:
            return False
        issued = int(issued_text)
        now = self.clock()
        try:
            at = datetime.fromtimestamp(issued, UTC)
        except (OverflowError, OSError, ValueError):
            return False
        if at > now + _CLOCK_SLACK or now - at >= DEVICE_LIFETIME:
            return False
        return hmac.compare_digest(signature, self._signature(email, issued))
