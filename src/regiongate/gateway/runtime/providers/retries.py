"""Bounded retries with jittered exponential back-off, the same for every provider."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from regiongate.contract.errors import UpstreamError
from regiongate.gateway.runtime.providers.base import UpstreamTimer

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0**attempt) * (0.5 + random.random() / 2)


def with_retries(
    call: Callable[[], T], policy: RetryPolicy, timer: UpstreamTimer, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Retry connection errors, 429 and 5xx (``UpstreamError.retryable``) up to ``policy.attempts`` times."""
    for attempt in range(policy.attempts):
        timer.attempts += 1
        try:
            return call()
        except UpstreamError as exc:
            if not exc.retryable or attempt == policy.attempts - 1:
                raise
        sleep(policy.delay(attempt))
    raise AssertionError("unreachable")
