"""The store after a database restart, and the writer with a poison message in its batch (real PostgreSQL)."""

from __future__ import annotations

import json
import uuid

import pytest
from pg8000.exceptions import DatabaseError, InterfaceError

from regiongate.audit.runtime import writer as audit_writer
from regiongate.audit.runtime.events import new_event
from regiongate.contract.audit_event import parse_event
from regiongate.store.keys import KeyService, hash_key
from regiongate.store.postgres import ConnectionParams, ConnectionPool, PostgresStore, connection_lost
from tests.fixtures.clock import NOW, pinned

pytestmark = [pytest.mark.postgres]


def event(key, **values):
    base = dict(
        request_id=str(uuid.uuid4()),
        created_at=NOW.isoformat(),
        region="eu",
        endpoint="chat",
        key_id=key.key_id,
        org_id=key.org_id,
        model="claude-sonnet-4-5",
        provider="bedrock-eu",
        input_tokens=10,
        output_tokens=5,
        cost_usd="0.001",
        status=200,
    )
    base.update(values)
    return new_event(**base)


def _terminate_all(database_url: str) -> int:
    """What a server restart does to the store's connections: every backend of the database is ended."""
    name = ConnectionParams.from_url(database_url).database
    admin = ConnectionParams.from_url(database_url).connect()
    try:
        rows = admin.run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            d=name,
        )
    finally:
        admin.close()
    return len(rows)


def _open_connections(store: PostgresStore, n: int) -> None:
    """Check out ``n`` connections at once so the pool holds ``n`` idle ones afterwards."""
    import contextlib

    with contextlib.ExitStack() as stack:
        for _ in range(n):
            stack.enter_context(store.pool.connection()).run("SELECT 1")


def test_after_a_restart_idempotent_reads_never_fail_and_dead_connections_are_all_replaced(pg_store, database_url):
    created = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme")
    _open_connections(pg_store, 4)
    assert _terminate_all(database_url) >= 4
    failures = 0
    for _ in range(20):  # 5x the pool: each dead connection would surface once without the retire-all
        try:
            assert pg_store.find_key_by_hash(hash_key(created.key)).key_id == created.record.key_id
        except Exception:
            failures += 1
    print(f"reads after restart: 20, failed: {failures}, connections replaced: {pg_store.pool.replaced}")
    assert failures == 0
    assert pg_store.pool.replaced >= 4


def test_after_a_restart_a_non_retried_write_fails_at_most_once(pg_store, database_url):
    """Writes outside ``_run`` (key creation) are not retried: the first one on a dead connection fails, and
    that failure retires the other dead connections, so the next writes succeed."""
    service = KeyService(pg_store, clock=pinned())
    service.create(region_code="eu", org_id="acme")
    _open_connections(pg_store, 4)
    _terminate_all(database_url)
    outcomes = []
    for _ in range(8):
        try:
            service.create(region_code="eu", org_id="acme")
            outcomes.append("ok")
        except Exception as exc:
            assert connection_lost(exc), exc
            outcomes.append("lost")
    print(f"writes after restart: {len(outcomes)}, failed: {outcomes.count('lost')}")
    assert outcomes.count("lost") <= 1
    assert outcomes[1:] == ["ok"] * 7


def test_a_connection_idle_past_the_validation_age_is_checked_before_use(database_url):
    now = [0.0]
    pool = ConnectionPool(ConnectionParams.from_url(database_url).connect, size=2, monotonic=lambda: now[0])
    store = PostgresStore(pool, clock=pinned())
    try:
        store.pool.ping()
        _terminate_all(database_url)
        now[0] = pool.validate_after + 1  # e.g. a Lambda frozen between invocations
        with pool.connection() as conn:  # not via _run: no retry would hide a dead connection
            assert conn.run("SELECT 1") == [[1]]
        assert pool.replaced == 1
    finally:
        pool.close()


def test_a_store_on_a_database_that_is_down_raises_a_connection_loss():
    pool = ConnectionPool(ConnectionParams.from_url("postgresql://u:p@127.0.0.1:9/none").connect, size=1)
    with pytest.raises(InterfaceError, match=r"(?i)connect|refused") as info:
        PostgresStore(pool).ping()
    assert connection_lost(info.value)


def test_a_rejected_statement_is_not_a_connection_loss(pg_store):
    with pytest.raises(DatabaseError, match="division by zero") as info, pg_store.pool.connection() as conn:
        conn.run("SELECT 1 / 0")
    assert not connection_lost(info.value)


POISON = {
    "nul in a text field": {"model": "claude\x00-3"},
    "cost beyond numeric(20,10)": {"cost_usd": "12345678901.5"},
}


@pytest.mark.parametrize("poison", POISON.values(), ids=list(POISON))
def test_a_poison_message_fails_alone_and_the_rest_of_the_batch_is_written(pg_store, poison):
    key = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme").record
    good = [event(key) for _ in range(9)]
    bad = event(key, **poison)
    parse_event(bad)  # valid as an event: it is PostgreSQL that rejects it
    messages = [(f"m{i}", json.dumps(e)) for i, e in enumerate(good[:4])]
    messages += [("poison", json.dumps(bad))]
    messages += [(f"m{i}", json.dumps(e)) for i, e in enumerate(good[4:], start=4)]
    failed = audit_writer.write_messages(pg_store, messages)
    with pg_store.pool.connection() as conn:
        written = conn.run("SELECT count(*) FROM audit_events")[0][0]
    print(f"batch of {len(messages)} with one poison message: written {written}, failed {failed}")
    assert failed == ["poison"]
    assert written == 9
    [row] = pg_store.spend(scope="org", scope_id="acme")
    assert row.requests == 9  # rollups only for the rows written, once each
    # Redelivered (SQS retries the failed id only, and may repeat others): nothing counts twice.
    assert audit_writer.write_messages(pg_store, messages) == ["poison"]
    [row] = pg_store.spend(scope="org", scope_id="acme")
    assert row.requests == 9


def test_a_lost_database_fails_the_whole_batch_without_bisecting():
    calls = []

    class Down:
        def write_audit_events(self, events):
            calls.append(len(events))
            raise ConnectionRefusedError("database down")

    key = type("K", (), {"key_id": "key_0000000000000000", "org_id": "acme"})()
    messages = [(f"m{i}", json.dumps(event(key))) for i in range(8)]
    assert audit_writer.write_messages(Down(), messages) == [f"m{i}" for i in range(8)]
    assert calls == [8]
