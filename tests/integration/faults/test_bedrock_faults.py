"""Bedrock fault modes against the gateway service: a loopback fake of the Bedrock runtime API (what boto3
really sends and parses, event streams included; tests/fixtures/fakes.py) behind the region's Bedrock
provider. Each mode: the client's status, an OpenAI-shaped error body with a clear message, the attempts the
retry policy allows, the back-off it slept (at most the policy's, summed exactly from the real sleeps), the
whole request within the deadline plus a fixed allowance for the gateway's own work (a correctness bound: no
mode may outlast the deadline; never a measured speed), and one audit row per request."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from decimal import Decimal

import pytest

from regiongate.contract.errors import UpstreamError, error_response
from regiongate.gateway.runtime.providers.retries import RetryPolicy
from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FakeBedrock
from tests.fixtures.gateway import make_gateway, new_key, post, sse_events

CHAT = "/v1/chat/completions"


def _bedrock_chat_model(runtime):
    """The region's first chat model on Bedrock (Converse, ConverseStream on /v1/chat/completions)."""
    return next(
        m for m in runtime.models.values() if m.kind == "chat" and runtime.providers[m.provider].type == "bedrock"
    )


# Generous: no mode here waits for the deadline, and the retry modes must get every attempt of the policy
# however slow botocore's first client is on a shared machine (the deadline would otherwise cut the last one).
DEADLINE = 10.0
POLICY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_retry_after=20.0, min_attempt_seconds=0.5)
OWN_WORK_SECONDS = 2.0  # the gateway's own work and botocore's, generously: a bound, not a speed target
BACKOFF = sum(min(POLICY.max_delay, POLICY.base_delay * 2**a) for a in range(POLICY.attempts - 1))

# mode -> (stream, status, error type, message fragment, attempts, the most back-off the policy sleeps in seconds)
CASES = {
    "throttling": (False, 429, "upstream_rate_limited", "rate limiting", 3, BACKOFF),
    "service_unavailable": (False, 502, "upstream_error", "Bedrock failed (ServiceUnavailableException)", 3, BACKOFF),
    "model_not_ready": (False, 502, "upstream_error", "Bedrock failed (ModelNotReadyException)", 3, BACKOFF),
    "validation": (
        False,
        400,
        "upstream_invalid_request",
        "Bedrock rejected the request (ValidationException)",
        1,
        0.0,
    ),
    "cut_stream": (True, 502, "upstream_error", "connection to Bedrock broke while streaming", 1, 0.0),
    "stream_error": (True, 502, "upstream_error", "Bedrock failed (modelStreamErrorException)", 1, 0.0),
}
FAILURES = {
    "throttling": (429, "ThrottlingException"),
    "service_unavailable": (503, "ServiceUnavailableException"),
    "model_not_ready": (429, "ModelNotReadyException"),  # Bedrock's status for it: retryable, not a throttle
    "validation": (400, "ValidationException"),
}


def _code(error_type: str, status: int) -> str:
    """The ``code`` the contract gives an error of this type (OpenAI's where one fits: contract/errors.py)."""
    return json.loads(error_response(UpstreamError("x", status=status, type=error_type))[2])["error"]["code"]


RESULTS: Counter[str] = Counter()


class CutStreamBedrock(FakeBedrock):
    """ConverseStream answers with a few events of a longer stream, then the connection closes."""

    def answer(self, handler, path, body):
        if not path.endswith("/converse-stream"):
            return super().answer(handler, path, body)
        events = self.stream_events()
        whole = b"".join(events)
        handler.send_response(200)
        handler.send_header("content-type", "application/vnd.amazon.eventstream")
        handler.send_header("content-length", str(len(whole)))
        handler.end_headers()
        handler.wfile.write(b"".join(events[:2]) + events[2][:7])  # two events and a piece of the third
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)
        handler.connection.close()
        handler.close_connection = True


@pytest.fixture(scope="module", autouse=True)
def print_counts():
    yield
    print(f"\nBedrock fault modes checked: {sum(RESULTS.values())} ({', '.join(sorted(RESULTS))})")


@pytest.mark.parametrize("mode", list(CASES))
def test_a_bedrock_fault_gives_a_clear_openai_error_in_bounded_time_and_one_audit_row(eu_runtime, mode):
    stream, status, error_type, fragment, attempts, most_backoff = CASES[mode]
    bedrock = CutStreamBedrock(reply="one two three four") if mode == "cut_stream" else FakeBedrock()
    if mode in FAILURES:
        bedrock.fail_next(10, *FAILURES[mode])
    if mode == "stream_error":
        bedrock.stream_error_after = 2
    store = MemoryStore()
    gateway, sink = make_gateway(eu_runtime, store, bedrock=bedrock, upstream_deadline=DEADLINE)
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the real back-off, recorded
        slept.append(seconds)
        time.sleep(seconds)

    gateway.retry, gateway.sleep = POLICY, sleep
    key = new_key(store, monthly_budget_usd=Decimal("5"))
    model = _bedrock_chat_model(eu_runtime)
    body = {"model": model.name, "messages": [{"role": "user", "content": "Hello"}], "stream": stream}
    try:
        started = time.monotonic()
        response = post(gateway, CHAT, body, key)
        elapsed = time.monotonic() - started
    finally:
        bedrock.close()

    if stream:  # the stream had started: the error is the last event before [DONE]
        events = sse_events(response.body)
        assert response.status == 200 and events[-1] == "[DONE]"
        error = events[-2]["error"]
    else:
        assert response.status == status and response.headers["content-type"] == "application/json"
        error = json.loads(response.body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == (error_type, _code(error_type, status))
    assert fragment in error["message"] and "(fake)" not in error["message"]  # nothing of the upstream's text
    assert len(bedrock.requests) == attempts
    bound = DEADLINE + OWN_WORK_SECONDS
    print(
        f"{mode}: HTTP {response.status} {error['type']} after {len(bedrock.requests)} attempts, "
        f"{sum(slept):.2f} s of back-off (policy at most {most_backoff:.2f} s), {elapsed:.2f} s (bound {bound:.2f} s)"
    )
    assert len(slept) == attempts - 1 and sum(slept) <= most_backoff
    assert elapsed <= bound

    [event] = sink.events
    assert (event["status"], event["error_type"], event["provider"]) == (status, error_type, model.provider)
    if mode == "throttling":
        assert "retry-after" not in response.headers  # Bedrock sends none: none is made up
    assert store.write_audit_events(sink.events) == 1 and list(store.audit) == [event["request_id"]]
    assert store.write_audit_events(sink.events) == 0
    assert store.holds == {} or all(h.amount_usd == 0 for h in store.holds.values())  # a failure costs nothing
    RESULTS[mode] += 1
