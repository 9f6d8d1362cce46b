"""No answered request without its audit event: while the audit store is unreachable the local sink keeps
events in a bounded buffer and retries them; when the buffer is full the gateway answers 503; after the
outage, requests answered == audit rows. The database is a cluster of this test's own (never the shared one)."""

from __future__ import annotations

import threading
import time

import pytest

from regiongate.audit.runtime.events import BackgroundAuditSink
from regiongate.audit.runtime.writer import write_bodies
from tests.fixtures.fakes import FakeOpenAI
from tests.fixtures.gateway import body_of, make_gateway, new_key, post
from tests.fixtures.own_postgres import own_postgres  # noqa: F401  (fixture)

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}


def _event(n: int) -> dict:
    from regiongate.audit.runtime.events import new_event

    return new_event(
        request_id=f"00000000-0000-4000-8000-{n:012d}",
        created_at="2026-03-01T12:00:00+00:00",
        region="eu",
        endpoint="chat",
        key_id=None,
        org_id=None,
        team_id=None,
        user_id=None,
        model=None,
        provider=None,
        input_tokens=0,
        output_tokens=0,
        cost_usd="0",
        total_ms=1.0,
        upstream_ms=0.0,
        status=200,
        error_type=None,
        stream=False,
        guardrail="pass",
        violations=[],
    )


class FlakyWriter:
    """Fails while ``down`` is set (raising, or reporting every body failed like write_bodies does)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.down = threading.Event()
        self.written: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, bodies):
        if self.down.is_set():
            if self.mode == "raise":
                raise ConnectionError("database unavailable")
            return [str(i) for i in range(len(bodies))]
        with self.lock:
            self.written.extend(bodies)
        return []


@pytest.mark.parametrize("mode", ["raise", "report"])
def test_sink_keeps_failed_batches_in_order_and_admits_only_what_fits(mode):
    writer = FlakyWriter(mode)
    sink = BackgroundAuditSink(writer, interval=3600, capacity=3, batch_size=2)  # drained by flush() only
    try:
        writer.down.set()
        for n in range(3):
            assert sink.admit()
            sink.emit(_event(n))
            sink.release()
        assert not sink.admit()  # full: the next request is refused before it is served
        assert sink.flush() is False and sink.pending == 3 and writer.written == []
        writer.down.clear()
        assert sink.flush() is True and sink.pending == 0
        assert [b.count(f"{n:012d}") for n, b in enumerate(writer.written)] == [1, 1, 1]  # in order, once each
        assert sink.admit() and sink.admit()  # room again; and a request without an event gives its room back
        sink.release()
        sink.release()
        assert [sink.admit() for _ in range(4)] == [True, True, True, False]
    finally:
        sink.close(timeout=1)


def test_partial_failure_keeps_only_the_failed_bodies():
    attempts: list[int] = []

    def writer(bodies):
        attempts.append(len(bodies))
        return ["1"] if len(attempts) == 1 else []

    sink = BackgroundAuditSink(writer, interval=3600, capacity=10, batch_size=10)
    try:
        for n in range(3):
            sink.emit(_event(n))
        assert sink.flush() is False and sink.pending == 1
        assert sink.flush() is True and attempts == [3, 1]
    finally:
        sink.close(timeout=1)


def _rows(store) -> int:
    with store.pool.connection() as conn:
        return conn.run("SELECT count(*) FROM audit_events")[0][0]


@pytest.mark.postgres
def test_database_outage_buffers_then_refuses_and_loses_nothing(own_postgres, eu_runtime):  # noqa: F811
    from regiongate.store.memory import MemoryStore
    from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    # Keys and budgets from memory, audit events to the cluster that goes down: the outage is the audit
    # store's alone, so what is tested is the sink's buffer and the gateway's refusal, not key lookups.
    store = PostgresStore(ConnectionPool(ConnectionParams.from_url(own_postgres.url).connect, size=2))
    store.migrate()
    keys = MemoryStore()
    azure = FakeOpenAI(reply="Bonjour")
    capacity = 8
    sink = BackgroundAuditSink(
        lambda bodies: write_bodies(store, bodies), interval=0.05, capacity=capacity, max_backoff=0.2
    )
    gateway, _ = make_gateway(eu_runtime, keys, azure=azure, sink=sink)
    try:
        key = new_key(keys)
        answered = 0
        for _ in range(3):
            assert post(gateway, "/v1/chat/completions", CHAT, key).status == 200
            answered += 1
        assert sink.flush() and _rows(store) == answered

        own_postgres.stop()
        statuses = [post(gateway, "/v1/chat/completions", CHAT, key).status for _ in range(capacity + 3)]
        # Each answered request reserved its event's room; once the buffer holds `capacity` events, 503.
        assert statuses == [200] * capacity + [503] * 3
        answered += capacity
        refused = post(gateway, "/v1/chat/completions", CHAT, key)
        assert refused.status == 503 and body_of(refused)["error"]["type"] == "audit_unavailable"
        assert sink.pending == capacity

        own_postgres.start()
        deadline = time.monotonic() + 60  # the writer retries on its own; bounded wait, not a speed target
        while sink.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.pending == 0
        assert _rows(store) == answered  # requests answered == audit rows
        assert post(gateway, "/v1/chat/completions", CHAT, key).status == 200
        assert sink.flush() and _rows(store) == answered + 1
        for _ in range(3):  # audited one by one or only counted: either way the room comes back
            assert post(gateway, "/v1/chat/completions", CHAT, "rk-eu-" + "x" * 40).status == 401
        assert sink.reserved == 0
    finally:
        sink.close(timeout=5)
        store.pool.close()
        azure.close()
