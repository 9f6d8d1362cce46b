"""Budget reservations, the sliding rate window and the rate-limit check, against the in-memory store (no I/O).

The same decisions are made by PostgreSQL (tests/integration/store/test_limits_postgres.py); these pin the
rules: admitted while under budget (so the overshoot is at most one reservation), settled to the actual cost,
counted once (rollup or hold, never both), expired by the injected clock.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from regiongate.contract.errors import BudgetExceeded, RateLimited, error_response
from regiongate.gateway.runtime.checks import Call, max_output_tokens
from regiongate.gateway.runtime.checks.budget import BudgetGuard
from regiongate.gateway.runtime.checks.rate_limit import RateLimiter, duration, ratelimit_headers
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.store import KeyRecord, RateLimits, RateWindow
from regiongate.store import rate_window as rw
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW

pytestmark = pytest.mark.clock


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now


def _key(**changes) -> KeyRecord:
    record = KeyRecord(
        key_id="k1",
        key_hash=b"h1",
        display_prefix="rk-eu-abcdef",
        region="eu",
        org_id="acme",
        team_id="ml",
        user_id=None,
        monthly_budget_usd=None,
        model_allowlist=None,
        expires_at=None,
        created_at=NOW,
        revoked_at=None,
    )
    return dataclasses.replace(record, **changes)


def _chat_model(runtime):
    return next(m for m in runtime.models.values() if m.kind == "chat" and m.output_usd_per_mtok > 0)


def _call(runtime, clock, key, *, text="hello there", max_tokens=100) -> Call:
    return Call(RequestContext(clock), key, _chat_model(runtime), [("messages[0].content", text)], max_tokens)


def _event(ctx: RequestContext, key: KeyRecord, cost: Decimal) -> dict:
    return {
        "request_id": ctx.request_id,
        "created_at": ctx.created_at.isoformat(),
        "region": "eu",
        "endpoint": "chat",
        "key_id": key.key_id,
        "org_id": key.org_id,
        "team_id": key.team_id,
        "user_id": None,
        "model": "m",
        "provider": "p",
        "input_tokens": 3,
        "output_tokens": 5,
        "cost_usd": str(cost),
        "total_ms": 1.0,
        "upstream_ms": 0.5,
        "status": 200,
        "error_type": None,
        "stream": False,
        "guardrail": "pass",
        "violations": [],
    }


def test_max_output_tokens_is_the_requests_own_limit_or_the_default_allowance():
    assert max_output_tokens({"max_tokens": 10}) == 10
    assert max_output_tokens({"max_completion_tokens": 7, "max_tokens": 10}) == 7
    assert max_output_tokens({}) == 4096


def test_a_reservation_is_the_estimate_at_the_models_prices_and_settles_to_the_actual_cost(eu_runtime):
    store, clock = MemoryStore(), Clock()
    key = _key(monthly_budget_usd=Decimal("5"))
    store.insert_key(key)
    guard = BudgetGuard(store, clock)
    call = _call(eu_runtime, clock, key, text="x" * 400, max_tokens=1000)  # 100 input tokens (4 characters each)
    guard(call)
    model = call.model
    # Input at the highest price an input token can have: written to the prompt cache (3.75 > 3.00 for this model).
    assert model.highest_input_price == model.cache_write_usd_per_mtok > model.input_usd_per_mtok
    expected = cost_usd(100, 1000, model.highest_input_price, model.output_usd_per_mtok)
    assert store.holds[call.ctx.request_id].amount_usd == expected
    assert store.held_spend("key", "k1", NOW.date(), NOW) == expected
    assert store.held_spend("team", "acme/ml", NOW.date(), NOW) == expected
    call.ctx.cost = Decimal("0.001")
    guard.settle(call.ctx)
    assert store.held_spend("org", "acme", NOW.date(), NOW) == Decimal("0.001")
    assert call.ctx.spend_held is False


def test_spend_is_counted_once_the_writer_turns_the_hold_into_a_rollup(eu_runtime):
    store, clock = MemoryStore(), Clock()
    key = _key(monthly_budget_usd=Decimal("1"))
    store.insert_key(key)
    guard = BudgetGuard(store, clock)
    call = _call(eu_runtime, clock, key)
    guard(call)
    call.ctx.cost = Decimal("0.25")
    guard.settle(call.ctx)
    before = store.month_spend("key", "k1", NOW.date()) + store.held_spend("key", "k1", NOW.date(), NOW)
    assert store.write_audit_events([_event(call.ctx, key, Decimal("0.25"))]) == 1
    after = store.month_spend("key", "k1", NOW.date()) + store.held_spend("key", "k1", NOW.date(), NOW)
    assert (before, after) == (Decimal("0.25"), Decimal("0.25"))
    assert store.held_spend("key", "k1", NOW.date(), NOW) == 0


def test_a_key_is_admitted_while_under_budget_so_the_overshoot_is_at_most_one_reservation(eu_runtime):
    store, clock = MemoryStore(), Clock()
    budget = Decimal("0.01")
    key = _key(monthly_budget_usd=budget)
    store.insert_key(key)
    guard = BudgetGuard(store, clock)
    admitted, refused, reservations = 0, 0, []

    def one() -> None:
        nonlocal admitted, refused
        call = _call(eu_runtime, clock, key, max_tokens=50)
        try:
            guard(call)
        except BudgetExceeded:
            refused += 1
            return
        admitted += 1
        reservations.append(store.holds[call.ctx.request_id].amount_usd)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = store.held_spend("key", "k1", NOW.date(), NOW)
    print(f"50 threads, budget {budget} USD: {admitted} admitted, {refused} refused, reserved {total} USD")
    assert admitted + refused == 50 and admitted > 1 and refused > 0
    assert total <= budget + max(reservations)
    assert total - max(reservations) < budget  # the last admission was made while still under budget


def test_the_org_budget_refuses_every_key_of_the_org(eu_runtime):
    store, clock = MemoryStore(), Clock()
    store.insert_key(_key())
    store.set_org_budget("acme", Decimal("0"))
    with pytest.raises(BudgetExceeded, match=r"^organisation acme has used its monthly budget of 0 USD$"):
        BudgetGuard(store, clock)(_call(eu_runtime, clock, _key()))


def test_an_unsettled_reservation_of_a_crashed_instance_expires(eu_runtime):
    store, clock = MemoryStore(), Clock()
    key = _key(monthly_budget_usd=Decimal("0.000001"))
    store.insert_key(key)
    guard = BudgetGuard(store, clock, hold_seconds=300)
    guard(_call(eu_runtime, clock, key))  # never settled
    with pytest.raises(BudgetExceeded, match=r"^this key has used its monthly budget"):
        guard(_call(eu_runtime, clock, key))
    clock.now = NOW + timedelta(seconds=301)
    guard(_call(eu_runtime, clock, key))  # the first reservation no longer counts


def test_a_month_counts_only_its_own_reservations(eu_runtime):
    store, clock = MemoryStore(), Clock()
    key = _key()
    store.set_org_budget("acme", Decimal("10"))  # an org budget alone makes every key of the org reserve
    store.insert_key(key)
    call = _call(eu_runtime, clock, key)
    BudgetGuard(store, clock)(call)
    next_month = (NOW.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert store.held_spend("key", "k1", NOW.date(), NOW) > 0
    assert store.held_spend("key", "k1", next_month.date(), NOW) == 0


def test_without_any_budget_nothing_is_reserved_and_an_org_budget_applies_within_the_ttl(eu_runtime):
    store, clock, now = MemoryStore(), Clock(), [0.0]
    store.insert_key(_key())
    guard = BudgetGuard(store, clock, ttl=30, monotonic=lambda: now[0])
    call = _call(eu_runtime, clock, _key())
    guard(call)
    assert (store.holds, call.ctx.spend_held) == ({}, False)
    store.set_org_budget("acme", Decimal("0"))
    guard(_call(eu_runtime, clock, _key()))  # "no org budget" is still cached
    now[0] = 31.0
    with pytest.raises(BudgetExceeded, match=r"^organisation acme has used its monthly budget of 0 USD$"):
        guard(_call(eu_runtime, clock, _key()))


def test_a_team_budget_refuses_every_key_of_the_team_and_only_that_team(eu_runtime):
    store, clock = MemoryStore(), Clock()
    ml, other_team, other_org = (
        _key(),
        _key(key_id="k2", key_hash=b"h2", team_id="web"),
        _key(key_id="k3", key_hash=b"h3", org_id="beta"),
    )
    for key in (ml, other_team, other_org):
        store.insert_key(key)
    budget = Decimal("0.00005")
    store.set_team_budget("acme", "ml", budget)
    assert store.team_budget("acme", "ml") == budget and store.team_budgets() == [("acme", "ml", budget)]
    guard = BudgetGuard(store, clock)
    first = _call(eu_runtime, clock, ml)
    guard(first)  # under budget: admitted, and its reservation counts against the team
    assert first.ctx.spend_held
    reserved = store.held_spend("team", "acme/ml", NOW.date(), NOW)
    assert reserved > budget  # one reservation is over: the overshoot of at most one request
    with pytest.raises(
        BudgetExceeded, match=r"^team ml of organisation acme has used its monthly budget of 0.00005 USD$"
    ):
        guard(_call(eu_runtime, clock, dataclasses.replace(ml)))
    guard(_call(eu_runtime, clock, other_team))  # another team of the org has no budget: nothing reserved
    guard(_call(eu_runtime, clock, other_org))  # beta's ml team is another team
    assert store.held_spend("team", "acme/web", NOW.date(), NOW) == 0
    assert store.held_spend("team", "beta/ml", NOW.date(), NOW) == 0
    store.set_team_budget("acme", "ml", None)
    assert store.team_budget("acme", "ml") is None
    guard(_call(eu_runtime, clock, ml))  # cleared: admitted again


def test_a_team_budget_counts_the_rolled_up_spend_of_the_month(eu_runtime):
    store, clock = MemoryStore(), Clock()
    key = _key()
    store.insert_key(key)
    store.set_team_budget("acme", "ml", Decimal("0.01"))
    call = _call(eu_runtime, clock, key)
    guard = BudgetGuard(store, clock)
    guard(call)
    call.ctx.cost = Decimal("0.01")
    guard.settle(call.ctx)
    assert store.write_audit_events([_event(call.ctx, key, Decimal("0.01"))]) == 1
    assert store.month_spend("team", "acme/ml", NOW.date()) == Decimal("0.01")
    with pytest.raises(BudgetExceeded, match=r"^team ml of organisation acme has used"):
        guard(_call(eu_runtime, clock, key))


# --- the sliding window ------------------------------------------------------------------------------------


def test_the_window_admits_the_limit_per_window_and_says_when_the_oldest_request_leaves_it():
    limits = RateLimits(requests_per_minute=3)
    now = NOW.replace(microsecond=0)
    current = rw.bucket_of(now, 60)
    full = [(current - 30, 2, 0), (current - 10, 1, 0)]
    verdict = rw.judge("key", limits, full, 0, 0, now, 60)
    assert (verdict.refused, verdict.retry_after) == ("requests", 30.0)  # two requests leave in 30 s
    assert rw.judge("key", limits, full[1:], 0, 0, now, 60).refused is None
    window = rw.judge("key", limits, full[1:], 0, 0, now, 60).window
    assert (window.requests_limit, window.requests_remaining, window.requests_reset_seconds) == (3, 1, 50.0)


def test_the_window_refuses_tokens_over_the_limit_and_a_request_bigger_than_the_limit_forever():
    limits = RateLimits(tokens_per_minute=1000)
    now = NOW.replace(microsecond=0)
    current = rw.bucket_of(now, 60)
    verdict = rw.judge("org", limits, [(current - 59, 1, 900)], 0, 200, now, 60)
    assert (verdict.refused, verdict.retry_after, verdict.never) == ("tokens", 1.0, False)
    assert rw.judge("org", limits, [], 0, 1001, now, 60).never is True
    assert rw.judge("org", limits, [(current, 1, 800)], 0, 200, now, 60).refused is None


def test_the_window_refuses_beyond_the_concurrent_requests():
    limits = RateLimits(concurrent_requests=2)
    assert rw.judge("key", limits, [], 2, 0, NOW, 60).refused == "concurrency"
    assert rw.judge("key", limits, [], 1, 0, NOW, 60).refused is None


def test_reset_durations_are_written_as_openai_writes_them():
    assert [duration(s) for s in (0.25, 1.0, 17.2, 360.0)] == ["250ms", "1s", "18s", "6m0s"]
    windows = [
        RateWindow("key", 100, 5, 3.0, None, None, 0.0),
        RateWindow("org", 1000, 2, 40.0, 50_000, 123, 12.0),
    ]
    assert ratelimit_headers(windows) == {
        "x-ratelimit-limit-requests": "1000",
        "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "40s",
        "x-ratelimit-limit-tokens": "50000",
        "x-ratelimit-remaining-tokens": "123",
        "x-ratelimit-reset-tokens": "12s",
    }


# --- the rate-limit check ----------------------------------------------------------------------------------


def test_a_key_over_its_requests_per_minute_gets_a_429_with_retry_after_and_the_headers(eu_runtime):
    store, clock = MemoryStore(), Clock()
    store.set_rate_limits("key", "k1", RateLimits(requests_per_minute=2))
    limiter = RateLimiter(store, clock)
    first = _call(eu_runtime, clock, _key())
    limiter(first)
    assert first.ctx.rate_headers["x-ratelimit-remaining-requests"] == "1"
    limiter(_call(eu_runtime, clock, _key()))
    refused = _call(eu_runtime, clock, _key())
    with pytest.raises(RateLimited, match=r"^this key is at its limit of requests per minute; retry after ") as info:
        limiter(refused)
    assert refused.ctx.rate_headers["x-ratelimit-remaining-requests"] == "0"
    status, headers, _ = error_response(info.value)
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 60
    clock.now = NOW + timedelta(seconds=61)
    limiter(_call(eu_runtime, clock, _key()))  # the window has moved on


def test_the_org_limit_applies_to_all_its_keys_and_refusals_are_not_counted(eu_runtime):
    store, clock = MemoryStore(), Clock()
    store.set_rate_limits("org", "acme", RateLimits(requests_per_minute=1))
    limiter = RateLimiter(store, clock)
    limiter(_call(eu_runtime, clock, _key(key_id="k1")))
    for _ in range(3):
        with pytest.raises(RateLimited, match=r"^organisation acme is at its limit of requests per minute"):
            limiter(_call(eu_runtime, clock, _key(key_id="k2")))
    assert sum(r for r, _ in store.rate_buckets[("org", "acme")].values()) == 1


def test_a_concurrency_slot_is_freed_on_release_or_when_its_instance_crashed(eu_runtime):
    store, clock = MemoryStore(), Clock()
    store.set_rate_limits("key", "k1", RateLimits(concurrent_requests=1))
    limiter = RateLimiter(store, clock, hold_seconds=300)
    running = _call(eu_runtime, clock, _key())
    limiter(running)
    with pytest.raises(RateLimited, match=r"at its limit of concurrent requests"):
        limiter(_call(eu_runtime, clock, _key()))
    limiter.release(running.ctx)
    crashed = _call(eu_runtime, clock, _key())
    limiter(crashed)  # never released
    clock.now = NOW + timedelta(seconds=301)
    limiter(_call(eu_runtime, clock, _key()))


def test_tokens_are_counted_at_admission_and_corrected_to_the_actual_usage(eu_runtime):
    store, clock = MemoryStore(), Clock()
    store.set_rate_limits("key", "k1", RateLimits(tokens_per_minute=1000))
    limiter = RateLimiter(store, clock)
    call = _call(eu_runtime, clock, _key(), text="abcd", max_tokens=900)  # 1 + 900 tokens counted
    limiter(call)
    with pytest.raises(RateLimited, match=r"at its limit of tokens per minute"):
        limiter(_call(eu_runtime, clock, _key(), text="abcd", max_tokens=200))
    call.ctx.input_tokens, call.ctx.output_tokens = 1, 9
    limiter.release(call.ctx)
    limiter(_call(eu_runtime, clock, _key(), text="abcd", max_tokens=200))
    with pytest.raises(RateLimited, match=r"exceed the tokens per minute limit of this key; lower max_tokens$"):
        limiter(_call(eu_runtime, clock, _key(), text="abcd", max_tokens=5000))


def test_an_unlimited_key_gets_no_ratelimit_headers_and_holds_nothing(eu_runtime):
    store, clock, now = MemoryStore(), Clock(), [0.0]
    limiter = RateLimiter(store, clock, ttl=30, monotonic=lambda: now[0])
    call = _call(eu_runtime, clock, _key())
    limiter(call)
    assert (call.ctx.rate_headers, call.ctx.rate_held, store.inflight) == ({}, False, {})
    store.set_rate_limits("key", "k1", RateLimits(concurrent_requests=1))
    limiter(_call(eu_runtime, clock, _key()))  # "unlimited" is still cached
    assert store.inflight == {}
    now[0] = 31.0
    limited = _call(eu_runtime, clock, _key())
    limiter(limited)
    assert limited.ctx.rate_held and list(store.inflight) == [limited.ctx.request_id]
