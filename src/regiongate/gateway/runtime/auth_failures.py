"""Failed authentications: counted per source address and per key prefix, not audited one by one, and
throttled per source address.

A flood of made-up keys would otherwise write one audit row (in AWS, one SQS message) per request. Instead,
each failure increments counters of the current window; when the window closes, one log line gives the
totals per source and per key prefix (``rk-eu-`` and the key's first characters, as the console shows them,
never the key). A source with ``limit`` failures in a window gets 429 with ``Retry-After`` until the window
ends, before any key lookup. Counters are per process (per Lambda instance): bounded in memory, and a
throttle that needs no shared state, so nothing about a client leaves the instance.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from regiongate.contract.errors import GatewayError

log = logging.getLogger("regiongate.gateway")
_PREFIX_RE = re.compile(r"^(rk-[a-z]{2,8}-)([A-Za-z0-9_-]{0,6})")
_SOURCE_RE = re.compile(r"^[0-9A-Fa-f.:]{2,45}$")  # an IPv4 or IPv6 address, nothing else is kept
MAX_SOURCES = 10_000  # distinct sources tracked per window; further ones are counted as "other"
MAX_PREFIXES = 1_000
UNAUTHENTICATED = frozenset({"invalid_api_key", "region_mismatch", "authentication_throttled"})


class AuthenticationThrottled(GatewayError):
    status, type = 429, "authentication_throttled"

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed authentications from this address; retry later")
        self.retry_after = retry_after


def source_address(headers: Mapping[str, str]) -> str | None:
    """The client's address as the load balancer saw it: the last ``X-Forwarded-For`` entry (the ALB appends
    the peer it accepted; entries before it are whatever the client sent)."""
    forwarded = headers.get("x-forwarded-for", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    return last if _SOURCE_RE.match(last) else None


def key_prefix(headers: Mapping[str, str]) -> str:
    """What identifies a presented key without revealing it: its region part and first 6 characters."""
    auth = headers.get("authorization", "") or ""
    value = auth.partition(" ")[2].strip() if auth else (headers.get("api-key") or "").strip()
    if not value:
        return "none"
    match = _PREFIX_RE.match(value)
    return match.group(1) + match.group(2) if match else "malformed"


class AuthFailures:
    def __init__(
        self, *, limit: int = 50, window: float = 60.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._start = monotonic()
        self._sources: Counter[str] = Counter()
        self._prefixes: Counter[str] = Counter()
        self.total = 0  # failures in the current window
        self.reported: list[dict[str, Any]] = []  # the last windows' summaries (the log lines), newest last, at most 10

    def _roll(self, now: float) -> None:
        if now - self._start < self.window:
            return
        if self.total:
            summary = {
                "window_seconds": self.window,
                "failures": self.total,
                "sources": len(self._sources),
                "by_source": dict(self._sources.most_common(20)),
                "by_key_prefix": dict(self._prefixes.most_common(20)),
            }
            log.warning("authentication failures", extra={"fields": summary})
            self.reported = [*self.reported[-9:], summary]
        self._sources.clear()
        self._prefixes.clear()
        self.total = 0
        self._start = now - (now - self._start) % self.window

    def check(self, source: str | None) -> None:
        """Raises :class:`AuthenticationThrottled` when ``source`` is at its limit in this window."""
        if source is None:  # no address known (e.g. not behind the load balancer): count, never throttle
            return
        now = self.monotonic()
        with self._lock:
            self._roll(now)
            if self._sources.get(source, 0) >= self.limit:
                raise AuthenticationThrottled(self._start + self.window - now)

    def record(self, source: str | None, prefix: str) -> None:
        now = self.monotonic()
        with self._lock:
            self._roll(now)
            self.total += 1
            name = source or "unknown"
            if name in self._sources or len(self._sources) < MAX_SOURCES:
                self._sources[name] += 1
            else:
                self._sources["other"] += 1
            if prefix in self._prefixes or len(self._prefixes) < MAX_PREFIXES:
                self._prefixes[prefix] += 1
            else:
                self._prefixes["other"] += 1

    def counts(self) -> tuple[int, dict[str, int], dict[str, int]]:
        with self._lock:
            self._roll(self.monotonic())
            return self.total, dict(self._sources), dict(self._prefixes)
