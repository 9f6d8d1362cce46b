"""The memory store (migration 0006) on PostgreSQL with pgvector: round trip, nearest-first search through the
HNSW index, erasure, retention by a pinned clock, the per-org limit and org isolation."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest

from regiongate.contract.limits import MEMORY_DIMENSIONS
from regiongate.store.memory_facts import (
    MemoryLimitReached,
    MemoryNotEnabled,
    MemorySettings,
    NewFact,
    PostgresMemoryStore,
    vector_literal,
)
from tests.fixtures.clock import NOW


def direction(angle: float) -> list[float]:
    """A unit vector at ``angle`` radians from the first axis, in the plane of the first two."""
    v = [0.0] * MEMORY_DIMENSIONS
    v[0], v[1] = math.cos(angle), math.sin(angle)
    return v


def random_unit(rng: random.Random) -> list[float]:
    v = [rng.gauss(0, 1) for _ in range(MEMORY_DIMENSIONS)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


@pytest.fixture
def memory(pg_store):
    store = PostgresMemoryStore(pg_store.pool)
    store.set_settings(MemorySettings("acme", True, retention_days=30, max_facts=50), NOW)
    store.set_settings(MemorySettings("globex", True, retention_days=30, max_facts=50), NOW)
    return store


def test_round_trip_and_nearest_first(memory):
    added = memory.add(
        "acme",
        "session",
        "s-1",
        [
            NewFact("far", direction(1.2), {"source": "test"}),
            NewFact("nearest", direction(0.1), {}),
            NewFact("middle", direction(0.6), {"n": 2}),
        ],
        NOW,
    )
    assert [f.text for f in added] == ["far", "nearest", "middle"]
    assert all(f.expires_at == NOW + timedelta(days=30) for f in added)
    got = memory.get("acme", added[0].fact_id, NOW)
    assert got is not None and got.text == "far" and got.metadata == {"source": "test"} and got.scope_id == "s-1"
    found = memory.search("acme", direction(0.0), NOW, scope_kind="session", scope_id="s-1", limit=3)
    assert [f.fact.text for f in found] == ["nearest", "middle", "far"]
    assert found[0].distance == pytest.approx(1 - math.cos(0.1), abs=1e-6)
    listed = memory.list_facts("acme", "session", "s-1", NOW)
    assert sorted(f.text for f in listed) == ["far", "middle", "nearest"]


def test_search_uses_the_hnsw_index_and_finds_a_stored_vector(memory):
    rng = random.Random(16)
    vectors = [random_unit(rng) for _ in range(300)]
    memory.set_settings(MemorySettings("acme", True, retention_days=30, max_facts=1000), NOW)
    memory.add("acme", "user", "u-1", [NewFact(f"fact {i}", v, {}) for i, v in enumerate(vectors)], NOW)
    found = memory.search("acme", vectors[123], NOW, limit=5)
    assert found[0].fact.text == "fact 123" and found[0].distance == pytest.approx(0.0, abs=1e-5)
    with memory.pool.connection() as conn:
        conn.run("BEGIN")  # without the scope indexes (rolled back), the filtered search is the HNSW index's
        conn.run("DROP INDEX memory_facts_scope, memory_facts_org_expiry, memory_facts_expiry")
        conn.run("SET LOCAL enable_seqscan = off")
        plan = conn.run(
            "EXPLAIN SELECT fact_id FROM memory_facts WHERE org_id = 'acme' AND expires_at > now() "
            "ORDER BY embedding <=> CAST(:e AS vector) LIMIT 5",
            e=vector_literal(vectors[0]),
        )
        conn.run("ROLLBACK")
    assert "memory_facts_embedding" in "\n".join(row[0] for row in plan)


def test_erase_a_session_or_user_and_delete_one(memory):
    session = memory.add("acme", "session", "s-1", [NewFact(f"s{i}", direction(i / 10), {}) for i in range(3)], NOW)
    memory.add("acme", "user", "s-1", [NewFact("user fact", direction(0.2), {})], NOW)  # same id, other scope kind
    memory.add("acme", "session", "s-2", [NewFact("other session", direction(0.3), {})], NOW)
    assert memory.delete("acme", session[0].fact_id) is True
    assert memory.delete("acme", session[0].fact_id) is False
    assert memory.delete("acme", "not-a-uuid") is False
    assert memory.erase("acme", "session", "s-1") == 2
    assert memory.list_facts("acme", "session", "s-1", NOW) == []
    assert [f.text for f in memory.list_facts("acme", "user", "s-1", NOW)] == ["user fact"]
    assert memory.erase("acme", "user", "s-1") == 1
    assert memory.count("acme", NOW) == 1


def test_expired_facts_are_never_returned_and_maintenance_deletes_them(memory, pg_store):
    memory.set_settings(MemorySettings("acme", True, retention_days=1, max_facts=50), NOW)
    old = memory.add("acme", "session", "s-1", [NewFact("old", direction(0.0), {})], NOW - timedelta(days=2))
    memory.add("acme", "session", "s-1", [NewFact("fresh", direction(0.1), {})], NOW)
    assert memory.get("acme", old[0].fact_id, NOW) is None
    assert memory.get("acme", old[0].fact_id, NOW - timedelta(days=2)) is not None  # it is still stored...
    assert [f.fact.text for f in memory.search("acme", direction(0.0), NOW)] == ["fresh"]
    assert [f.text for f in memory.list_facts("acme", "session", "s-1", NOW)] == ["fresh"]
    pg_store.maintain(13)  # the maintenance path, by the store's pinned clock
    assert memory.get("acme", old[0].fact_id, NOW - timedelta(days=2)) is None  # ...until maintenance
    with memory.pool.connection() as conn:
        assert conn.run("SELECT fact FROM memory_facts WHERE org_id = 'acme'") == [["fresh"]]


def test_the_org_limit_refuses_all_of_an_add_that_does_not_fit(memory):
    memory.set_settings(MemorySettings("acme", True, retention_days=30, max_facts=3), NOW)
    memory.add("acme", "user", "u-1", [NewFact("a", direction(0.0), {}), NewFact("b", direction(0.1), {})], NOW)
    with pytest.raises(MemoryLimitReached, match="stores 2 of at most 3 facts; 2 more do not fit"):
        memory.add("acme", "user", "u-2", [NewFact("c", direction(0.2), {}), NewFact("d", direction(0.3), {})], NOW)
    assert memory.count("acme", NOW) == 2
    memory.add("acme", "user", "u-2", [NewFact("c", direction(0.2), {})], NOW)  # one still fits
    assert memory.count("acme", NOW) == 3
    assert memory.count("globex", NOW) == 0  # the limit is per org


def test_another_orgs_facts_are_never_returned_even_with_the_same_session_id(memory):
    mine = memory.add("acme", "session", "shared-id", [NewFact("acme secret", direction(0.0), {})], NOW)
    memory.add("globex", "session", "shared-id", [NewFact("globex fact", direction(1.0), {})], NOW)
    assert [f.fact.text for f in memory.search("globex", direction(0.0), NOW, limit=10)] == ["globex fact"]
    assert [
        f.fact.text for f in memory.search("globex", direction(0.0), NOW, scope_kind="session", scope_id="shared-id")
    ] == ["globex fact"]
    assert [f.text for f in memory.list_facts("globex", "session", "shared-id", NOW)] == ["globex fact"]
    assert memory.get("globex", mine[0].fact_id, NOW) is None
    assert memory.delete("globex", mine[0].fact_id) is False
    assert memory.erase("globex", "session", "shared-id") == 1
    assert [f.text for f in memory.list_facts("acme", "session", "shared-id", NOW)] == ["acme secret"]


def test_an_org_that_did_not_enable_memory_cannot_add(memory):
    with pytest.raises(MemoryNotEnabled, match="initech"):
        memory.add("initech", "session", "s-1", [NewFact("x", direction(0.0), {})], NOW)
    memory.set_settings(MemorySettings("acme", False, retention_days=30, max_facts=50), NOW)
    with pytest.raises(MemoryNotEnabled, match="acme"):
        memory.add("acme", "session", "s-1", [NewFact("x", direction(0.0), {})], NOW)
    assert memory.settings("acme") == MemorySettings("acme", False, 30, 50)
    assert memory.settings("initech") is None


def test_an_embedding_of_another_size_is_refused():
    with pytest.raises(ValueError, match="1024 dimensions, not 3"):
        vector_literal([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        vector_literal([float("nan")] * MEMORY_DIMENSIONS)
