"""The gateway end to end with a scripted loopback upstream: one overall upstream deadline covering retries,
an upstream Retry-After honoured within it and passed on, and the gateway's own rate limits and budgets
(429, Retry-After, x-ratelimit-*). Waits are injected (no real back-off); nothing is timed."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from regiongate.audit.runtime.events import ListAuditSink
from regiongate.contract.errors import UpstreamError
from regiongate.gateway.runtime.checks import max_output_tokens
from regiongate.gateway.runtime.guardrails import chat_texts, estimate_tokens
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.retries import RetryPolicy, with_retries
from regiongate.gateway.runtime.service import Gateway
from regiongate.gateway.runtime.translate import ChatResult
from regiongate.store import RateLimits
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.gateway import body_of, make_gateway, new_key, post
from tests.fixtures.gateway_db import _store

CHAT = "/v1/chat/completions"


def chat(model="gpt-4o", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}


class Scripted:
    """An OpenAI-shaped upstream answering from a script of (status, headers, hang seconds); then 200."""

    def __init__(self, script: list[tuple[int, dict[str, str], float]]) -> None:
        self.script = list(script)
        self.requests = 0
        self.release = threading.Event()  # ends every hang at close
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                owner.requests += 1
                status, headers, hang = owner.script.pop(0) if owner.script else (200, {}, 0.0)
                if hang:
                    owner.release.wait(hang)
                if status == 200:
                    body = json.dumps(
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "choices": [
                                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
                            ],
                            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                        }
                    ).encode()
                else:
                    body = json.dumps({"error": {"code": "x", "message": "no"}}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream_script():
    made = []

    def make(script):
        made.append(Scripted(script))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


def _gateway(eu_runtime, store, upstream, **kwargs):
    gateway, sink = make_gateway(eu_runtime, store, azure=upstream, **kwargs)
    sleeps: list[float] = []
    gateway.sleep = sleeps.append
    return gateway, sink, sleeps


def test_an_upstream_retry_after_is_waited_for_within_the_deadline_and_passed_on_when_final(
    eu_runtime, upstream_script
):
    store = MemoryStore()
    upstream = upstream_script([(429, {"retry-after": "7"}, 0.0)] * 3)
    gateway, sink, sleeps = _gateway(eu_runtime, store, upstream)
    response = post(gateway, CHAT, chat(), new_key(store))
    assert response.status == 429 and body_of(response)["error"]["type"] == "upstream_rate_limited"
    assert response.headers["retry-after"] == "7"
    assert upstream.requests == 3 and len(sleeps) == 2 and min(sleeps) >= 7.0
    assert sink.events[-1]["status"] == 429


def test_a_retry_after_that_does_not_fit_is_not_waited_for(eu_runtime, upstream_script):
    store = MemoryStore()
    upstream = upstream_script([(429, {"retry-after": "7"}, 0.0)])
    gateway, _, sleeps = _gateway(eu_runtime, store, upstream, upstream_deadline=5.0)
    response = post(gateway, CHAT, chat(), new_key(store))
    assert (response.status, response.headers["retry-after"]) == (429, "7")
    assert upstream.requests == 1 and sleeps == []
    upstream.script = [(429, {"retry-after-ms": "30000"}, 0.0)]  # longer than the policy waits for
    response = post(gateway, CHAT, chat(), new_key(store))
    assert (response.status, response.headers["retry-after"]) == (429, "30")
    assert upstream.requests == 2 and sleeps == []


def test_a_hanging_upstream_is_cut_at_the_deadline_not_at_the_read_timeout(eu_runtime, upstream_script):
    """The registry's read timeout is 110 s; the deadline of 1 s is what ends the attempt (one attempt:
    none is started with less than a second left)."""
    store = MemoryStore()
    upstream = upstream_script([(500, {}, 30.0)] * 3)
    gateway, sink, _ = _gateway(eu_runtime, store, upstream, upstream_deadline=1.0)
    response = post(gateway, CHAT, chat(), new_key(store))
    assert response.status == 504 and body_of(response)["error"]["type"] == "upstream_timeout"
    assert upstream.requests == 1 and sink.events[-1]["status"] == 504


def test_slow_failing_attempts_stop_within_the_deadline():
    """Each attempt takes 45 s and fails with a retryable 502 (a fake clock): the third attempt gets only what
    is left of the 100 s deadline, so the whole request ends at 100 s, not at 135 s."""
    now = [0.0]
    timer = UpstreamTimer(deadline=100.0, monotonic=lambda: now[0])
    attempts = []

    def attempt():
        attempts.append(now[0])
        allowed = timer.read_timeout(110.0)
        if allowed < 45.0:
            now[0] += allowed
            timer.read_timeout(110.0)  # nothing left: raises UpstreamTimeout
        now[0] += 45.0
        raise UpstreamError("the provider failed with HTTP 500", retryable=True)

    def sleep(seconds):
        now[0] += seconds

    with pytest.raises(UpstreamError, match=r"^the provider did not answer within the gateway's deadline$"):
        with_retries(attempt, RetryPolicy(attempts=5, base_delay=0.2), timer, sleep)
    print(f"attempts started at {[round(a, 1) for a in attempts]} s; ended at {now[0]:.1f} s (deadline 100 s)")
    assert len(attempts) == 3 and now[0] == 100.0


def test_rate_limit_headers_on_every_answer_and_a_429_with_retry_after(eu_runtime, upstream_script):
    store = MemoryStore()
    gateway, sink, _ = _gateway(eu_runtime, store, upstream_script([]))
    key = new_key(store)
    [record] = store.list_keys()
    store.set_rate_limits("key", record.key_id, RateLimits(requests_per_minute=2, tokens_per_minute=100_000))
    first = post(gateway, CHAT, chat(max_tokens=10), key)
    assert first.status == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 100_000 - 2 - 10  # estimate: "Hello" + max_tokens
    assert post(gateway, CHAT, chat(max_tokens=10), key).status == 200
    refused = post(gateway, CHAT, chat(max_tokens=10), key)
    assert refused.status == 429 and body_of(refused)["error"]["type"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert [e["status"] for e in sink.events] == [200, 200, 429]
    assert store.inflight == {}  # every slot was released


def test_a_budget_through_the_gateway_settles_and_the_writer_counts_once(eu_runtime, upstream_script):
    store = MemoryStore()
    gateway, sink, _ = _gateway(eu_runtime, store, upstream_script([]))
    key = new_key(store, monthly_budget_usd=Decimal("1"))
    [record] = store.list_keys()
    assert post(gateway, CHAT, chat(max_tokens=10), key).status == 200
    [event] = sink.events
    [hold] = store.holds.values()
    assert hold.amount_usd == Decimal(event["cost_usd"]) and hold.request_id in store.settled
    store.write_audit_events(sink.events)
    assert store.holds == {}
    assert store.month_spend("key", record.key_id, hold.created_at.date()) == Decimal(event["cost_usd"])


def test_a_failed_call_settles_its_reservation_to_nothing(eu_runtime, upstream_script):
    store = MemoryStore()
    gateway, _, _ = _gateway(eu_runtime, store, upstream_script([(400, {}, 0.0)]))
    key = new_key(store, monthly_budget_usd=Decimal("1"))
    assert post(gateway, CHAT, chat(max_tokens=10), key).status == 400
    [hold] = store.holds.values()
    assert hold.amount_usd == 0


@pytest.mark.postgres
def test_fifty_concurrent_requests_on_three_instances_overshoot_a_budget_by_at_most_one_reservation(
    eu_runtime, pg_store, database_url
):
    gate = threading.Barrier(50)

    class Provider:
        def chat(self, model, body, timer):
            return ChatResult("Paris.", [], "stop", 12, 150)

    class Providers:
        def get(self, name):
            return Provider()

        def for_context(self, ctx, name):
            ctx.credential_source = "platform"
            return self.get(name)

    stores = [_store(database_url) for _ in range(3)]
    try:
        sinks = [ListAuditSink() for _ in stores]
        gateways = [
            Gateway(eu_runtime, store=s, registry=Providers(), audit=sink, clock=pinned())
            for s, sink in zip(stores, sinks, strict=True)
        ]
        budget = Decimal("0.01")
        key = new_key(pg_store, monthly_budget_usd=budget)
        body = chat("claude-sonnet-4-5", max_tokens=200)
        model = eu_runtime.models["claude-sonnet-4-5"]
        reservation = cost_usd(
            estimate_tokens(chat_texts(body)),
            max_output_tokens(body),
            model.highest_input_price,  # what the budget check reserves an input token at
            model.output_usd_per_mtok,
        )

        def one(i):
            gate.wait()
            return post(gateways[i % 3], CHAT, body, key).status

        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(one, range(50)))
        for s, sink in zip(stores, sinks, strict=True):
            s.write_audit_events(sink.events)
        [record] = pg_store.list_keys()
        spend = pg_store.month_spend("key", record.key_id, NOW.date())
        held = pg_store.held_spend("key", record.key_id, NOW.date(), NOW)
        print(
            f"50 requests on 3 instances, budget {budget} USD, one reservation {reservation} USD: "
            f"{statuses.count(200)} answered, {statuses.count(429)} refused, spend {spend} USD (+{held} held)"
        )
        assert sorted(set(statuses)) == [200, 429] and held == 0
        assert spend <= budget + reservation
        assert sum(len(sink.events) for sink in sinks) == 50
    finally:
        for s in stores:
            s.pool.close()
