"""``regiongate audit redrive``: dead-lettered events go back to the audit queue, once, in the region (moto SQS)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from moto import mock_aws

from regiongate.audit.runtime.events import new_event
from regiongate.audit.runtime.redrive import RedriveError, find_queues, redrive
from regiongate.cli.main import main
from tests.fixtures.clock import NOW

STACK = "Eu"  # the eu stack's name in regions.yaml (CloudFormation names its queues Eu-...)
AWS_REGION = "eu-central-1"


def _event() -> str:
    return json.dumps(
        new_event(
            request_id=str(uuid.uuid4()),
            created_at=NOW.isoformat(),
            region="eu",
            endpoint="chat",
            status=200,
            cost_usd="0.001",
        )
    )


def _queues(sqs, prefix: str = STACK):
    dead = sqs.create_queue(QueueName=f"{prefix}-AuditDeadLetterQueue12AB")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName=f"{prefix}-AuditQueue34CD",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"})},
    )["QueueUrl"]
    return source, dead


def _bodies(sqs, url: str) -> list[str]:
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]


@pytest.fixture
def sqs():
    with mock_aws():
        yield boto3.client("sqs", region_name=AWS_REGION)


def test_the_queues_are_found_by_their_redrive_policy(sqs):
    source, dead = _queues(sqs)
    _queues(sqs, prefix="EuTenant")  # another stack's queues are not considered
    queues = find_queues(sqs, STACK)
    assert (queues.source_url, queues.dead_letter_url) == (source, dead)


def test_no_queue_pair_is_a_clear_error(sqs):
    with pytest.raises(RedriveError, match="expected one queue with a dead-letter queue in stack Eu"):
        find_queues(sqs, STACK)


def test_every_dead_lettered_event_moves_once_and_invalid_ones_stay(sqs):
    source, dead = _queues(sqs)
    events = [_event() for _ in range(23)]  # more than one SQS batch
    for body in events:
        sqs.send_message(QueueUrl=dead, MessageBody=body)
    sqs.send_message(QueueUrl=dead, MessageBody="not an audit event")
    result = redrive(sqs, find_queues(sqs, STACK))
    print(f"redrive: moved {result.moved}, kept {len(result.kept_invalid)}")
    assert result.moved == 23
    assert len(result.kept_invalid) == 1
    assert sorted(_bodies(sqs, source)) == sorted(events)
    again = redrive(sqs, find_queues(sqs, STACK))  # idempotent: nothing valid is left to move
    assert again.moved == 0
    assert _bodies(sqs, source) == []


def test_max_moves_at_most_that_many(sqs):
    source, dead = _queues(sqs)
    for _ in range(5):
        sqs.send_message(QueueUrl=dead, MessageBody=_event())
    assert redrive(sqs, find_queues(sqs, STACK), limit=3).moved == 3
    assert len(_bodies(sqs, source)) == 3


def test_the_command_moves_the_regions_events(sqs, capsys):
    source, dead = _queues(sqs)
    for _ in range(3):
        sqs.send_message(QueueUrl=dead, MessageBody=_event())
    assert main(["audit", "redrive", "--region", "eu"]) == 0
    out = capsys.readouterr().out
    assert "moved 3 audit events" in out
    assert len(_bodies(sqs, source)) == 3


def test_the_command_refuses_a_queue_of_another_region(sqs, capsys):
    other = boto3.client("sqs", region_name="us-east-1")
    source = other.create_queue(QueueName="x")["QueueUrl"]
    dead = other.create_queue(QueueName="y")["QueueUrl"]
    code = main(["audit", "redrive", "--region", "eu", "--queue-url", source, "--dead-letter-url", dead])
    assert code == 2
    assert "is not a queue in eu-central-1" in capsys.readouterr().err
