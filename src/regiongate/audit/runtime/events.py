"""Audit events: one per request, metadata only, sent gateway → SQS → writer → PostgreSQL.

The sinks that send them; the event's fields and validation are :mod:`regiongate.contract.audit_event`.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regiongate.audit.runtime.sqs import sqs_client

# The event's schema is part of the contract (the store validates what it writes with it); the gateway and
# the tests take it from here, beside the sinks that send it.
from regiongate.contract.audit_event import FIELDS, GUARDRAIL_OUTCOMES, InvalidEvent, encode, new_event, parse_event

log = logging.getLogger("regiongate.audit")

__all__ = [
    "FIELDS",
    "GUARDRAIL_OUTCOMES",
    "AuditNotSent",
    "BackgroundAuditSink",
    "InvalidEvent",
    "ListAuditSink",
    "SqsAuditSink",
    "encode",
    "new_event",
    "parse_event",
]


class AuditNotSent(Exception):
    """The event could not be handed to the audit queue; the request it records must not be answered."""


class SqsAuditSink:
    """Sends each event to the region's audit queue (client created lazily, reused), synchronously.

    ``emit`` returns only once SQS has accepted the event: it tries ``attempts`` times, backing off
    ``backoff`` seconds between tries and starting no try after ``deadline`` seconds, then raises
    :class:`AuditNotSent`, so the gateway answers 503 ``audit_unavailable`` instead of a request whose
    event is lost. The bound is small: the Lambda is waiting (the client's timeouts bound each try)."""

    def __init__(
        self,
        queue_url: str,
        region_name: str,
        client_factory: Callable[[], Any] | None = None,
        *,
        attempts: int = 3,
        backoff: float = 0.1,
        deadline: float = 3.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if attempts < 1:
            raise ValueError("SqsAuditSink: attempts must be at least 1")
        self.queue_url = queue_url
        self.region_name = region_name
        self.attempts = attempts
        self.backoff = backoff
        self.deadline = deadline
        self._sleep = sleep
        self._monotonic = monotonic
        self._client_factory = client_factory
        self._client: Any = None  # a boto3 SQS client (untyped), made on first use
        self._lock = threading.Lock()

    def _sqs(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # The retries are emit's own (bounded by its deadline), not botocore's on top.
                    self._client = sqs_client(
                        self.region_name,
                        self._client_factory,
                        connect_timeout=1,
                        read_timeout=2,
                        retries={"mode": "standard", "total_max_attempts": 1},
                    )
        return self._client

    def emit(self, event: Mapping[str, Any]) -> None:
        body = encode(event)
        started = self._monotonic()
        error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                self._sqs().send_message(QueueUrl=self.queue_url, MessageBody=body)
                return
            except Exception as exc:
                error = exc
                log.warning(  # metadata only: never the event body
                    "audit event send failed",
                    extra={
                        "fields": {
                            "request_id": event.get("request_id"),
                            "attempt": attempt,
                            "error": type(exc).__name__,
                        }
                    },
                )
            pause = self.backoff * 2 ** (attempt - 1)
            if attempt == self.attempts or self._monotonic() - started + pause >= self.deadline:
                break
            self._sleep(pause)
        raise AuditNotSent(
            f"audit event {event.get('request_id')} not accepted by the audit queue after {attempt} attempt(s): "
            f"{type(error).__name__}"
        )


class BackgroundAuditSink:
    """Events are kept in a bounded buffer that a thread hands to ``write_bodies`` every ``interval`` seconds.

    Nothing is dropped: a batch the writer could not hand on (it raised, or returned the positions of the
    bodies that failed, as :func:`regiongate.audit.runtime.writer.write_bodies` does while the database is
    down) stays at the front of the buffer and is tried again, backing off up to ``max_backoff`` seconds.
    The gateway calls ``admit()`` before it serves a request, which reserves room for the request's event, and
    ``release()`` when the request is over (after emitting its event, if it has one). When the buffer and the
    reservations reach ``capacity`` new requests get 503, so no answered request ever lacks its event.
    """

    def __init__(
        self,
        write_bodies: Callable[[Sequence[str]], Any],
        interval: float = 0.2,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        max_backoff: float = 5.0,
    ) -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError("BackgroundAuditSink: capacity and batch_size must be at least 1")
        self._write = write_bodies
        self.capacity = capacity
        self._batch_size = batch_size
        self._interval = interval
        self._max_backoff = max_backoff
        self._pending: collections.deque[str] = collections.deque()
        self._reserved = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch at a time (the thread, flush() and close())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Events not yet handed on."""
        with self._lock:
            return len(self._pending)

    @property
    def reserved(self) -> int:
        """Requests admitted and not yet over."""
        with self._lock:
            return self._reserved

    def admit(self) -> bool:
        """Reserve room for one request's event; False when the buffer is full (the request gets 503)."""
        with self._lock:
            if len(self._pending) + self._reserved >= self.capacity:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        """The request that ``admit()`` let in has finished (its event, if it has one, was emitted before)."""
        with self._lock:
            if self._reserved:
                self._reserved -= 1

    def emit(self, event: Mapping[str, Any]) -> None:
        body = encode(event)
        with self._lock:
            self._pending.append(body)  # kept even beyond the capacity: an event is never dropped

    def _drain_once(self, most: int | None = None) -> bool:
        """Hand on one batch (of at most ``most`` events); True when it all went (or there was nothing), False
        when some must be retried."""
        with self._write_lock:
            with self._lock:
                size = self._batch_size if most is None else min(most, self._batch_size)
                batch = list(itertools.islice(self._pending, size))
            if not batch:
                return True
            try:
                result = self._write(batch)
                failed = sorted({int(i) for i in result}) if result else []
            except Exception as exc:
                log.error(
                    "local audit write failed; events kept for a retry",
                    extra={"fields": {"events": len(batch), "error": type(exc).__name__}},
                )
                failed = list(range(len(batch)))
            with self._lock:
                for _ in batch:
                    self._pending.popleft()
                self._pending.extendleft(reversed([batch[i] for i in failed if 0 <= i < len(batch)]))
            if failed:
                log.error(
                    "audit events kept for a retry",
                    extra={"fields": {"events": len(failed), "pending": self.pending, "capacity": self.capacity}},
                )
            return not failed

    def _drain(self) -> bool:
        """Hand on everything buffered, until none is left; False as soon as a batch fails."""
        while True:
            with self._lock:
                if not self._pending:
                    return True
            if not self._drain_once():
                return False

    def drain_due(self) -> bool:
        """One pass of the thread: hand on what was buffered when the pass began (in batches of ``batch_size``),
        not what arrives meanwhile, which waits for the next pass. Draining until empty, under steady load, never
        slept: it wrote back to back in batches of what arrived during the last write (9-19 events a batch at
        800 requests/s, 1 process, issue 12), paying a batch's fixed cost (its transaction, three statements) per
        dozen events. False as soon as a batch fails."""
        with self._lock:
            due = len(self._pending)
        while due > 0:
            if not self._drain_once(due):
                return False
            due -= self._batch_size
        return True

    def _run(self) -> None:
        delay = self._interval
        while not self._stop.wait(delay):
            delay = self._interval if self.drain_due() else min(max(delay * 2, self._interval), self._max_backoff)

    def flush(self) -> bool:
        return self._drain()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and hand on what is left, retrying until ``timeout``; what cannot go is logged."""
        self._stop.set()
        self._thread.join(timeout=timeout)
        deadline = time.monotonic() + timeout
        while not self._drain() and time.monotonic() < deadline:
            time.sleep(min(self._max_backoff, 0.5))
        if self.pending:
            log.critical(
                "audit events not written at shutdown",
                extra={"fields": {"events": self.pending}},
            )


class ListAuditSink:
    """Collects events in memory (tests)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Mapping[str, Any]) -> None:
        self.events.append(json.loads(encode(event)))
