"""Liveness (``/health``, no I/O) apart from readiness (``/health/ready``, the database answers)."""

from __future__ import annotations

import json

from regiongate.gateway.runtime.transport import Request
from regiongate.store.memory import MemoryStore
from tests.fixtures.gateway import make_gateway


class DownStore(MemoryStore):
    def ping(self) -> None:
        raise ConnectionRefusedError("database down")


class UpStore(MemoryStore):
    pings = 0

    def ping(self) -> None:
        self.pings += 1


def test_readiness_reports_the_database_and_liveness_does_not_touch_it(eu_runtime):
    down, _ = make_gateway(eu_runtime, DownStore())
    alive = down.handle(Request("GET", "/health", {}))
    ready = down.handle(Request("GET", "/health/ready", {}))
    assert alive.status == 200
    assert ready.status == 503 and ready.headers["retry-after"] == "5"
    assert json.loads(ready.body) == {"status": "unavailable", "region": "eu", "database": "unreachable"}
    store = UpStore()
    up, sink = make_gateway(eu_runtime, store)
    ready = up.handle(Request("GET", "/health/ready", {}))
    assert ready.status == 200 and json.loads(ready.body)["database"] == "ok"
    assert store.pings == 1 and sink.events == []  # no audit event for health checks
