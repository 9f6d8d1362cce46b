"""An in-memory Store with the same semantics as the PostgreSQL one (unit tests, benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from regiongate.contract.audit_event import parsed_event
from regiongate.store import (
    BudgetDecision,
    KeyRecord,
    RateAdmission,
    RateDecision,
    RateLimits,
    SpendHold,
    SpendRow,
    month_bounds,
    rollup_scopes,
    team_scope_id,
)
from regiongate.store import rate_window as rw
from regiongate.store.provider_credentials import MemoryCredentials


class MemoryStore(MemoryCredentials):  # org provider credentials: store/provider_credentials.py
    def __init__(self) -> None:
        self.orgs: dict[str, Decimal | None] = {}
        self.team_budget_usd: dict[tuple[str, str], Decimal] = {}  # (org, team) -> monthly budget
        self.keys: dict[str, KeyRecord] = {}
        self.audit: dict[str, dict[str, Any]] = {}
        self.violations: list[dict[str, Any]] = []
        self.rollups: dict[tuple[date, str, str], list[Any]] = {}
        self._lock = threading.Lock()
        self.key_lookups = 0
        self.holds: dict[str, SpendHold] = {}  # by request id
        self.settled: set[str] = set()
        self.limits: dict[tuple[str, str], RateLimits] = {}
        self.rate_buckets: dict[tuple[str, str], dict[int, list[int]]] = {}  # bucket -> [requests, tokens]
        self.inflight: dict[str, list[tuple[str, str, int, int, datetime]]] = {}  # request id -> slots

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
                event = parsed_event(raw)
                if event["request_id"] in self.audit:
                    continue
                self.audit[event["request_id"]] = event
                self.holds.pop(str(event["request_id"]), None)  # its cost is in the rollups from now on
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

    # --- budgets and rate limits (the same decisions as PostgresStore, under one lock) --------------------
    def set_rate_limits(self, scope: str, scope_id: str, limits: RateLimits) -> None:
        with self._lock:
            self.limits[(scope, scope_id)] = limits

    def rate_limits(self, scope: str, scope_id: str) -> RateLimits:
        return self.limits.get((scope, scope_id), RateLimits())

    def _held(self, scope: str, scope_id: str, start: datetime, end: datetime, now: datetime) -> Decimal:
        total = Decimal(0)
        for hold in self.holds.values():
            owner = {
                "key": hold.key_id,
                "org": hold.org_id,
                "team": team_scope_id(hold.org_id, hold.team_id) if hold.team_id else None,
            }[scope]
            if owner == scope_id and start <= hold.created_at < end and hold.expires_at > now:
                total += hold.amount_usd
        return total

    def set_team_budget(self, org_id: str, team_id: str, monthly_budget_usd: Decimal | None) -> None:
        with self._lock:
            if monthly_budget_usd is None:
                self.team_budget_usd.pop((org_id, team_id), None)
                return
            self.orgs.setdefault(org_id, None)
            self.team_budget_usd[(org_id, team_id)] = monthly_budget_usd

    def team_budget(self, org_id: str, team_id: str) -> Decimal | None:
        return self.team_budget_usd.get((org_id, team_id))

    def team_budgets(self, org_id: str | None = None) -> list[tuple[str, str, Decimal]]:
        with self._lock:
            rows = [(o, t, b) for (o, t), b in self.team_budget_usd.items() if org_id is None or o == org_id]
        return sorted(rows)

    def held_spend(self, scope: str, scope_id: str, month: date, now: datetime) -> Decimal:
        start, end = month_bounds(datetime(month.year, month.month, 1, tzinfo=UTC))
        with self._lock:
            return self._held(scope, scope_id, start, end, now)

    def reserve_spend(self, hold: SpendHold) -> BudgetDecision:
        start, end = month_bounds(hold.created_at)
        now = hold.created_at
        with self._lock:
            key = self.keys.get(hold.key_id)
            budgets = [("key", hold.key_id, key.monthly_budget_usd if key else None)]
            budgets.append(("org", hold.org_id, self.orgs.get(hold.org_id)))
            if hold.team_id:
                team = team_scope_id(hold.org_id, hold.team_id)
                budgets.append(("team", team, self.team_budget_usd.get((hold.org_id, hold.team_id))))
            for scope, scope_id, budget in budgets:
                if budget is None:
                    continue
                spent = self.month_spend(scope, scope_id, start.date()) + self._held(scope, scope_id, start, end, now)
                if spent >= budget:
                    return BudgetDecision(False, scope, budget, spent)
            self.holds[hold.request_id] = hold
            return BudgetDecision(True)

    def settle_spend(self, request_id: str, cost_usd: Decimal, expires_at: datetime) -> bool:
        with self._lock:
            hold = self.holds.get(request_id)
            if hold is None:
                return False
            self.holds[request_id] = replace(hold, amount_usd=cost_usd, expires_at=expires_at)
            self.settled.add(request_id)
            return True

    def release_spend(self, request_id: str) -> bool:
        with self._lock:
            self.settled.discard(request_id)
            return self.holds.pop(request_id, None) is not None

    def admit_rate(self, admission: RateAdmission) -> RateDecision:
        now, width = admission.now, admission.window_seconds
        current = rw.bucket_of(now, width)
        with self._lock:
            verdicts = []
            for scope, scope_id in (("key", admission.key_id), ("org", admission.org_id)):
                limits = self.limits.get((scope, scope_id))
                if limits is None or not limits.any():
                    continue
                buckets = self.rate_buckets.setdefault((scope, scope_id), {})
                for old in [b for b in buckets if b < rw.oldest_bucket(current)]:
                    del buckets[old]
                inflight = sum(
                    1
                    for slots in self.inflight.values()
                    for s, sid, _, _, until in slots
                    if (s, sid) == (scope, scope_id) and until > now
                )
                rows = sorted((b, r, t) for b, (r, t) in buckets.items())
                verdicts.append(
                    (scope, scope_id, rw.judge(scope, limits, rows, inflight, admission.tokens, now, width))
                )
            refused = [(scope, v) for scope, _, v in verdicts if v.refused]
            windows = tuple(v.window for _, _, v in verdicts)
            if refused:
                scope, verdict = max(refused, key=lambda item: item[1].retry_after)
                return RateDecision(
                    False, windows, scope, verdict.refused, max(v.retry_after for _, v in refused), verdict.never
                )
            for scope, scope_id, _ in verdicts:
                row = self.rate_buckets[(scope, scope_id)].setdefault(current, [0, 0])
                row[0] += 1
                row[1] += admission.tokens
                self.inflight.setdefault(admission.request_id, []).append(
                    (scope, scope_id, current, admission.tokens, admission.hold_until)
                )
            return RateDecision(True, windows)

    def release_rate(self, request_id: str, actual_tokens: int) -> None:
        with self._lock:
            for scope, scope_id, bucket, estimated, _ in self.inflight.pop(request_id, []):
                row = self.rate_buckets.get((scope, scope_id), {}).get(bucket)
                if row is not None:
                    row[1] = max(row[1] - estimated + actual_tokens, 0)
