"""BudgetGuard.release: the reservation of a request whose answer was withheld is removed, not settled (no
audit event will roll it up), against the in-memory store (no I/O)."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from regiongate.gateway.runtime.checks import Call
from regiongate.gateway.runtime.checks.budget import BudgetGuard
from regiongate.gateway.runtime.context import RequestContext
from regiongate.store import KeyRecord
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW

pytestmark = pytest.mark.clock


def _key() -> KeyRecord:
    return KeyRecord(
        key_id="k1",
        key_hash=b"h1",
        display_prefix="rk-eu-abcdef",
        region="eu",
        org_id="acme",
        team_id="ml",
        user_id=None,
        monthly_budget_usd=Decimal("5"),
        model_allowlist=None,
        expires_at=None,
        created_at=NOW,
        revoked_at=None,
    )


def _held_call(eu_runtime, store: MemoryStore) -> tuple[BudgetGuard, Call]:
    key = _key()
    store.insert_key(key)
    guard = BudgetGuard(store, lambda: NOW)
    model = next(m for m in eu_runtime.models.values() if m.kind == "chat" and m.output_usd_per_mtok > 0)
    call = Call(RequestContext(lambda: NOW), key, model, [("messages[0].content", "hello")], 100)
    guard(call)
    assert store.held_spend("org", "acme", NOW.date(), NOW) > 0
    return guard, call


def test_release_removes_the_reservation_and_charges_nothing(eu_runtime):
    store = MemoryStore()
    guard, call = _held_call(eu_runtime, store)
    call.ctx.cost = Decimal("0.01")  # what the provider's answer cost: withheld, so not charged to the org
    guard.release(call.ctx)
    assert call.ctx.spend_held is False
    assert call.ctx.request_id not in store.holds and call.ctx.request_id not in store.settled
    for scope, scope_id in (("key", "k1"), ("team", "acme/ml"), ("org", "acme")):
        assert store.held_spend(scope, scope_id, NOW.date(), NOW) == 0
    guard.settle(call.ctx)  # nothing left to settle: a second call does not bring the hold back
    assert call.ctx.request_id not in store.holds


def test_release_of_a_request_that_held_nothing_does_not_reach_the_store(eu_runtime):
    class Refusing(MemoryStore):
        def release_spend(self, request_id: str) -> bool:
            raise AssertionError("no hold: no store call")

    guard = BudgetGuard(Refusing(), lambda: NOW)
    guard.release(RequestContext(lambda: NOW))


def test_a_failed_release_only_logs(eu_runtime, caplog):
    class Down(MemoryStore):
        def release_spend(self, request_id: str) -> bool:
            raise ConnectionError("database down")

    store = Down()
    guard, call = _held_call(eu_runtime, store)
    with caplog.at_level(logging.ERROR, logger="regiongate.gateway"):
        guard.release(call.ctx)
    assert [r.getMessage() for r in caplog.records] == ["budget release failed"]
    assert call.ctx.spend_held is False
