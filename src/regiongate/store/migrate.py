"""Numbered SQL migrations (``migrations/NNNN_name.sql``) and monthly partition maintenance.

``migrate`` holds a PostgreSQL advisory lock, so concurrent writers starting up (or a developer running
``regiongate db migrate``) apply each migration exactly once.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

ADVISORY_LOCK_ID = 0x7267_6174  # "rgat"
_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("regiongate.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


def migrate(conn: Any) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    applied_now = []
    conn.run("SELECT pg_advisory_lock(:id)", id=ADVISORY_LOCK_ID)
    try:
        conn.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.run("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            conn.run("BEGIN")
            try:
                for statement in _statements(sql):
                    conn.run(statement)
                conn.run("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)", v=version, n=name)
                conn.run("COMMIT")
            except Exception:
                conn.run("ROLLBACK")
                raise
            applied_now.append(version)
    finally:
        conn.run("SELECT pg_advisory_unlock(:id)", id=ADVISORY_LOCK_ID)
    return applied_now


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def month_start(day: date) -> date:
    return date(day.year, day.month, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"audit_events_{month.year:04d}_{month.month:02d}"


def ensure_partition(conn: Any, month: date) -> None:
    month = month_start(month)
    name = partition_name(month)
    conn.run(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF audit_events "
        f"FOR VALUES FROM ('{month.isoformat()}T00:00:00+00:00') TO ('{add_months(month, 1).isoformat()}T00:00:00+00:00')"
    )


def maintain(conn: Any, retention_months: int, today: date) -> list[str]:
    """Create ``today``'s and the next month's partitions; drop partitions (and violations) older than the
    retention: with 13 months on 2027-01-15, 2026-01 is the oldest month kept."""
    current = month_start(today)
    conn.run("SELECT pg_advisory_lock(:id)", id=ADVISORY_LOCK_ID)
    try:
        for offset in (0, 1):
            ensure_partition(conn, add_months(current, offset))
        oldest_kept = add_months(current, -(retention_months - 1))
        dropped = []
        rows = conn.run(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_events'"
        )
        for (name,) in rows:
            match = re.match(r"^audit_events_(\d{4})_(\d{2})$", name)
            if match and date(int(match.group(1)), int(match.group(2)), 1) < oldest_kept:
                conn.run(f"DROP TABLE {name}")
                dropped.append(name)
        conn.run(
            "DELETE FROM guardrail_violations WHERE created_at < :t",
            t=datetime(oldest_kept.year, oldest_kept.month, 1, tzinfo=UTC),
        )
        return dropped
    finally:
        conn.run("SELECT pg_advisory_unlock(:id)", id=ADVISORY_LOCK_ID)
