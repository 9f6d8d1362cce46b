"""PostgreSQL stopped and restarted while the gateway is under load: keys, budgets and the audit log all in the
one database (a cluster of this test's own, never the shared test server), events through the local audit
path (the bounded buffer the gateway refuses with a 503 when full) into the writer. Afterwards every request
the gateway answered has exactly one audit row, and no request it refused for lack of an audit store has one.
The waits are bounded (a stuck writer fails the test), never speed targets."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from regiongate.audit.runtime.events import BackgroundAuditSink
from regiongate.audit.runtime.writer import write_bodies
from tests.fixtures.fakes import FakeOpenAI
from tests.fixtures.gateway import make_gateway, new_key, post
from tests.fixtures.own_postgres import own_postgres  # noqa: F401  (fixture)

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
CLIENTS = 4
CAPACITY = 64  # events the local audit path may hold while the store is down; then 503 audit_unavailable
OUTAGE_SECONDS = 1.0  # how long the database stays down while the clients keep sending
ENOUGH = 20  # 200s wanted before the stop and after the restart
WAIT_SECONDS = 60  # upper bound for each wait (recovery, the writer catching up): a stuck path fails the test


def _audit_rows(store) -> list[str]:
    with store.pool.connection() as conn:
        return [row[0] for row in conn.run("SELECT request_id::text FROM audit_events")]


@pytest.mark.postgres
def test_requests_answered_equal_audit_rows_across_a_database_restart(own_postgres, eu_runtime):  # noqa: F811
    from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore

    store = PostgresStore(ConnectionPool(ConnectionParams.from_url(own_postgres.url).connect, size=4))
    store.migrate()
    azure = FakeOpenAI(reply="Bonjour")
    sink = BackgroundAuditSink(
        lambda bodies: write_bodies(store, bodies), interval=0.05, capacity=CAPACITY, max_backoff=0.2
    )
    gateway, _ = make_gateway(eu_runtime, store, azure=azure, sink=sink)
    answered: dict[str, int] = {}  # request id -> status, for every request the gateway answered
    refused: list[str] = []  # 503 audit_unavailable: not served, so no event
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    done = threading.Event()
    phase = ["before"]
    try:
        key = new_key(store)

        def client() -> None:
            while not done.is_set():
                response = post(gateway, "/v1/chat/completions", CHAT, key)
                error = (json.loads(response.body).get("error") or {}) if response.status != 200 else {}
                with lock:
                    statuses[f"{phase[0]}:{response.status}:{error.get('type', 'ok')}"] += 1
                    if error.get("type") == "audit_unavailable":
                        refused.append(response.headers["x-request-id"])
                    else:
                        answered[response.headers["x-request-id"]] = response.status
                time.sleep(0.005)

        def wait_for(name: str) -> None:
            deadline = time.monotonic() + WAIT_SECONDS
            while statuses[f"{name}:200:ok"] < ENOUGH and time.monotonic() < deadline:
                time.sleep(0.02)
            assert statuses[f"{name}:200:ok"] >= ENOUGH, dict(statuses)

        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(client) for _ in range(CLIENTS)]
            try:
                wait_for("before")
                phase[0] = "down"
                own_postgres.stop()  # mid-load: requests are in flight
                time.sleep(OUTAGE_SECONDS)
                own_postgres.start()
                phase[0] = "after"
                wait_for("after")
            finally:
                done.set()
                for future in futures:
                    future.result()

        deadline = time.monotonic() + WAIT_SECONDS
        while (sink.pending or sink.reserved) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.flush()
        rows = _audit_rows(store)
        print(
            f"\n{sum(statuses.values())} requests: {dict(sorted(statuses.items()))}; answered {len(answered)}, "
            f"refused (audit unavailable) {len(refused)}, audit rows {len(rows)}, distinct {len(set(rows))}"
        )
        assert len(rows) == len(set(rows))  # no duplicates
        assert set(rows) == set(answered)  # requests answered == audit rows, one for one
        assert not set(refused) & set(rows)
    finally:
        sink.close(timeout=5)
        store.pool.close()
        azure.close()
