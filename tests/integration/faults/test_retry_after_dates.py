"""An upstream 429 whose ``Retry-After`` is an HTTP-date (RFC 9110 IMF-fixdate), end to end: a loopback fake
OpenAI-format upstream behind the region's Azure provider, the gateway service with its clock pinned.

With the answer's own ``Date`` header the wait is measured from the upstream's clock; without one, from the
request's clock (the gateway's injected clock, carried by the request's ``UpstreamTimer`` down to the
provider): with the pinned clock the fake's date lies in the future by exactly ``WAIT`` seconds, while the
machine's real clock would read it as past or far off. The wait is honoured within the deadline (real sleeps,
recorded), a date too far off is passed on to the client at once, and each request is one audit row. The time
bound is the policy's waits plus a fixed allowance for the gateway's own work, never a measured speed."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

import pytest

from regiongate.gateway.runtime.providers.retries import RetryPolicy
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW
from tests.fixtures.fakes import FaultyOpenAI
from tests.fixtures.gateway import make_gateway, new_key, post

pytestmark = pytest.mark.clock

CHAT = "/v1/chat/completions"
DEADLINE = 10.0  # ample for every attempt of the policy after its waits: the attempts are the policy's
POLICY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_retry_after=20.0, min_attempt_seconds=0.5)
OWN_WORK_SECONDS = 2.0  # the gateway's own work, generously: a bound on a shared machine, not a speed target
WAIT = 1  # seconds between the fake's Date (or the pinned clock) and its Retry-After date: waited for
FAR = 30  # seconds: beyond POLICY.max_retry_after, so the 429 is final and its Retry-After goes to the client
MOMENT = NOW.replace(microsecond=0)  # an HTTP-date has whole seconds: the gateway's clock is pinned to one
UPSTREAM_DATE = MOMENT - timedelta(days=400)  # the upstream's own clock, far from the gateway's and the machine's


class DatedRateLimit(FaultyOpenAI):
    """Answers every request 429 with ``Retry-After: <IMF-fixdate>`` ``seconds`` after ``reference``, and a
    ``Date: <reference>`` header unless ``send_date`` is False (no Date header at all then)."""

    def __init__(self, *, reference, seconds: int, send_date: bool) -> None:
        self.reference, self.seconds, self.send_date = reference, seconds, send_date
        super().__init__("429")

    def answer(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        error = json.dumps({"error": {"message": "upstream says no", "code": "rate_limit_exceeded"}}).encode()
        handler.send_response_only(429)  # send_response would add a Date of the machine's clock
        if self.send_date:
            handler.send_header("date", format_datetime(self.reference, usegmt=True))
        handler.send_header(
            "retry-after", format_datetime(self.reference + timedelta(seconds=self.seconds), usegmt=True)
        )
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(error)))
        handler.end_headers()
        handler.wfile.write(error)


# case -> (the reference the fake's Retry-After date counts from, whether it sends it as Date, seconds after it,
#          attempts, the waits the policy makes, the Retry-After the client gets)
CASES = {
    "date_header": (UPSTREAM_DATE, True, WAIT, 3, [float(WAIT)] * 2, str(WAIT)),
    "pinned_clock": (MOMENT, False, WAIT, 3, [float(WAIT)] * 2, str(WAIT)),
    "too_far_date_header": (UPSTREAM_DATE, True, FAR, 1, [], str(FAR)),
    "too_far_pinned_clock": (MOMENT, False, FAR, 1, [], str(FAR)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_http_date_retry_after_is_waited_for_or_passed_on_and_audited_once(eu_runtime, case):
    reference, send_date, seconds, attempts, waits, client_retry_after = CASES[case]
    upstream = DatedRateLimit(reference=reference, seconds=seconds, send_date=send_date)
    store = MemoryStore()
    gateway, sink = make_gateway(eu_runtime, store, azure=upstream, upstream_deadline=DEADLINE, clock=lambda: MOMENT)
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the real wait, recorded
        slept.append(seconds)
        time.sleep(seconds)

    gateway.retry, gateway.sleep = POLICY, sleep
    key = new_key(store, monthly_budget_usd=Decimal("5"))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}
    try:
        started = time.monotonic()
        response = post(gateway, CHAT, body, key)
        elapsed = time.monotonic() - started
    finally:
        upstream.close()

    error = json.loads(response.body)["error"]
    bound = sum(waits) + OWN_WORK_SECONDS
    print(
        f"{case}: HTTP {response.status} after {upstream.requests} attempts, waits {slept}, "
        f"Retry-After {response.headers.get('retry-after')}, {elapsed:.2f} s (bound {bound:.2f} s)"
    )
    assert response.status == 429 and error["type"] == "upstream_rate_limited"
    assert "upstream says no" not in error["message"]
    assert upstream.requests == attempts and slept == waits  # the date's wait, not the 0.05 s back-off
    assert response.headers["retry-after"] == client_retry_after
    assert elapsed <= bound

    [event] = sink.events
    assert (event["status"], event["error_type"]) == (429, "upstream_rate_limited")
    assert store.write_audit_events(sink.events) == 1 and list(store.audit) == [event["request_id"]]
    assert store.write_audit_events(sink.events) == 0
