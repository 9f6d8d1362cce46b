"""SQS entry point of the audit writer Lambda, and the writer code ``regiongate serve`` runs in-process.

Batch insert, idempotent on request id (a redelivered message never double-counts). On its first
invocation the writer applies the numbered migrations and the monthly partition maintenance under a
PostgreSQL advisory lock, so a deploy's schema change lands before the first new event is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from regiongate.common import logs
from regiongate.contract.audit_event import InvalidEvent, ParsedEvent, parse_event
from regiongate.store.postgres import connection_lost

if TYPE_CHECKING:
    from regiongate.store.postgres import PostgresStore

log = logging.getLogger("regiongate.audit_writer")
_store: PostgresStore | None = None


def _get_store() -> PostgresStore:
    global _store
    if _store is None:
        from regiongate.contract.environment import settings
        from regiongate.store.connections import postgres_store

        current = settings()
        logs.configure(current.log_level)
        runtime = current.region_document()
        store = postgres_store(current, runtime.aws_region, pool_size=1)
        applied = store.migrate()
        dropped = store.maintain(runtime.audit_retention_months)
        log.info("audit store ready", extra={"fields": {"migrations_applied": applied, "partitions_dropped": dropped}})
        _store = store
    return _store


def write_messages(store: Any, messages: Iterable[tuple[str, str]]) -> list[str]:
    """Write (message id, body) pairs; returns the ids that failed (malformed, or the batch write failed)."""
    failed: list[str] = []
    valid: list[tuple[str, ParsedEvent]] = []
    for message_id, body in messages:
        try:
            valid.append((message_id, parse_event(json.loads(body))))  # validated once: the store takes it as it is
        except (ValueError, InvalidEvent) as exc:
            log.error(
                "malformed audit message", extra={"fields": {"message_id": message_id, "error": type(exc).__name__}}
            )
            failed.append(message_id)
    if valid:
        failed.extend(_write_isolating(store, valid))
    return failed


def _write_isolating(store: Any, valid: list[tuple[str, ParsedEvent]]) -> list[str]:
    """Write the batch in one transaction; when PostgreSQL rejects it, write each half alone, down to single
    messages, so only a poison message (a NUL in a text field, a cost beyond numeric(20,10)) fails and the rest
    is written. A lost database fails the whole batch at once (SQS delivers it again). Safe to repeat: inserts
    skip request ids already written."""
    try:
        new = store.write_audit_events([event for _, event in valid])
    except Exception as exc:
        if connection_lost(exc) or len(valid) == 1:
            reason = "database unavailable" if connection_lost(exc) else "audit message rejected by the database"
            log.error(
                reason,
                extra={
                    "fields": {
                        "events": len(valid),
                        "error": type(exc).__name__,
                        "message_ids": [message_id for message_id, _ in valid][:10],
                    }
                },
            )
            return [message_id for message_id, _ in valid]
        middle = len(valid) // 2
        return _write_isolating(store, valid[:middle]) + _write_isolating(store, valid[middle:])
    log.info("audit events written", extra={"fields": {"received": len(valid), "new": new}})
    return []


def write_bodies(store: Any, bodies: Sequence[str]) -> list[str]:
    return write_messages(store, ((str(i), body) for i, body in enumerate(bodies)))


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    records = event.get("Records") or []
    try:
        store = _get_store()
    except Exception as exc:
        logs.configure()
        log.error("audit store unavailable", extra={"fields": {"error": type(exc).__name__}})
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}
    failed = write_messages(store, ((r["messageId"], r.get("body", "")) for r in records))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
