"""The PostgreSQL store: migrations, keys, idempotent audit writes, rollups, partitions and retention."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from regiongate.audit.runtime import writer as audit_writer
from regiongate.audit.runtime.events import new_event
from regiongate.contract.errors import InvalidApiKey
from regiongate.store import migrate as migrations
from regiongate.store.keys import KeyAuthenticator, KeyService
from tests.fixtures.clock import NOW, pinned

pytestmark = [pytest.mark.postgres, pytest.mark.clock]
UTC = UTC


def event(key, **values):
    base = dict(
        request_id=str(uuid.uuid4()),
        created_at=NOW.isoformat(),
        region="eu",
        endpoint="chat",
        key_id=key.key_id,
        org_id=key.org_id,
        team_id=key.team_id,
        user_id=key.user_id,
        model="claude-sonnet-4-5",
        provider="bedrock-eu",
        input_tokens=100,
        output_tokens=50,
        cost_usd="0.00105",
        total_ms=12.5,
        upstream_ms=10.1,
        status=200,
    )
    base.update(values)
    return new_event(**base)


def test_migrations_are_numbered_and_idempotent(pg_store):
    assert [v for v, _, _ in migrations.migrations()] == list(range(1, len(migrations.migrations()) + 1))
    assert pg_store.migrate() == []  # already applied by the session fixture
    with pg_store.pool.connection() as conn:
        applied = sorted(r[0] for r in conn.run("SELECT version FROM schema_migrations"))
    assert applied == [v for v, _, _ in migrations.migrations()]


def test_keys_create_list_revoke(pg_store):
    service = KeyService(pg_store, clock=pinned())
    created = service.create(
        region_code="eu",
        org_id="acme",
        team_id="ml",
        user_id="ana",
        monthly_budget_usd=Decimal("25.50"),
        model_allowlist=("gpt-4o",),
    )
    [listed] = service.list(region_code="eu")
    assert listed.key_id == created.record.key_id and listed.display_prefix == created.key[:12]
    assert listed.monthly_budget_usd == Decimal("25.50") and listed.model_allowlist == ("gpt-4o",)
    assert service.list(org_id="globex") == []
    assert service.revoke(created.record.key_id) and not service.revoke(created.record.key_id)
    with pg_store.pool.connection() as conn:
        stored = conn.run("SELECT t::text FROM api_keys t")[0][0]
    assert created.key not in stored and created.key[12:] not in stored


def test_revoked_key_stops_working_within_ttl_against_postgres(pg_store):
    """The revocation is seen once the cached lookup expires (a fake monotonic clock, no sleeping)."""
    service = KeyService(pg_store, clock=pinned())
    created = service.create(region_code="eu", org_id="acme")
    now = [0.0]
    auth = KeyAuthenticator(pg_store, "eu", ttl_seconds=30, monotonic=lambda: now[0])
    headers = {"authorization": f"Bearer {created.key}"}
    auth.authenticate(headers)
    service.revoke(created.record.key_id)
    now[0] = 23.0
    auth.authenticate(headers)  # within the TTL (before its last fifth) the cached record still answers
    now[0] = 24.5  # in its last fifth one request reads the key again (common.read_cache): the revocation shows
    with pytest.raises(InvalidApiKey, match="revoked"):
        auth.authenticate(headers)
    now[0] = 30.5
    with pytest.raises(InvalidApiKey, match="revoked"):
        auth.authenticate(headers)


def test_writer_is_idempotent_and_rollups_never_double_count(pg_store):
    key = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="ml").record
    first, second = event(key), event(key, cost_usd="0.5", input_tokens=1, output_tokens=2)
    bodies = [json.dumps(first), json.dumps(second)]
    assert audit_writer.write_bodies(pg_store, bodies) == []
    # SQS delivers at least once: the same messages again, alone and mixed with a new one.
    third = event(key, cost_usd="0.25")
    assert audit_writer.write_bodies(pg_store, bodies + [json.dumps(third)]) == []
    assert audit_writer.write_bodies(pg_store, bodies) == []
    with pg_store.pool.connection() as conn:
        assert conn.run("SELECT count(*) FROM audit_events")[0][0] == 3
    today = NOW.date()
    for scope, scope_id in (("key", key.key_id), ("org", "acme"), ("team", "acme/ml")):
        [row] = pg_store.spend(scope=scope, scope_id=scope_id)
        assert (row.requests, row.input_tokens, row.output_tokens) == (3, 201, 102)
        assert row.cost_usd == Decimal("0.75105")
        assert pg_store.month_spend(scope, scope_id, today) == Decimal("0.75105")


def test_malformed_messages_fail_alone(pg_store):
    key = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme").record
    good = json.dumps(event(key))
    bad = [
        "not json",
        json.dumps({**event(key), "prompt": "smuggled"}),  # unknown field: content cannot ride along
        json.dumps({**event(key), "request_id": "1; DROP TABLE audit_events"}),
        json.dumps({**event(key), "cost_usd": "-1"}),
        json.dumps({**event(key), "created_at": "2026-01-01T00:00:00"}),
    ]
    failed = audit_writer.write_messages(pg_store, [("ok", good)] + [(f"bad{i}", b) for i, b in enumerate(bad)])
    assert failed == [f"bad{i}" for i in range(len(bad))]
    with pg_store.pool.connection() as conn:
        assert conn.run("SELECT count(*) FROM audit_events")[0][0] == 1


def test_violations_are_stored_without_content(pg_store):
    key = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme").record
    flagged = event(
        key,
        guardrail="flag",
        violations=[{"detector": "iban", "action": "flag", "message": "an IBAN was found in messages[0].content"}],
    )
    audit_writer.write_bodies(pg_store, [json.dumps(flagged)] * 2)
    with pg_store.pool.connection() as conn:
        rows = conn.run("SELECT detector, action, message FROM guardrail_violations")
    assert rows == [["iban", "flag", "an IBAN was found in messages[0].content"]]


def partitions(store) -> list[str]:
    with store.pool.connection() as conn:
        return sorted(
            r[0]
            for r in conn.run(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_events'"
            )
        )


def test_monthly_partitions_and_retention(empty_store):
    key = KeyService(empty_store, clock=pinned()).create(region_code="eu", org_id="acme").record
    old = datetime(2025, 1, 15, tzinfo=UTC)
    audit_writer.write_bodies(empty_store, [json.dumps(event(key, created_at=old.isoformat()))])
    assert partitions(empty_store) == ["audit_events_2025_01"]
    dropped = empty_store.maintain(13, today=date(2026, 11, 22))
    assert dropped == ["audit_events_2025_01"]
    with empty_store.pool.connection() as conn:
        assert conn.run("SELECT count(*) FROM audit_events")[0][0] == 0
    assert partitions(empty_store) == ["audit_events_2026_11", "audit_events_2026_12"]  # next month before it starts


def test_maintain_defaults_to_the_stores_clock(empty_store):
    assert empty_store.maintain(13) == []
    first = NOW.date().replace(day=1)
    following = migrations.add_months(first, 1)
    assert partitions(empty_store) == [migrations.partition_name(first), migrations.partition_name(following)]


@pytest.mark.parametrize(
    ("today", "kept_from"),
    [
        (date(2027, 1, 15), "audit_events_2026_01"),
        (date(2027, 1, 1), "audit_events_2026_01"),
        (date(2026, 12, 31), "audit_events_2025_12"),
        (date(2028, 2, 29), "audit_events_2027_02"),
    ],
)
def test_retention_drops_exactly_the_months_older_than_it_across_a_year_boundary(empty_store, today, kept_from):
    with empty_store.pool.connection() as conn:
        for offset in range(-16, 2):
            migrations.ensure_partition(conn, migrations.add_months(today, offset))
        violation_times = [
            datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
            datetime.combine(migrations.add_months(today, -12), datetime.min.time(), UTC),
        ]
        for moment in violation_times:
            conn.run(
                "INSERT INTO guardrail_violations (request_id, created_at, key_id, org_id, detector, action, message) "
                "VALUES (:r, :t, 'k', 'acme', 'iban', 'flag', 'm')",
                r=str(uuid.uuid4()),
                t=moment,
            )
    before = partitions(empty_store)
    dropped = empty_store.maintain(13, today=today)
    assert dropped == sorted(name for name in before if name < kept_from)
    assert len(dropped) == 4  # 16 months back to 13 months kept, this month included
    after = partitions(empty_store)
    assert after[0] == kept_from and len(after) == 13 + 1  # 13 months kept, and next month's already there
    with empty_store.pool.connection() as conn:
        kept = [r[0] for r in conn.run("SELECT created_at FROM guardrail_violations")]
    assert kept == [violation_times[1]]  # the first day of the oldest month kept stays; the older one goes


MONTH_ENDS = [
    (datetime(2027, 1, 31, 23, 59, 59, 999000, tzinfo=UTC), "audit_events_2027_01", "audit_events_2027_02"),
    (datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "audit_events_2026_12", "audit_events_2027_01"),
    (datetime(2028, 2, 29, 23, 59, 59, 999000, tzinfo=UTC), "audit_events_2028_02", "audit_events_2028_03"),
    (datetime(2030, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "audit_events_2030_12", "audit_events_2031_01"),
]


@pytest.mark.parametrize(("last_moment", "this_month", "next_month"), MONTH_ENDS)
def test_events_at_a_month_boundary_land_in_their_own_month(empty_store, last_moment, this_month, next_month):
    key = KeyService(empty_store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="ml").record
    first_moment = (last_moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    late = event(key, created_at=last_moment.isoformat(), cost_usd="0.25")
    early = event(key, created_at=first_moment.isoformat(), cost_usd="0.5")
    # The same instant as `late`, written with another offset: the partition and rollup day follow UTC.
    offset = event(
        key, created_at=last_moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(), cost_usd="1"
    )
    assert audit_writer.write_bodies(empty_store, [json.dumps(e) for e in (late, early, offset)]) == []
    with empty_store.pool.connection() as conn:
        where = {
            r[0]: r[1]
            for r in conn.run(
                "SELECT a.request_id::text, c.relname FROM audit_events a JOIN pg_class c ON c.oid = a.tableoid"
            )
        }
    assert where == {late["request_id"]: this_month, early["request_id"]: next_month, offset["request_id"]: this_month}
    days = {row.day: row.cost_usd for row in empty_store.spend(scope="key", scope_id=key.key_id)}
    assert days == {last_moment.date(): Decimal("1.25"), first_moment.date(): Decimal("0.5")}
    for scope, scope_id in (("key", key.key_id), ("org", "acme"), ("team", "acme/ml")):
        assert empty_store.month_spend(scope, scope_id, last_moment.date()) == Decimal("1.25")
        assert empty_store.month_spend(scope, scope_id, first_moment.date()) == Decimal("0.5")


def test_sql_in_identifiers_is_data_not_code(pg_store):
    service = KeyService(pg_store, clock=pinned())
    from regiongate.contract.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"^org must be 1 to 63 lower-case letters"):
        service.create(region_code="eu", org_id="acme'; DROP TABLE api_keys; --")
    assert service.list() == []
    pg_store.set_org_budget("o'brien", Decimal("1"))
    assert pg_store.org_budget("o'brien") == Decimal("1")


def test_a_dead_pooled_connection_is_replaced(pg_store, database_url):
    """Between Lambda invocations the database may drop an idle connection: the next lookup still works."""
    from regiongate.store.postgres import ConnectionParams

    created = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme")
    with pg_store.pool.connection() as conn:
        pid = conn.run("SELECT pg_backend_pid()")[0][0]
    admin = ConnectionParams.from_url(database_url).connect()
    admin.run("SELECT pg_terminate_backend(:p)", p=pid)
    admin.close()
    from regiongate.store.keys import hash_key

    assert pg_store.find_key_by_hash(hash_key(created.key)).key_id == created.record.key_id
    key = created.record
    assert pg_store.write_audit_events([event(key)]) == 1
