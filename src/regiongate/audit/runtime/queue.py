"""Audit events to the region's SQS queue in batches, for a buffering sink.

:class:`SqsBatchSender` is the ``write_bodies`` of :class:`~regiongate.audit.runtime.events.BackgroundAuditSink`
in the gateway container: it hands bodies to the queue ten at a time (``SendMessageBatch``) and returns the
positions of those the queue did not take, which the sink keeps and retries. When the queue cannot be reached
at all, the rest of the batch is returned at once (not tried chunk by chunk, each waiting for its timeouts),
so the sink backs off and the buffer, not the request path, absorbs the outage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from regiongate.audit.runtime.sqs import sqs_client

log = logging.getLogger("regiongate.audit")

SQS_BATCH_ENTRIES = 10  # SendMessageBatch's most


class SqsBatchSender:
    def __init__(self, queue_url: str, region_name: str, client_factory: Callable[[], Any] | None = None) -> None:
        self.queue_url = queue_url
        self.region_name = region_name
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = threading.Lock()

    def _sqs(self) -> Any:
        with self._lock:
            if self._client is None:
                # A sink retries on its own: one attempt per call, short timeouts. (botocore's ``max_attempts``
                # counts retries, so ``max_attempts: 1`` made two attempts; ``total_max_attempts`` counts them all.)
                self._client = sqs_client(
                    self.region_name,
                    self._client_factory,
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"mode": "standard", "total_max_attempts": 1},
                )
            return self._client

    def __call__(self, bodies: Sequence[str]) -> list[int]:
        """Send ``bodies``; the positions of those not accepted by the queue (an empty list: all were)."""
        failed: list[int] = []
        for start in range(0, len(bodies), SQS_BATCH_ENTRIES):
            chunk = bodies[start : start + SQS_BATCH_ENTRIES]
            try:
                response = self._sqs().send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
                )
            except Exception as exc:
                log.error(
                    "audit queue unreachable; events kept for a retry",
                    extra={"fields": {"events": len(bodies) - start, "error": type(exc).__name__}},
                )
                failed.extend(range(start, len(bodies)))
                return failed
            for entry in response.get("Failed") or ():
                failed.append(start + int(entry["Id"]))
        return failed
