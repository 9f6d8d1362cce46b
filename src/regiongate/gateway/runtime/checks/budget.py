"""Pre-call check: monthly budgets per key and per organisation, from the daily rollups."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

from regiongate.common.clock import Clock
from regiongate.contract.errors import BudgetExceeded
from regiongate.gateway.runtime.checks import Call
from regiongate.gateway.runtime.store_errors import store_call
from regiongate.store import KeyRecord, Store


class BudgetGuard:
    """Monthly budgets per key and per org, from the daily rollups, cached for ``ttl`` seconds."""

    def __init__(self, store: Store, ttl: float, monotonic: Callable[[], float], clock: Clock) -> None:
        self.store = store
        self.ttl = ttl
        self.monotonic = monotonic
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, call: Call) -> None:
        store_call(lambda: self.check(call.key))

    def _cached(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        now = self.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (now + self.ttl, value)
        return value

    def check(self, record: KeyRecord) -> None:
        month = self.clock().astimezone(UTC).date()
        label = f"{month.year:04d}-{month.month:02d}"  # in the cache key: a new month never reads last month's spend
        if record.monthly_budget_usd is not None:
            spent = self._cached(
                ("key", record.key_id, label), lambda: self.store.month_spend("key", record.key_id, month)
            )
            if spent >= record.monthly_budget_usd:
                raise BudgetExceeded(f"this key has used its monthly budget of {record.monthly_budget_usd} USD")
        org_budget = self._cached(("org-budget", record.org_id), lambda: self.store.org_budget(record.org_id))
        if org_budget is not None:
            spent = self._cached(
                ("org", record.org_id, label), lambda: self.store.month_spend("org", record.org_id, month)
            )
            if spent >= org_budget:
                raise BudgetExceeded(f"organisation {record.org_id} has used its monthly budget of {org_budget} USD")
