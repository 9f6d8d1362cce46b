"""Audit events: one per request, metadata only, sent gateway → SQS → writer → PostgreSQL.

The sinks that send them; the event's fields and validation are :mod:`regiongate.contract.audit_event`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The event's schema is part of the contract (the store validates what it writes with it); the gateway and
# the tests take it from here, beside the sinks that send it.
from regiongate.contract.audit_event import FIELDS, GUARDRAIL_OUTCOMES, InvalidEvent, encode, new_event, parse_event

log = logging.getLogger("regiongate.audit")

__all__ = [
    "FIELDS",
    "GUARDRAIL_OUTCOMES",
    "BackgroundAuditSink",
    "InvalidEvent",
    "ListAuditSink",
    "SqsAuditSink",
    "encode",
    "new_event",
    "parse_event",
]


class SqsAuditSink:
    """Sends each event to the region's audit queue (client created lazily, reused)."""

    def __init__(self, queue_url: str, region_name: str, client_factory: Callable[[], Any] | None = None) -> None:
        self.queue_url = queue_url
        self.region_name = region_name
        self._client_factory = client_factory
        self._client = None
        self._lock = threading.Lock()

    def _sqs(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self._client_factory is not None:
                        self._client = self._client_factory()
                    else:
                        import boto3
                        from botocore.config import Config

                        self._client = boto3.client(
                            "sqs",
                            region_name=self.region_name,
                            config=Config(
                                connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
                            ),
                        )
        return self._client

    def emit(self, event: Mapping[str, Any]) -> None:
        try:
            self._sqs().send_message(QueueUrl=self.queue_url, MessageBody=encode(event))
        except Exception as exc:  # an audit failure must not fail the request; it is logged (metadata only)
            log.error(
                "audit event not sent",
                extra={"fields": {"request_id": event.get("request_id"), "error": type(exc).__name__}},
            )


class BackgroundAuditSink:
    """Local mode: events are queued and a thread hands them to the same writer code every ``interval`` seconds."""

    def __init__(self, write_bodies: Callable[[Sequence[str]], Any], interval: float = 0.2) -> None:
        self._write = write_bodies
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()  # put: no Python-level lock on the request path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def emit(self, event: Mapping[str, Any]) -> None:
        self._queue.put(encode(event))

    def _drain(self) -> None:
        bodies = []
        while True:
            try:
                bodies.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if bodies:
            try:
                self._write(bodies)
            except Exception as exc:
                log.error(
                    "local audit write failed", extra={"fields": {"events": len(bodies), "error": type(exc).__name__}}
                )

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._drain()
        self._drain()

    def flush(self) -> None:
        self._drain()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ListAuditSink:
    """Collects events in memory (tests)."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def emit(self, event: Mapping[str, Any]) -> None:
        self.events.append(json.loads(encode(event)))
