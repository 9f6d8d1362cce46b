"""Pre-call check: requests and tokens per minute and concurrent requests, per key and per organisation.

Counted in the region's store (a sliding one-minute window, ``store.rate_window``), atomically, so every
instance of the region shares the same limits. A refusal is a 429 with ``Retry-After``; every answer to a
limited key carries the ``x-ratelimit-*`` headers OpenAI sends. Tokens are counted at admission as the
estimated input plus the request's max output tokens, and corrected to the actual usage when the request
ends (which also frees its concurrency slot; a crashed instance's slot expires).

Whether a key or its org has limits at all is cached for the key cache TTL, so an unlimited key costs no
store round trip; limits set in the console or CLI apply within that time (their values are read on every
admission).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from regiongate.common.clock import Clock
from regiongate.common.read_cache import ReadCache
from regiongate.contract.errors import RateLimited
from regiongate.contract.limits import RATE_WINDOW_SECONDS, SPEND_HOLD_SECONDS
from regiongate.gateway.runtime.checks import Call
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.guardrails import estimate_tokens
from regiongate.gateway.runtime.store_errors import store_call
from regiongate.store import RateAdmission, RateWindow, Store

log = logging.getLogger("regiongate.gateway")

_WHAT = {
    "requests": "requests per minute",
    "tokens": "tokens per minute",
    "concurrency": "concurrent requests",
}


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``250ms``, ``17s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(int(seconds * 1000), 0)}ms"
    whole = int(-(-seconds // 1))  # rounded up: never earlier than the reset
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def ratelimit_headers(windows: Iterable[RateWindow]) -> dict[str, str]:
    """The tightest of the key's and the org's windows, for requests and for tokens."""
    headers: dict[str, str] = {}
    windows = list(windows)
    by_requests = [w for w in windows if w.requests_limit is not None]
    if by_requests:
        w = min(by_requests, key=lambda w: (w.requests_remaining or 0, -w.requests_reset_seconds))
        headers["x-ratelimit-limit-requests"] = str(w.requests_limit)
        headers["x-ratelimit-remaining-requests"] = str(w.requests_remaining)
        headers["x-ratelimit-reset-requests"] = duration(w.requests_reset_seconds)
    by_tokens = [w for w in windows if w.tokens_limit is not None]
    if by_tokens:
        w = min(by_tokens, key=lambda w: (w.tokens_remaining or 0, -w.tokens_reset_seconds))
        headers["x-ratelimit-limit-tokens"] = str(w.tokens_limit)
        headers["x-ratelimit-remaining-tokens"] = str(w.tokens_remaining)
        headers["x-ratelimit-reset-tokens"] = duration(w.tokens_reset_seconds)
    return headers


class RateLimiter:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        ttl: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        window_seconds: float = RATE_WINDOW_SECONDS,
        hold_seconds: float = SPEND_HOLD_SECONDS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.window_seconds = window_seconds
        self.hold = timedelta(seconds=hold_seconds)
        self._limited: ReadCache[tuple[str, str], bool] = ReadCache(
            "rate limits", ttl, max_entries=20_000, monotonic=monotonic
        )

    def _has_limits(self, scope: str, scope_id: str) -> bool:
        return self._limited.get(
            (scope, scope_id), lambda: store_call(lambda: self.store.rate_limits(scope, scope_id)).any()
        )

    def __call__(self, call: Call) -> None:
        ctx, key = call.ctx, call.key
        if not self._has_limits("key", key.key_id) and not self._has_limits("org", key.org_id):
            return
        now = self.clock()
        admission = RateAdmission(
            request_id=ctx.request_id,
            key_id=key.key_id,
            org_id=key.org_id,
            tokens=estimate_tokens(call.texts) + call.max_output_tokens,
            now=now,
            hold_until=now + self.hold,
            window_seconds=self.window_seconds,
        )
        decision = store_call(lambda: self.store.admit_rate(admission))
        ctx.rate_headers = ratelimit_headers(decision.windows)
        if decision.admitted:
            ctx.rate_held = bool(decision.windows)
            return
        whose = "this key" if decision.refused_scope == "key" else f"organisation {key.org_id}"
        what = _WHAT.get(decision.refused_limit or "", "rate limit")
        if decision.never:
            raise RateLimited(
                f"this request's {admission.tokens} tokens (input and max output) exceed the {what} limit of {whose}; "
                "lower max_tokens",
                retry_after=decision.retry_after_seconds,
            )
        raise RateLimited(
            f"{whose} is at its limit of {what}; retry after {duration(decision.retry_after_seconds)}",
            retry_after=decision.retry_after_seconds,
        )

    def release(self, ctx: RequestContext) -> None:
        """Free the request's concurrency slot and count its actual tokens. A failure only logs: the slot
        then expires and the estimate stays counted for the window."""
        if not ctx.rate_held:
            return
        ctx.rate_held = False
        try:
            self.store.release_rate(ctx.request_id, ctx.input_tokens + ctx.output_tokens)
        except Exception as exc:
            log.error(
                "rate-limit release failed",
                extra={"fields": {"request_id": ctx.request_id, "error": type(exc).__name__}},
            )
