"""Store reads kept for a time-to-live, refreshed ahead of their expiry by one request while the others keep them.

The gateway caches what it asks the database on every request (the key's record, whether a key or an org has
rate limits, an org's or a team's budget) for ``ttl`` seconds. When such an entry simply expired, every request
that arrived until the read came back waited for it: at c=64 on one process that was 47 requests stalled up to
72 ms every 30 s (the served gateway's request log, issue 12), because the read's pg8000 thread gets the
interpreter lock back only slowly from a busy event loop. So in the last ``REFRESH_AHEAD`` of an entry's life the
first request to see it reads it again (it waits, as at a miss), while every other request keeps the cached
value, which is still within its ``ttl``. An entry in use is therefore refreshed before it expires, and what the
``ttl`` promises (a revoked key stops working within it) is unchanged. A refresh that fails leaves the cached value
to serve until it expires; the next request in the window tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger("regiongate.cache")

REFRESH_AHEAD = 0.2  # the share of an entry's time-to-live, at its end, in which one request refreshes it


class RefreshAhead:
    """The refresh window of one cache: which entries one request is refreshing now, so that the others do not."""

    def __init__(self, what: str) -> None:
        self.what = what  # named in the log line of a failed refresh
        self._claimed: set[Hashable] = set()
        self._lock = threading.Lock()

    def value(self, name: Hashable, expires_at: float, now: float, ttl: float, cached: V, reload: Callable[[], V]) -> V:
        """``cached`` (an entry still within its ``ttl``), or, for the one caller that finds it in its refresh
        window while nobody else is refreshing it, ``reload()``, which reads it again and keeps what it read. A
        ``reload`` that fails is logged and ``cached`` serves until it expires."""
        if expires_at - now > ttl * REFRESH_AHEAD:
            return cached
        with self._lock:
            if name in self._claimed:
                return cached
            self._claimed.add(name)
        try:
            return reload()
        except Exception as exc:
            log.warning(
                "cache refresh failed; the cached value serves until it expires",
                extra={"fields": {"cache": self.what, "error": type(exc).__name__}},
            )
            return cached
        finally:
            with self._lock:
                self._claimed.discard(name)


class ReadCache(Generic[K, V]):
    """``get(name, load)``: the cached value of ``name``, or ``load()``'s (kept ``ttl`` seconds). At most
    ``max_entries`` names; when full it starts again empty (the values are cheap to read again)."""

    def __init__(
        self, what: str, ttl: float, *, max_entries: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.monotonic = monotonic
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._refresh = RefreshAhead(what)

    def get(self, name: K, load: Callable[[], V]) -> V:
        now = self.monotonic()
        with self._lock:
            hit = self._entries.get(name)
        if hit is not None and hit[0] > now:
            return self._refresh.value(name, hit[0], now, self.ttl, hit[1], lambda: self._kept(name, now, load()))
        return self._kept(name, now, load())

    def _kept(self, name: K, now: float, value: V) -> V:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[name] = (now + self.ttl, value)
        return value
