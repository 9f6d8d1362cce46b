"""The audit writer's fixed statements (``regiongate.store.postgres._run_fixed``): their placeholder conversion
is done once per statement and the spend holds of a batch go as one UUID array literal. Same rows, same
idempotency, every hold of the batch released, batch after batch. Nothing here is timed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from regiongate.audit.runtime.events import new_event
from regiongate.store import SpendHold
from regiongate.store import postgres as pg
from regiongate.store.keys import KeyService
from tests.fixtures.clock import NOW, pinned

pytestmark = [pytest.mark.postgres, pytest.mark.clock]


def test_every_hold_of_each_batch_is_released_and_the_converted_statements_are_reused(pg_store):
    key = KeyService(pg_store, clock=pinned()).create(region_code="eu", org_id="acme", team_id="ml").record
    converted = []
    for batch in range(2):
        holds = [
            SpendHold(
                request_id=str(uuid.uuid4()),
                key_id=key.key_id,
                org_id="acme",
                team_id="ml",
                amount_usd=Decimal("0.0007"),
                created_at=NOW,
                expires_at=NOW + timedelta(seconds=300),
            )
            for _ in range(3)
        ]
        assert all(pg_store.reserve_spend(hold).admitted for hold in holds)
        events = [
            new_event(
                request_id=hold.request_id.upper(),  # any spelling of the UUID: the writer normalises it
                created_at=NOW.isoformat(),
                region="eu",
                endpoint="chat",
                key_id=key.key_id,
                org_id="acme",
                team_id="ml",
                cost_usd="0.0001",
                status=200,
            )
            for hold in holds
        ]
        assert pg_store.write_audit_events(events) == 3
        assert pg_store.held_spend("key", key.key_id, NOW.date(), NOW) == Decimal(0), batch
        assert pg_store.write_audit_events(events) == 0  # a redelivery writes and releases nothing again
        converted.append(dict(pg._FIXED_STATEMENTS))
        assert pg._INSERT_AUDIT in converted[-1] and pg._UPSERT_SPEND in converted[-1]
    assert converted[0] == converted[1]  # the second batch converted nothing new
    assert pg_store.month_spend("key", key.key_id, NOW.date()) == Decimal("0.0006")
