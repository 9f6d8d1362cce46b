"""Every upstream fault mode against the gateway service (a loopback fake OpenAI-format upstream behind the
region's Azure provider): the client's status, an OpenAI-shaped error body with a clear message, an upper bound
on the time taken that follows from the configured deadline and retry policy, one audit row and one metrics line
per request. Real sleeps and socket timeouts (no injected clock): the bounds are the policy's, plus a fixed
allowance for the gateway's own work (``OWN_WORK_SECONDS``), never a measured speed."""

from __future__ import annotations

import json
import time
from collections import Counter
from decimal import Decimal

import pytest

from regiongate.contract.errors import error_code
from regiongate.gateway.runtime.metrics import MetricsEmitter
from regiongate.gateway.runtime.providers.retries import RetryPolicy
from regiongate.store.memory import MemoryStore
from tests.fixtures.fakes import FaultyOpenAI
from tests.fixtures.gateway import make_gateway, new_key, post, sse_events

CHAT = "/v1/chat/completions"
DEADLINE = 2.0  # the gateway's one upstream deadline per request (attempts, reads, back-off)
POLICY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_retry_after=20.0, min_attempt_seconds=0.5)
RETRY_AFTER = 1  # seconds the fake's 429 asks for: fits in the deadline, so it is waited for
SLOW = 0.8  # seconds each slow 5xx attempt takes
# Everything the gateway does besides waiting for the upstream (auth, checks, JSON, audit emit), generously:
# a bound on a shared machine's scheduling, not a speed target.
OWN_WORK_SECONDS = 2.0

# The worst case each mode may take by the policy: failing fast, the back-off sum of (attempts - 1) delays;
# waiting, the deadline (nothing the gateway does for the upstream outlasts it).
BACKOFF = sum(min(POLICY.max_delay, POLICY.base_delay * 2**a) for a in range(POLICY.attempts - 1))

# mode -> (stream, status, error type, message fragment, attempts, upper bound in seconds)
CASES = {
    "500": (False, 502, "upstream_error", "the provider failed with HTTP 500", 3, BACKOFF),
    "503": (False, 502, "upstream_error", "the provider failed with HTTP 503", 3, BACKOFF),
    "429": (False, 429, "upstream_rate_limited", "rate", None, DEADLINE),
    "hang": (False, 504, "upstream_timeout", "did not answer", 1, DEADLINE),
    "slow_5xx": (False, None, None, None, None, DEADLINE),  # a 502 or, when the deadline cuts it, a 504
    "malformed_json": (False, 502, "upstream_error", "not JSON", 1, 0.0),
    "html": (False, 502, "upstream_error", "not JSON", 1, 0.0),
    "cut": (False, 502, "upstream_error", "connection broke", 3, BACKOFF),
    "cut_stream": (True, 502, "upstream_error", "connection broke while streaming", 1, 0.0),
    "reset": (False, 502, "upstream_error", "connection", 3, BACKOFF),
    "usage_negative": (False, 502, "upstream_error", "usage", 1, 0.0),
    "usage_huge": (False, 502, "upstream_error", "usage", 1, 0.0),
}

RESULTS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def print_counts():
    yield
    print(f"\nupstream fault modes checked: {sum(RESULTS.values())} ({', '.join(sorted(RESULTS))})")


def _chat(stream: bool) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}], "stream": stream}


@pytest.mark.parametrize("mode", list(CASES))
def test_an_upstream_fault_gives_a_clear_openai_error_in_bounded_time_and_one_audit_row(eu_runtime, mode):
    stream, status, error_type, fragment, attempts, policy_bound = CASES[mode]
    upstream = FaultyOpenAI("cut" if mode == "cut_stream" else mode, retry_after=RETRY_AFTER, delay=SLOW)
    store = MemoryStore()
    lines: list[dict] = []
    gateway, sink = make_gateway(
        eu_runtime,
        store,
        azure=upstream,
        upstream_deadline=DEADLINE,
        metrics=MetricsEmitter(eu_runtime.code, write=lines.append),
    )
    gateway.retry, gateway.sleep = POLICY, time.sleep  # the real back-off and Retry-After waits
    key = new_key(store, monthly_budget_usd=Decimal("5"))
    try:
        started = time.monotonic()
        response = post(gateway, CHAT, _chat(stream), key)
        elapsed = time.monotonic() - started
    finally:
        upstream.close()

    if stream:  # the stream had started: the error is the last event before [DONE]
        events = sse_events(response.body)
        assert response.status == 200 and events[-1] == "[DONE]"
        error = events[-2]["error"]
    else:
        error = json.loads(response.body)["error"]
    if mode == "slow_5xx":  # two slow attempts fit before the deadline (0.8 + 0.8 + back-off < 2.0), not three
        status, error_type = (
            (504, "upstream_timeout") if error["code"] == "upstream_timeout" else (502, "upstream_error")
        )
        fragment = "deadline" if status == 504 else "the provider failed with HTTP 500"
        assert upstream.requests in (2, 3)
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type and error["code"] == error_code(error_type)
    if not stream:
        assert response.status == status and response.headers["content-type"] == "application/json"
    assert fragment in error["message"]
    assert "upstream says no" not in error["message"] and "<html>" not in error["message"]  # nothing quoted
    if mode == "429":
        assert response.headers["retry-after"] == str(RETRY_AFTER)
        # waited for within the deadline: RETRY_AFTER + min_attempt_seconds per retry, at least once
        assert 2 <= upstream.requests <= 1 + int(DEADLINE // (RETRY_AFTER + POLICY.min_attempt_seconds)) + 1
    elif attempts is not None:
        assert upstream.requests == attempts
    bound = policy_bound + OWN_WORK_SECONDS
    print(f"{mode}: HTTP {response.status} {error['type']} after {elapsed:.2f} s (bound {bound:.2f} s)")
    assert elapsed <= bound

    # One audit event, written as one row; a metrics line counting the error by its type.
    [event] = sink.events
    assert event["status"] == status and event["error_type"] == error_type
    assert event["input_tokens"] >= 0 and event["output_tokens"] >= 0 and Decimal(event["cost_usd"]) >= 0
    assert store.write_audit_events(sink.events) == 1 and list(store.audit) == [event["request_id"]]
    assert store.write_audit_events(sink.events) == 0  # the writer is idempotent
    [line] = lines
    assert (line["Errors"], line["ErrorType"]) == (1, error_type)
    assert line["Errors5xx"] == int(status >= 500) and line["Throttles"] == int(status == 429)
    assert key not in json.dumps(line)
    RESULTS[mode] += 1
