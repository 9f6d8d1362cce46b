"""The Lambda's audit sink hands each event to SQS before the answer, retrying within a small bound, and
raises when it cannot (the gateway then answers 503 audit_unavailable instead of losing the event)."""

from __future__ import annotations

import json
import logging

import pytest

from regiongate.audit.runtime.events import AuditNotSent, SqsAuditSink, new_event

EVENT = new_event(
    request_id="req-1",
    created_at="2026-01-01T00:00:00+00:00",
    region="eu",
    endpoint="chat.completions",
    key_id="k",
    org_id="acme",
    team_id="ml",
    user_id=None,
    model="gpt",
    provider="azure",
    input_tokens=1,
    output_tokens=2,
    cost_usd="0",
    total_ms=1.0,
    upstream_ms=0.5,
    status=200,
    error_type=None,
    stream=False,
    guardrail=None,
    violations=[],
)


class FlakyClient:
    """An SQS client whose first ``failures`` sends raise."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[dict] = []
        self.sent: list[str] = []

    def send_message(self, **kwargs) -> dict:
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise ConnectionError("queue unreachable")
        self.sent.append(kwargs["MessageBody"])
        return {"MessageId": "m"}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _sink(client: FlakyClient, clock: FakeTime, **kwargs) -> SqsAuditSink:
    return SqsAuditSink(
        "https://queue", "eu-central-1", lambda: client, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs
    )


def test_a_send_that_fails_twice_is_retried_and_sent_once() -> None:
    client, clock = FlakyClient(failures=2), FakeTime()
    _sink(client, clock).emit(EVENT)
    assert len(client.calls) == 3
    assert [json.loads(body)["request_id"] for body in client.sent] == ["req-1"]
    assert clock.sleeps == [0.1, 0.2]


def test_a_queue_that_stays_unreachable_raises_after_the_bounded_attempts(caplog) -> None:
    client, clock = FlakyClient(failures=99), FakeTime()
    with (
        caplog.at_level(logging.WARNING, logger="regiongate.audit"),
        pytest.raises(AuditNotSent, match=r"audit event req-1 not accepted .* after 3 attempt\(s\): ConnectionError"),
    ):
        _sink(client, clock).emit(EVENT)
    assert len(client.calls) == 3 and client.sent == []
    assert clock.sleeps == [0.1, 0.2]  # no sleep after the last attempt
    # Metadata only in the logs: never the event body.
    assert [r.fields for r in caplog.records] == [
        {"request_id": "req-1", "attempt": n, "error": "ConnectionError"} for n in (1, 2, 3)
    ]


def test_the_deadline_stops_retrying_before_the_attempts_run_out() -> None:
    client, clock = FlakyClient(failures=99), FakeTime()
    with pytest.raises(AuditNotSent, match=r"after 2 attempt\(s\)"):
        _sink(client, clock, attempts=10, backoff=1.0, deadline=2.5).emit(EVENT)
    assert clock.sleeps == [1.0]  # a second pause of 2 s would pass the 2.5 s deadline
    assert len(client.calls) == 2


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        SqsAuditSink("https://queue", "eu-central-1", attempts=0)
