"""What every provider module shares: the provider protocol, the upstream timer and the loopback test.

A leaf below the registry (``providers/__init__``) and the provider implementations, so that neither
imports the other's package module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from regiongate.common.clock import Clock, utc_now
from regiongate.contract.document import ModelEntry
from regiongate.contract.errors import UpstreamTimeout
from regiongate.gateway.runtime.translate import ChatResult, Delta, EmbeddingResult

T = TypeVar("T")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class UpstreamTimer:
    """Accumulates the time spent waiting on the upstream for one request, and carries its one overall
    deadline (an instant of ``monotonic``; None: none), which every attempt, read and back-off stays within,
    and the request's wall clock (``clock``: what an HTTP-date ``Retry-After`` without a ``Date`` is measured
    from, the gateway's injected clock, so that a pinned clock reaches the providers)."""

    __slots__ = ("attempts", "clock", "deadline", "monotonic", "seconds")

    def __init__(
        self,
        deadline: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock = utc_now,
    ) -> None:
        self.seconds = 0.0
        self.attempts = 0
        self.deadline = deadline
        self.monotonic = monotonic
        self.clock = clock

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.monotonic()

    def read_timeout(self, default: float) -> float:
        """The timeout of the next connect or read: ``default``, shortened to what is left of the deadline.
        Raises ``UpstreamTimeout`` when nothing is left."""
        left = self.remaining()
        if left is None:
            return default
        if left <= 0:
            raise UpstreamTimeout("the provider did not answer within the gateway's deadline")
        return min(default, left)

    def timed(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, its time added to the upstream's."""
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - start


def _http_date(value: Any) -> datetime | None:
    try:
        moment = parsedate_to_datetime(str(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None or moment.tzinfo is None:  # RFC 9110: an HTTP-date is always GMT
        return None
    return moment


def retry_after_seconds(headers: Any, clock: Clock = utc_now) -> float | None:
    """The upstream's ``retry-after-ms`` (OpenAI, Azure) or ``Retry-After`` in seconds or as an HTTP-date;
    None when absent or unreadable. An HTTP-date is measured from the same answer's ``Date`` header when it
    has one (the upstream's own clock: no skew between its clock and ours), else from ``clock``; a date in
    the past is 0 seconds. Whether the wait fits is the caller's decision (the deadline, ``max_retry_after``)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(str(value).strip()) * scale
        except ValueError:
            if name != "retry-after" or (until := _http_date(value)) is None:
                continue
            sent = headers.get("date")
            reference = (_http_date(sent) if sent is not None else None) or clock()
            seconds = max((until - reference).total_seconds(), 0.0)
        if seconds >= 0 and seconds == seconds and seconds != float("inf"):
            return seconds
    return None


class Provider(Protocol):
    name: str

    def chat(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> ChatResult: ...
    def chat_stream(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> Iterator[Delta]: ...
    def embed(
        self,
        model: ModelEntry,
        inputs: list[str] | list[list[int]],
        timer: UpstreamTimer,
        *,
        dimensions: int | None = None,
    ) -> EmbeddingResult: ...


def is_loopback_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in LOOPBACK_HOSTS and not parts.username
