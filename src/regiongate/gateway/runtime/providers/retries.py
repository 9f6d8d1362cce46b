"""Bounded retries with jittered exponential back-off, the same for every provider, within the request's
one overall deadline (``UpstreamTimer.deadline``: attempts, reads and back-off included).

A retry goes to the same provider the model names, in this region: the registry has no fallback, so a
retry never reaches another region. An upstream ``Retry-After`` is waited for when it fits in the deadline
(and is at most ``max_retry_after``); otherwise the 429 is final and its ``Retry-After`` goes to the client.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from regiongate.contract.errors import UpstreamError, UpstreamTimeout
from regiongate.gateway.runtime.providers.base import UpstreamTimer

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 20.0  # a longer upstream Retry-After is passed to the client, not waited for
    min_attempt_seconds: float = 1.0  # no attempt starts with less of the deadline left

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0**attempt) * (0.5 + random.random() / 2)


def with_retries(
    call: Callable[[], T], policy: RetryPolicy, timer: UpstreamTimer, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Retry connection errors, 429 and 5xx (``UpstreamError.retryable``) up to ``policy.attempts`` times,
    while the deadline leaves room for the wait and another attempt."""
    for attempt in range(policy.attempts):
        left = timer.remaining()
        if left is not None and left <= 0:
            raise UpstreamTimeout("the provider did not answer within the gateway's deadline")
        timer.attempts += 1
        try:
            return call()
        except UpstreamError as exc:
            if not exc.retryable or attempt == policy.attempts - 1:
                raise
            delay = policy.delay(attempt)
            if exc.retry_after is not None:
                if exc.retry_after > policy.max_retry_after:
                    raise
                delay = max(delay, exc.retry_after)
            left = timer.remaining()
            if left is not None and delay + policy.min_attempt_seconds > left:
                raise  # no time to wait and try again: this answer (and its Retry-After) is final
        sleep(delay)
    raise AssertionError("unreachable")
