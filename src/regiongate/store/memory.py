"""An in-memory Store with the same semantics as the PostgreSQL one (unit tests, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from regiongate.contract.audit_event import parse_event
from regiongate.store import KeyRecord, SpendRow, rollup_scopes


class MemoryStore:
    def __init__(self) -> None:
        self.orgs: dict[str, Decimal | None] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.audit: dict[str, dict[str, Any]] = {}
        self.violations: list[dict[str, Any]] = []
        self.rollups: dict[tuple[date, str, str], list[Any]] = {}
        self._lock = threading.Lock()
        self.key_lookups = 0

    def ensure_org(self, org_id: str) -> None:
        with self._lock:
            self.orgs.setdefault(org_id, None)

    def set_org_budget(self, org_id: str, monthly_budget_usd: Decimal | None) -> None:
        with self._lock:
            self.orgs[org_id] = monthly_budget_usd

    def org_budget(self, org_id: str) -> Decimal | None:
        return self.orgs.get(org_id)

    def insert_key(self, record: KeyRecord) -> None:
        with self._lock:
            if record.key_id in self.keys or any(k.key_hash == record.key_hash for k in self.keys.values()):
                raise ValueError("duplicate key")
            self.keys[record.key_id] = record

    def find_key_by_hash(self, key_hash: bytes) -> KeyRecord | None:
        self.key_lookups += 1
        return next((k for k in self.keys.values() if k.key_hash == key_hash), None)

    def list_keys(self, *, region: str | None = None, org_id: str | None = None) -> list[KeyRecord]:
        rows = [
            k
            for k in self.keys.values()
            if (region is None or k.region == region) and (org_id is None or k.org_id == org_id)
        ]
        return sorted(rows, key=lambda k: (k.created_at, k.key_id))

    def revoke_key(self, key_id: str, at: datetime) -> bool:
        with self._lock:
            record = self.keys.get(key_id)
            if record is None or record.revoked_at is not None:
                return False
            self.keys[key_id] = replace(record, revoked_at=at)
            return True

    def update_key_settings(
        self,
        key_id: str,
        *,
        region: str,
        org_id: str | None,
        monthly_budget_usd: Decimal | None,
        model_allowlist: tuple[str, ...] | None,
        expires_at: datetime | None,
    ) -> bool:
        with self._lock:
            record = self.keys.get(key_id)
            if (
                record is None
                or record.revoked_at is not None
                or record.region != region
                or (org_id is not None and record.org_id != org_id)
            ):
                return False
            self.keys[key_id] = replace(
                record,
                monthly_budget_usd=monthly_budget_usd,
                model_allowlist=tuple(model_allowlist) if model_allowlist else None,
                expires_at=expires_at,
            )
            return True

    def write_audit_events(self, events: Sequence[Mapping[str, Any]]) -> int:
        new = 0
        with self._lock:
            for raw in events:
                event = parse_event(raw)
                if event["request_id"] in self.audit:
                    continue
                self.audit[event["request_id"]] = event
                new += 1
                for violation in event["violations"]:
                    self.violations.append({"request_id": event["request_id"], **violation})
                day = event["created_at"].date()
                for scope, scope_id in rollup_scopes(event):
                    row = self.rollups.setdefault((day, scope, scope_id), [0, 0, 0, Decimal(0)])
                    row[0] += 1
                    row[1] += event["input_tokens"]
                    row[2] += event["output_tokens"]
                    row[3] += event["cost_usd"]
        return new

    def month_spend(self, scope: str, scope_id: str, month: date) -> Decimal:
        total = Decimal(0)
        for (day, s, sid), row in list(self.rollups.items()):
            if s == scope and sid == scope_id and (day.year, day.month) == (month.year, month.month):
                total += row[3]
        return total

    def spend(self, *, scope: str, scope_id: str | None = None, since: date | None = None) -> list[SpendRow]:
        return sorted(
            (
                SpendRow(day, s, sid, row[0], row[1], row[2], row[3])
                for (day, s, sid), row in self.rollups.items()
                if s == scope and (scope_id is None or sid == scope_id) and (since is None or day >= since)
            ),
            key=lambda r: (r.day, r.scope_id),
        )
