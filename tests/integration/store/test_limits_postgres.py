"""Budgets and rate limits in PostgreSQL under concurrency: several stores (one per gateway instance, each with
its own connection pool) and many threads against one database. Counts are printed; nothing here is timed."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from regiongate.audit.runtime.events import new_event
from regiongate.store import RateAdmission, RateLimits, SpendHold
from regiongate.store.keys import KeyService
from tests.fixtures.clock import NOW, pinned
from tests.fixtures.gateway_db import _store

pytestmark = [pytest.mark.postgres, pytest.mark.clock]
RESERVATION = Decimal("0.0007")  # one request's estimate


@pytest.fixture
def instances(pg_store, database_url):
    """Five more stores on the same database: five gateway instances."""
    stores = [_store(database_url) for _ in range(5)]
    yield stores
    for store in stores:
        store.pool.close()


def _key(store, budget=None, team="ml"):
    return (
        KeyService(store, clock=pinned())
        .create(region_code="eu", org_id="acme", team_id=team, monthly_budget_usd=budget)
        .record
    )


def _hold(key, amount=RESERVATION, at=NOW, seconds=300):
    return SpendHold(
        request_id=str(uuid.uuid4()),
        key_id=key.key_id,
        org_id=key.org_id,
        team_id=key.team_id,
        amount_usd=amount,
        created_at=at,
        expires_at=at + timedelta(seconds=seconds),
    )


def _held_total(store, key):
    return store.held_spend("key", key.key_id, NOW.date(), NOW)


@pytest.mark.parametrize("threads", [50])
def test_concurrent_reservations_overshoot_a_budget_by_at_most_one_reservation(pg_store, instances, threads):
    budget = Decimal("0.01")
    key = _key(pg_store, budget)
    holds = [_hold(key) for _ in range(threads)]
    start = threading.Barrier(threads)

    def reserve(i):
        start.wait()
        return instances[i % len(instances)].reserve_spend(holds[i]).admitted

    with ThreadPoolExecutor(threads) as pool:
        admitted = sum(pool.map(reserve, range(threads)))
    total = _held_total(pg_store, key)
    print(
        f"{threads} threads on {len(instances)} stores, budget {budget} USD, {RESERVATION} USD each: "
        f"{admitted} admitted, {threads - admitted} refused, reserved {total} USD (bound {budget + RESERVATION})"
    )
    assert total == admitted * RESERVATION
    assert total <= budget + RESERVATION
    assert total - RESERVATION < budget  # the last one was admitted while under budget
    assert admitted == 15  # 14 × 0.0007 = 0.0098 < 0.01: the fifteenth is the one over


def test_concurrent_reservations_of_a_teams_keys_overshoot_its_budget_by_at_most_one_reservation(pg_store, instances):
    budget = Decimal("0.01")
    pg_store.set_team_budget("acme", "ml", budget)
    assert pg_store.team_budget("acme", "ml") == budget
    keys = [_key(pg_store) for _ in range(5)]  # no key or org budget: only the team's holds them back
    others = [_key(pg_store, team="web"), _key(pg_store, team=None)]
    threads = 50
    holds = [_hold(keys[i % len(keys)]) for i in range(threads)]
    start = threading.Barrier(threads)

    def reserve(i):
        start.wait()
        return instances[i % len(instances)].reserve_spend(holds[i])

    with ThreadPoolExecutor(threads) as pool:
        decisions = list(pool.map(reserve, range(threads)))
    admitted = sum(d.admitted for d in decisions)
    total = pg_store.held_spend("team", "acme/ml", NOW.date(), NOW)
    print(
        f"{threads} threads, 5 keys of one team on {len(instances)} stores, team budget {budget} USD: "
        f"{admitted} admitted, reserved {total} USD (bound {budget + RESERVATION})"
    )
    assert total == admitted * RESERVATION
    assert total <= budget + RESERVATION and total - RESERVATION < budget
    assert admitted == 15
    refused = next(d for d in decisions if not d.admitted)
    assert (refused.scope, refused.budget_usd) == ("team", budget)
    assert all(pg_store.reserve_spend(_hold(k)).admitted for k in others)  # another team, no team
    pg_store.set_team_budget("acme", "ml", None)
    assert pg_store.team_budget("acme", "ml") is None and pg_store.team_budgets() == []
    assert pg_store.reserve_spend(_hold(keys[0])).admitted


def test_a_team_budget_counts_rollups_and_is_kept_apart_per_org(pg_store):
    key = _key(pg_store)
    pg_store.set_team_budget("acme", "ml", Decimal("0.0002"))
    pg_store.set_team_budget("beta", "ml", Decimal("5"))
    assert pg_store.team_budgets("beta") == [("beta", "ml", Decimal("5"))]
    event = new_event(
        request_id=str(uuid.uuid4()),
        created_at=NOW.isoformat(),
        region="eu",
        endpoint="chat",
        key_id=key.key_id,
        org_id="acme",
        team_id="ml",
        cost_usd="0.0002",
        status=200,
    )
    assert pg_store.write_audit_events([event]) == 1
    refused = pg_store.reserve_spend(_hold(key))
    assert (refused.admitted, refused.scope, refused.spent_usd) == (False, "team", Decimal("0.0002"))
    beta = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="beta", team_id="ml").record
    assert pg_store.reserve_spend(_hold(beta)).admitted


def test_settled_spend_is_counted_once_through_the_writer(pg_store):
    key = _key(pg_store, Decimal("1"))
    hold = _hold(key)
    assert pg_store.reserve_spend(hold).admitted
    assert pg_store.reserve_spend(hold).admitted  # a retry of the same request holds nothing more
    assert _held_total(pg_store, key) == RESERVATION
    assert pg_store.settle_spend(hold.request_id, Decimal("0.0002"), NOW + timedelta(days=1))
    assert _held_total(pg_store, key) == Decimal("0.0002")
    assert pg_store.held_spend("team", "acme/ml", NOW.date(), NOW) == Decimal("0.0002")
    event = new_event(
        request_id=hold.request_id,
        created_at=NOW.isoformat(),
        region="eu",
        endpoint="chat",
        key_id=key.key_id,
        org_id="acme",
        team_id="ml",
        cost_usd="0.0002",
        status=200,
    )
    assert pg_store.write_audit_events([event]) == 1
    for scope, scope_id in (("key", key.key_id), ("org", "acme"), ("team", "acme/ml")):
        rolled = pg_store.month_spend(scope, scope_id, NOW.date())
        held = pg_store.held_spend(scope, scope_id, NOW.date(), NOW)
        assert (rolled, held) == (Decimal("0.0002"), Decimal(0)), scope
    assert pg_store.write_audit_events([event]) == 0  # a redelivery changes nothing
    assert pg_store.month_spend("key", key.key_id, NOW.date()) == Decimal("0.0002")


def test_a_refusal_names_the_budget_and_an_unsettled_hold_expires(pg_store):
    key = _key(pg_store, Decimal("0.001"))
    assert pg_store.reserve_spend(_hold(key, Decimal("0.001"))).admitted  # never settled: a crash
    refused = pg_store.reserve_spend(_hold(key))
    assert (refused.admitted, refused.scope, refused.budget_usd) == (False, "key", Decimal("0.001"))
    later = NOW + timedelta(seconds=301)
    assert pg_store.reserve_spend(_hold(key, at=later)).admitted
    pg_store.set_org_budget("acme", Decimal("0"))
    other = _key(pg_store)
    assert pg_store.reserve_spend(_hold(other)).scope == "org"


def test_rate_limits_are_shared_by_every_instance(pg_store, instances):
    key = _key(pg_store)
    pg_store.set_rate_limits("key", key.key_id, RateLimits(requests_per_minute=20, concurrent_requests=1000))
    assert pg_store.rate_limits("key", key.key_id) == RateLimits(20, None, 1000)
    start = threading.Barrier(50)
    ids = [str(uuid.uuid4()) for _ in range(50)]

    def admit(i):
        start.wait()
        admission = RateAdmission(ids[i], key.key_id, "acme", 10, NOW, NOW + timedelta(seconds=300))
        return instances[i % len(instances)].admit_rate(admission)

    with ThreadPoolExecutor(50) as pool:
        decisions = list(pool.map(admit, range(50)))
    admitted = [d for d in decisions if d.admitted]
    print(f"50 threads on {len(instances)} stores, 20 requests/minute: {len(admitted)} admitted")
    assert len(admitted) == 20
    refused = next(d for d in decisions if not d.admitted)
    assert (refused.refused_scope, refused.refused_limit) == ("key", "requests")
    assert 0 < refused.retry_after_seconds <= 60
    remaining = sorted(d.windows[0].requests_remaining for d in admitted)
    assert remaining == list(range(20))  # every admission saw the one before it
    later = NOW + timedelta(seconds=60)
    assert pg_store.admit_rate(RateAdmission(str(uuid.uuid4()), key.key_id, "acme", 10, later, later)).admitted


def test_concurrency_and_token_limits_of_an_org_with_release(pg_store, instances):
    key = _key(pg_store)
    pg_store.set_rate_limits("org", "acme", RateLimits(tokens_per_minute=1000, concurrent_requests=2))
    until = NOW + timedelta(seconds=300)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert instances[0].admit_rate(RateAdmission(first, key.key_id, "acme", 400, NOW, until)).admitted
    assert instances[1].admit_rate(RateAdmission(second, key.key_id, "acme", 400, NOW, until)).admitted
    third = instances[2].admit_rate(RateAdmission(str(uuid.uuid4()), key.key_id, "acme", 100, NOW, until))
    assert (third.admitted, third.refused_scope, third.refused_limit) == (False, "org", "concurrency")
    instances[0].release_rate(first, 50)  # used 50 of the 400 counted
    fourth = instances[3].admit_rate(RateAdmission(str(uuid.uuid4()), key.key_id, "acme", 500, NOW, until))
    assert fourth.admitted and fourth.windows[0].tokens_remaining == 1000 - 50 - 400 - 500
    too_big = instances[4].admit_rate(RateAdmission(str(uuid.uuid4()), key.key_id, "acme", 1001, NOW, until))
    assert too_big.never and too_big.refused_limit in ("tokens", "concurrency")
    pg_store.set_rate_limits("org", "acme", RateLimits())
    assert pg_store.rate_limits("org", "acme") == RateLimits()
