"""Statements on the PostgreSQL store's connection pool (``regiongate.store.postgres.ConnectionPool``) that are not
retried: a write, or a read whose caller never asked for a retry. The retrying path for idempotent reads is
``PostgresStore._run`` (once more on a fresh connection when the first one was lost)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def run_once(pool: Any, sql: str, /, **params: Any) -> Any:
    """``sql`` on one pooled connection, once (a lost connection raises): the rows it returned."""
    with pool.connection() as conn:
        return conn.run(sql, **params)


@contextlib.contextmanager
def transaction(conn: Any) -> Iterator[None]:
    """BEGIN; COMMIT when the block (and the COMMIT) succeeds, else ROLLBACK and re-raise, whatever was raised."""
    conn.run("BEGIN")
    try:
        yield
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
