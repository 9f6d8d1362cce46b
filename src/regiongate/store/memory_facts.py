"""The memory store (Memory-as-a-Service, migration 0006): facts an org asked the gateway to remember, with their
embeddings, in the region's PostgreSQL (pgvector, an HNSW index by cosine distance).

The only content regiongate stores, so it is explicit, bounded and erasable: a fact is added only by an explicit
``/v1/memory`` request of an org that enabled memory (``memory_settings``), at most ``max_facts`` unexpired facts
per org (checked under a lock of the org's settings row, so concurrent adds cannot overshoot), kept for the org's
``retention_days`` (an expired fact is never returned; ``purge_expired`` deletes it), and deleted per fact, per
session or per user. Every query names the org: another org's facts are never read, whatever the scope id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from regiongate.contract.limits import DEFAULT_MEMORY_MAX_FACTS, DEFAULT_MEMORY_RETENTION_DAYS, MEMORY_DIMENSIONS
from regiongate.store.pooled import run_once, transaction

SCOPE_KINDS = ("session", "user")
# How many candidates the HNSW scan keeps (pgvector's hnsw.ef_search, set for each search transaction; at least the
# number of results asked for). With migration 0006's index (m 16, ef_construction 64) and clustered data, recall@10
# was 0.98 at 10^5 facts already with 100, but at 10^6 only 0.84 with 100, 0.92 with 200 and 0.96 with 400 (p50
# 15 ms): 400 keeps recall >= 0.95 at every size measured (docs/benchmarks.md). pgvector's own default is 40.
DEFAULT_EF_SEARCH = 400
MAX_EF_SEARCH = 1000  # pgvector's upper bound of hnsw.ef_search


@dataclass(frozen=True)
class MemorySettings:
    org_id: str
    enabled: bool
    retention_days: int = DEFAULT_MEMORY_RETENTION_DAYS
    max_facts: int = DEFAULT_MEMORY_MAX_FACTS


@dataclass(frozen=True)
class NewFact:
    text: str
    embedding: Sequence[float]
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class Fact:
    fact_id: str
    org_id: str
    scope_kind: str
    scope_id: str
    text: str
    metadata: Mapping[str, Any]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Found:
    fact: Fact
    distance: float  # cosine distance: 0 the same direction, 2 the opposite


class MemoryLimitReached(Exception):
    """Adding would take the org above its ``max_facts`` unexpired facts (nothing was added)."""

    def __init__(self, org_id: str, max_facts: int, stored: int, adding: int) -> None:
        super().__init__(f"org {org_id} stores {stored} of at most {max_facts} facts; {adding} more do not fit")
        self.org_id, self.max_facts, self.stored, self.adding = org_id, max_facts, stored, adding


class MemoryNotEnabled(Exception):
    """The org has not enabled memory (no settings row, or ``enabled`` false)."""


class MemoryStore(Protocol):
    def settings(self, org_id: str) -> MemorySettings | None: ...
    def set_settings(self, settings: MemorySettings, now: datetime) -> MemorySettings: ...
    def add(
        self, org_id: str, scope_kind: str, scope_id: str, facts: Sequence[NewFact], now: datetime
    ) -> list[Fact]: ...
    def search(
        self,
        org_id: str,
        embedding: Sequence[float],
        now: datetime,
        *,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        limit: int = 10,
    ) -> list[Found]: ...
    def list_facts(
        self, org_id: str, scope_kind: str, scope_id: str, now: datetime, *, limit: int = 100, offset: int = 0
    ) -> list[Fact]: ...
    def get(self, org_id: str, fact_id: str, now: datetime) -> Fact | None: ...
    def delete(self, org_id: str, fact_id: str) -> bool: ...
    def erase(self, org_id: str, scope_kind: str, scope_id: str) -> int: ...
    def count(self, org_id: str, now: datetime) -> int: ...
    def purge_expired(self, now: datetime) -> int: ...


def vector_literal(embedding: Sequence[float]) -> str:
    """pgvector's text form; refuses a vector of the wrong size or with a non-finite value."""
    if len(embedding) != MEMORY_DIMENSIONS:
        raise ValueError(f"an embedding of the memory store has {MEMORY_DIMENSIONS} dimensions, not {len(embedding)}")
    values = [float(x) for x in embedding]
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise ValueError("an embedding must hold finite numbers")
    return "[" + ",".join(repr(v) for v in values) + "]"


