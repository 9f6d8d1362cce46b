"""The container's SQS batch sender makes one attempt per call: the buffering sink retries on its own schedule
(backing off, keeping the events), so botocore must not retry underneath it. Against the loopback SQS fake, with
the production client (boto3, ``AWS_ENDPOINT_URL_SQS``)."""

from __future__ import annotations

import pytest

from regiongate.audit.runtime.queue import SqsBatchSender
from tests.fixtures.fake_sqs import FakeSqs


@pytest.fixture
def sqs(monkeypatch):
    fake = FakeSqs()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", fake.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield fake
    fake.close()


def test_an_outage_costs_one_attempt_per_call_and_every_body_comes_back(sqs):
    sqs.available = False
    sender = SqsBatchSender(sqs.queue_url, "eu-central-1")
    assert sender([f"event-{i}" for i in range(25)]) == list(range(25))  # all kept by the sink for its retry
    assert sqs.refused_calls == 1  # botocore did not retry underneath (max_attempts: 1 made it 2)


def test_when_the_queue_is_back_the_same_call_sends_every_body(sqs):
    sender = SqsBatchSender(sqs.queue_url, "eu-central-1")
    assert sender([f"event-{i}" for i in range(25)]) == []
    assert sqs.bodies == [f"event-{i}" for i in range(25)]
