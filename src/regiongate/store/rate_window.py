"""The sliding rate window both stores apply (pure: the store reads the counts and writes the outcome).

A window (one minute in production) is kept as ``BUCKETS`` counters of requests and tokens per scope, each
``window / BUCKETS`` long; a request is admitted while the counters of the last window, plus it, stay within
the limits. So any window-long span admits at most the limit plus one bucket's worth (a sixtieth), unlike a
fixed minute (twice the limit across a minute boundary) or a full token bucket (twice at the start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from regiongate.store import RateLimits, RateWindow

BUCKETS = 60


def bucket_of(now: datetime, window_seconds: float) -> int:
    return int(now.timestamp() * BUCKETS // window_seconds)


def oldest_bucket(now_bucket: int) -> int:
    """The first bucket still inside the window that ends with ``now_bucket``."""
    return now_bucket - BUCKETS + 1


@dataclass(frozen=True)
class Verdict:
    window: RateWindow
    refused: str | None  # requests, tokens or concurrency
    retry_after: float
    never: bool


def judge(
    scope: str,
    limits: RateLimits,
    buckets: Sequence[tuple[int, int, int]],
    inflight: int,
    tokens: int,
    now: datetime,
    window_seconds: float,
) -> Verdict:
    """``buckets``: (bucket, requests, tokens) inside the window, oldest first; ``inflight``: unexpired
    concurrency slots of the scope. Refusals are not counted."""
    now_ts = now.timestamp()
    width = window_seconds / BUCKETS
    used_requests = sum(r for _, r, _ in buckets)
    used_tokens = sum(t for _, _, t in buckets)

    def freed_after(excess: int, column: int) -> float:
        """Seconds until the oldest buckets holding at least ``excess`` have left the window."""
        freed = 0
        for row in buckets:
            freed += row[column]
            if freed >= excess:
                return max((row[0] + BUCKETS) * width - now_ts, 0.001)
        return window_seconds

    refused, retry, never = None, 0.0, False
    rpm, tpm, concurrent = limits.requests_per_minute, limits.tokens_per_minute, limits.concurrent_requests
    if concurrent is not None and inflight >= concurrent:
        refused, retry = "concurrency", max(retry, 1.0)
    if rpm is not None and used_requests + 1 > rpm:
        refused, retry = "requests", max(retry, freed_after(used_requests + 1 - rpm, 1))
    if tpm is not None and tokens > tpm:
        refused, retry, never = "tokens", max(retry, window_seconds), True
    elif tpm is not None and used_tokens + tokens > tpm:
        refused, retry = "tokens", max(retry, freed_after(used_tokens + tokens - tpm, 2))
    admitted = refused is None
    requests_after = used_requests + (1 if admitted else 0)
    tokens_after = used_tokens + (tokens if admitted else 0)
    # Reset: when the oldest counted bucket leaves the window (the current one, if nothing older is counted).
    first = buckets[0][0] if buckets else bucket_of(now, window_seconds)
    reset = max((first + BUCKETS) * width - now_ts, 0.0)
    window = RateWindow(
        scope=scope,
        requests_limit=rpm,
        requests_remaining=None if rpm is None else max(rpm - requests_after, 0),
        requests_reset_seconds=reset if rpm is not None and requests_after else 0.0,
        tokens_limit=tpm,
        tokens_remaining=None if tpm is None else max(tpm - tokens_after, 0),
        tokens_reset_seconds=reset if tpm is not None and tokens_after else 0.0,
    )
    return Verdict(window=window, refused=refused, retry_after=retry, never=never)
