"""Moves audit events from the dead-letter queue back to the audit queue (``regiongate audit redrive``).

Each message is sent to the audit queue and only then deleted from the dead-letter queue. A run stopped
between the two leaves a copy in both: harmless, because the writer skips request ids already written.
Messages that are not valid audit events stay in the dead-letter queue (they would only come back there).
Both queues are found in the stack's own region: the one audit queue whose redrive policy names a queue of
the stack is the source, that queue the dead-letter queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from regiongate.contract.audit_event import InvalidEvent, parse_event

_BATCH = 10  # SQS's maximum per receive, send and delete call
_RECEIVE_VISIBILITY = 120  # seconds a received message stays hidden while it is moved


class RedriveError(RuntimeError):
    """The queues could not be found or used (the message says what to do)."""


@dataclass(frozen=True)
class Queues:
    source_url: str
    dead_letter_url: str


@dataclass
class RedriveResult:
    moved: int = 0
    kept_invalid: list[str] = field(default_factory=list)  # message ids left in the dead-letter queue
    remaining: int = 0  # approximate count still in the dead-letter queue afterwards


def find_queues(sqs: Any, stack_name: str) -> Queues:
    """The audit queue and its dead-letter queue among the stack's queues (CDK names start with the stack name)."""
    urls = sqs.list_queues(QueueNamePrefix=f"{stack_name}-").get("QueueUrls", [])
    arns = {}
    sources = []
    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
        arns[attributes["QueueArn"]] = url
        if "RedrivePolicy" in attributes:
            sources.append((url, json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]))
    pairs = [(url, arns[target]) for url, target in sources if target in arns]
    if len(pairs) != 1:
        found = ", ".join(url for url, _ in pairs) or "none"
        raise RedriveError(
            f"expected one queue with a dead-letter queue in stack {stack_name}, found {found}; "
            "pass --queue-url and --dead-letter-url"
        )
    return Queues(source_url=pairs[0][0], dead_letter_url=pairs[0][1])


def _valid(body: str) -> bool:
    try:
        parse_event(json.loads(body))
    except (ValueError, InvalidEvent):
        return False
    return True


def redrive(sqs: Any, queues: Queues, *, limit: int | None = None) -> RedriveResult:
    """Move up to ``limit`` messages (all by default); stops when a receive finds the dead-letter queue empty."""
    result = RedriveResult()
    seen_invalid: set[str] = set()
    while limit is None or result.moved < limit:
        want = _BATCH if limit is None else min(_BATCH, limit - result.moved)
        received = sqs.receive_message(
            QueueUrl=queues.dead_letter_url,
            MaxNumberOfMessages=want,
            VisibilityTimeout=_RECEIVE_VISIBILITY,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in received if m["MessageId"] not in seen_invalid]
        if not fresh:
            break
        movable = []
        for message in fresh:
            if _valid(message["Body"]):
                movable.append(message)
            else:
                seen_invalid.add(message["MessageId"])
                result.kept_invalid.append(message["MessageId"])
        if not movable:
            continue
        entries = []
        for i, message in enumerate(movable):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=queues.source_url, Entries=entries)
        ok = {int(s["Id"]) for s in sent.get("Successful", [])}
        if ok:
            sqs.delete_message_batch(
                QueueUrl=queues.dead_letter_url,
                Entries=[{"Id": str(i), "ReceiptHandle": movable[i]["ReceiptHandle"]} for i in sorted(ok)],
            )
        result.moved += len(ok)
        if len(ok) < len(movable):
            failures = sent.get("Failed", [])
            reason = failures[0].get("Message", "unknown") if failures else "unknown"
            raise RedriveError(f"the audit queue refused {len(movable) - len(ok)} messages ({reason}); run again")
    attributes = sqs.get_queue_attributes(
        QueueUrl=queues.dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    result.remaining = int(attributes.get("ApproximateNumberOfMessages", 0))
    return result