def _valid_id(fact_id: str) -> str | None:
    try:
        return str(uuid.UUID(fact_id))
    except ValueError:
        return None


_FACT_COLUMNS = "fact_id::text, org_id, scope_kind, scope_id, fact, metadata::text, created_at, expires_at"


def _fact(row: Sequence[Any]) -> Fact:
    return Fact(
        fact_id=row[0],
        org_id=row[1],
        scope_kind=row[2],
        scope_id=row[3],
        text=row[4],
        metadata=json.loads(row[5]),
        created_at=row[6],
        expires_at=row[7],
    )


class PostgresMemoryStore:
    """On the gateway's connection pool (``regiongate.store.postgres.ConnectionPool``); ``ef_search`` is the HNSW
    scan's candidate list for every search (``SET LOCAL hnsw.ef_search``, raised to the limit asked for if larger)."""

    def __init__(self, pool: Any, *, ef_search: int = DEFAULT_EF_SEARCH) -> None:
        if isinstance(ef_search, bool) or not isinstance(ef_search, int) or not 1 <= ef_search <= MAX_EF_SEARCH:
            raise ValueError(f"ef_search must be an integer from 1 to {MAX_EF_SEARCH}, not {ef_search!r}")
        self.pool = pool
        self.ef_search = ef_search

    def settings(self, org_id: str) -> MemorySettings | None:
        rows = run_once(
            self.pool, "SELECT enabled, retention_days, max_facts FROM memory_settings WHERE org_id = :o", o=org_id
        )
        return MemorySettings(org_id, rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def set_settings(self, settings: MemorySettings, now: datetime) -> MemorySettings:
        with self.pool.connection() as conn:
            conn.run("INSERT INTO orgs (org_id) VALUES (:o) ON CONFLICT DO NOTHING", o=settings.org_id)
            conn.run(
                "INSERT INTO memory_settings (org_id, enabled, retention_days, max_facts, updated_at) "
                "VALUES (:o, :e, :r, :m, :t) ON CONFLICT (org_id) DO UPDATE SET enabled = EXCLUDED.enabled, "
                "retention_days = EXCLUDED.retention_days, max_facts = EXCLUDED.max_facts, updated_at = EXCLUDED.updated_at",
                o=settings.org_id,
                e=settings.enabled,
                r=settings.retention_days,
                m=settings.max_facts,
                t=now,
            )
        return settings

    def add(self, org_id: str, scope_kind: str, scope_id: str, facts: Sequence[NewFact], now: datetime) -> list[Fact]:
        """Insert ``facts`` into the scope, all or none: refused (``MemoryNotEnabled``, ``MemoryLimitReached``)
        unless the org enabled memory and they fit under its limit. Each expires after the org's retention."""
        if scope_kind not in SCOPE_KINDS:
            raise ValueError(f"scope kind must be one of {', '.join(SCOPE_KINDS)}")
        vectors = [vector_literal(f.embedding) for f in facts]
        with self.pool.connection() as conn, transaction(conn):
            rows = conn.run(
                "SELECT enabled, retention_days, max_facts FROM memory_settings WHERE org_id = :o FOR UPDATE",
                o=org_id,
            )
            if not rows or not rows[0][0]:
                raise MemoryNotEnabled(org_id)
            retention_days, max_facts = rows[0][1], rows[0][2]
            stored = conn.run(
                "SELECT count(*) FROM memory_facts WHERE org_id = :o AND expires_at > :t", o=org_id, t=now
            )[0][0]
            if stored + len(facts) > max_facts:
                raise MemoryLimitReached(org_id, max_facts, stored, len(facts))
            expires = now + timedelta(days=retention_days)
            added = []
            for fact, vector in zip(facts, vectors, strict=True):
                fact_id = str(uuid.uuid4())
                conn.run(
                    "INSERT INTO memory_facts (fact_id, org_id, scope_kind, scope_id, fact, embedding, metadata, "
                    "created_at, expires_at) VALUES (CAST(:i AS uuid), :o, :k, :s, :f, CAST(:e AS vector), "
                    "CAST(:m AS jsonb), :c, :x)",
                    i=fact_id,
                    o=org_id,
                    k=scope_kind,
                    s=scope_id,
                    f=fact.text,
                    e=vector,
                    m=json.dumps(dict(fact.metadata), ensure_ascii=False, separators=(",", ":")),
                    c=now,
                    x=expires,
                )
                added.append(Fact(fact_id, org_id, scope_kind, scope_id, fact.text, fact.metadata, now, expires))
        return added

    def search(
        self,
        org_id: str,
        embedding: Sequence[float],
        now: datetime,
        *,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        limit: int = 10,
    ) -> list[Found]:
        """The org's unexpired facts nearest to ``embedding`` (in one scope, or all of the org's), nearest first.

        The HNSW index answers a search over many facts; pgvector's iterative scan (strict order) keeps scanning
        the index until ``limit`` rows pass the org and scope filter. A small scope is read through the scope
        index and sorted exactly: the planner chooses."""
        vector = vector_literal(embedding)
        with self.pool.connection() as conn, transaction(conn):
            conn.run("SET LOCAL hnsw.iterative_scan = strict_order")
            conn.run(f"SET LOCAL hnsw.ef_search = {max(self.ef_search, int(limit))}")  # integers: no injection
            rows = conn.run(
                f"SELECT {_FACT_COLUMNS}, embedding <=> CAST(:e AS vector) AS distance FROM memory_facts "
                "WHERE org_id = :o AND expires_at > :t AND (CAST(:k AS text) IS NULL OR scope_kind = :k) "
                "AND (CAST(:s AS text) IS NULL OR scope_id = :s) ORDER BY embedding <=> CAST(:e AS vector) LIMIT :n",
                e=vector,
                o=org_id,
                t=now,
                k=scope_kind,
                s=scope_id,
                n=limit,
            )
        return [Found(_fact(row), float(row[8])) for row in rows]

    def list_facts(
        self, org_id: str, scope_kind: str, scope_id: str, now: datetime, *, limit: int = 100, offset: int = 0
    ) -> list[Fact]:
        rows = run_once(
            self.pool,
            f"SELECT {_FACT_COLUMNS} FROM memory_facts WHERE org_id = :o AND scope_kind = :k AND scope_id = :s "
            "AND expires_at > :t ORDER BY created_at, fact_id LIMIT :n OFFSET :f",
            o=org_id,
            k=scope_kind,
            s=scope_id,
            t=now,
            n=limit,
            f=offset,
        )
        return [_fact(row) for row in rows]

    def get(self, org_id: str, fact_id: str, now: datetime) -> Fact | None:
        valid = _valid_id(fact_id)
        if valid is None:
            return None
        rows = run_once(
            self.pool,
            f"SELECT {_FACT_COLUMNS} FROM memory_facts WHERE org_id = :o AND fact_id = CAST(:i AS uuid) "
            "AND expires_at > :t",
            o=org_id,
            i=valid,
            t=now,
        )
        return _fact(rows[0]) if rows else None

    def delete(self, org_id: str, fact_id: str) -> bool:
        valid = _valid_id(fact_id)
        if valid is None:
            return False
        rows = run_once(
            self.pool,
            "DELETE FROM memory_facts WHERE org_id = :o AND fact_id = CAST(:i AS uuid) RETURNING fact_id",
            o=org_id,
            i=valid,
        )
        return bool(rows)

    def erase(self, org_id: str, scope_kind: str, scope_id: str) -> int:
        """Delete every fact of the scope, expired or not; returns how many."""
        rows = run_once(
            self.pool,
            "WITH gone AS (DELETE FROM memory_facts WHERE org_id = :o AND scope_kind = :k AND scope_id = :s "
            "RETURNING 1) SELECT count(*) FROM gone",
            o=org_id,
            k=scope_kind,
            s=scope_id,
        )
        return int(rows[0][0])

    def count(self, org_id: str, now: datetime) -> int:
        rows = run_once(
            self.pool, "SELECT count(*) FROM memory_facts WHERE org_id = :o AND expires_at > :t", o=org_id, t=now
        )
        return int(rows[0][0])

    def purge_expired(self, now: datetime) -> int:
        """Delete every fact expired at ``now`` (the maintenance path); returns how many."""
        with self.pool.connection() as conn:
            return purge_expired(conn, now)


def purge_expired(conn: Any, now: datetime) -> int:
    rows = conn.run(
        "WITH gone AS (DELETE FROM memory_facts WHERE expires_at <= :t RETURNING 1) SELECT count(*) FROM gone", t=now
    )
    return int(rows[0][0])
