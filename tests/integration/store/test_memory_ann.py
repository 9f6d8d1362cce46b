"""The memory store's approximate search (HNSW, migration 0006) on PostgreSQL with pgvector: each search sets the
configured ``hnsw.ef_search`` for its own transaction only, and on a small clustered set (embeddings come in topics)
the index's answer is the exact nearest ten. The figures at 10^4..10^6 facts are the benchmark's
(bench/bench_memory.py); these tests hold no timing."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest

from regiongate.contract.limits import MEMORY_DIMENSIONS
from regiongate.store.memory_facts import (
    DEFAULT_EF_SEARCH,
    MAX_EF_SEARCH,
    MemorySettings,
    NewFact,
    PostgresMemoryStore,
    vector_literal,
)
from tests.fixtures.clock import NOW

CENTRES, PER_CENTRE, NOISE = 16, 25, 0.6


class _Recording:
    """A pooled connection that, just before the store's search query, records the session's HNSW settings and
    the plan of that same query (with the same parameters, in the same transaction)."""

    def __init__(self, conn: Any, seen: list[dict[str, str]], force_index: bool) -> None:
        self._conn, self._seen, self._force_index = conn, seen, force_index

    def run(self, sql: str, **params: Any) -> Any:
        if sql.startswith("SELECT") and "ORDER BY embedding <=>" in sql:
            if self._force_index:  # transaction-local: the ANN path, not an exact sort through another index
                self._conn.run("SET LOCAL enable_seqscan = off")
                self._conn.run("SET LOCAL enable_sort = off")
            settings = self._conn.run(
                "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')"
            )[0]
            plan = self._conn.run("EXPLAIN " + sql, **params)
            self._seen.append(
                {"ef_search": settings[0], "iterative_scan": settings[1], "plan": "\n".join(r[0] for r in plan)}
            )
        return self._conn.run(sql, **params)


class RecordingPool:
    def __init__(self, pool: Any, *, force_index: bool = False) -> None:
        self.pool, self.force_index = pool, force_index
        self.seen: list[dict[str, str]] = []

    @contextlib.contextmanager
    def connection(self, **kwargs: Any) -> Iterator[_Recording]:
        with self.pool.connection(**kwargs) as conn:
            yield _Recording(conn, self.seen, self.force_index)


def normalised(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def near(centre: list[float], rng: random.Random) -> list[float]:
    """A point of ``centre``'s cluster: the centre plus NOISE times a vector of the same kind, normalised (as in
    bench/bench_memory.py)."""
    return normalised([c + NOISE * (rng.random() - 0.5) for c in centre])


@pytest.fixture
def memory(pg_store):
    store = PostgresMemoryStore(pg_store.pool)
    store.set_settings(MemorySettings("acme", True, retention_days=30, max_facts=1000), NOW)
    return store


def exact_top(pool: Any, query: list[float], k: int) -> list[str]:
    with pool.connection() as conn:
        conn.run("BEGIN")
        conn.run("SET LOCAL enable_indexscan = off")  # a sequential scan and a sort: exact
        rows = conn.run(
            "SELECT fact_id::text FROM memory_facts WHERE org_id = 'acme' ORDER BY embedding <=> CAST(:e AS vector), "
            "fact_id LIMIT :k",
            e=vector_literal(query),
            k=k,
        )
        conn.run("ROLLBACK")
    return [r[0] for r in rows]


def test_each_search_sets_the_configured_ef_search_for_its_transaction_only(pg_store):
    recording = RecordingPool(pg_store.pool)
    memory = PostgresMemoryStore(recording, ef_search=123)
    memory.set_settings(MemorySettings("acme", True, retention_days=30, max_facts=10), NOW)
    query = normalised([1.0] * MEMORY_DIMENSIONS)
    memory.add("acme", "user", "u-1", [NewFact("one", query, {})], NOW)
    assert [f.fact.text for f in memory.search("acme", query, NOW, limit=10)] == ["one"]
    assert PostgresMemoryStore(recording, ef_search=5).search("acme", query, NOW, limit=20)  # raised to the limit
    assert [(s["ef_search"], s["iterative_scan"]) for s in recording.seen] == [
        ("123", "strict_order"),
        ("20", "strict_order"),
    ]
    with pg_store.pool.connection() as conn:  # SET LOCAL: the pooled session keeps pgvector's default
        assert conn.run("SELECT current_setting('hnsw.ef_search')") == [["40"]]
    assert PostgresMemoryStore(pg_store.pool).ef_search == DEFAULT_EF_SEARCH


@pytest.mark.parametrize("bad", [0, MAX_EF_SEARCH + 1, True, 40.0])
def test_an_ef_search_pgvector_does_not_accept_is_refused(pg_store, bad):
    with pytest.raises(ValueError, match=f"ef_search must be an integer from 1 to {MAX_EF_SEARCH}"):
        PostgresMemoryStore(pg_store.pool, ef_search=bad)


def test_the_hnsw_search_returns_the_exact_nearest_ten_on_a_clustered_set(memory, pg_store):
    rng = random.Random(16)
    centres = [[rng.random() - 0.5 for _ in range(MEMORY_DIMENSIONS)] for _ in range(CENTRES)]
    facts = [NewFact(f"topic {i % CENTRES} fact {i}", near(centres[i % CENTRES], rng), {}) for i in range(400)]
    memory.add("acme", "user", "u-1", facts, NOW)  # inserted one by one into the index, as the API does
    recording = RecordingPool(pg_store.pool, force_index=True)
    ann = PostgresMemoryStore(recording)
    for n in range(12):
        query = near(centres[rng.randrange(CENTRES)], rng)  # a new point of a topic, not a stored fact
        found = ann.search("acme", query, NOW, limit=10)
        assert [f.fact.fact_id for f in found] == exact_top(pg_store.pool, query, 10), f"query {n}"
        assert "Index Scan using memory_facts_embedding" in recording.seen[-1]["plan"]
        assert recording.seen[-1]["ef_search"] == str(DEFAULT_EF_SEARCH)
        distances = [f.distance for f in found]
        assert distances == sorted(distances) and distances[-1] < 0.5  # all ten from the query's own topic


def test_the_vectors_stay_in_the_heap_and_the_index_has_the_measured_parameters(pg_store):
    """STORAGE PLAIN: with TOASTed vectors the planner prices an exact scan by the heap's pages alone and took it
    over the index at 10^5 facts for some ef_search values (migration 0006, docs/benchmarks.md)."""
    with pg_store.pool.connection() as conn:
        storage = conn.run(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'memory_facts'::regclass AND attname = 'embedding'"
        )
        options = conn.run("SELECT reloptions FROM pg_class WHERE relname = 'memory_facts_embedding'")
    assert storage == [["p"]]
    assert sorted(options[0][0]) == ["ef_construction=64", "m=16"]
