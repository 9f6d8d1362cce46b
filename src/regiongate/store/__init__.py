"""The gateway's storage behind small protocols: PostgreSQL in production, in memory for unit tests.

Only metadata crosses this boundary: key hashes and attributes, audit metadata, guardrail violation types
and messages, spend rollups. There is no method that could take prompt or completion content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from regiongate.contract.limits import RATE_WINDOW_SECONDS


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    key_hash: bytes
    display_prefix: str
    region: str
    org_id: str
    team_id: str | None
    user_id: str | None
    monthly_budget_usd: Decimal | None
    model_allowlist: tuple[str, ...] | None
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class SpendRow:
    day: date
    scope: str  # key, team or org
    scope_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


class KeyStore(Protocol):
    def ensure_org(self, org_id: str) -> None: ...
    def set_org_budget(self, org_id: str, monthly_budget_usd: Decimal | None) -> None: ...
    def org_budget(self, org_id: str) -> Decimal | None: ...
    def insert_key(self, record: KeyRecord) -> None: ...
    def find_key_by_hash(self, key_hash: bytes) -> KeyRecord | None: ...
    def list_keys(self, *, region: str | None = None, org_id: str | None = None) -> list[KeyRecord]: ...
    def revoke_key(self, key_id: str, at: datetime) -> bool: ...
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
        """Set budget, allowlist and expiry of an unrevoked key of ``region`` (and of ``org_id`` unless None)."""


class UsageStore(Protocol):
    def write_audit_events(self, events: Sequence[Mapping[str, Any]]) -> int:
        """Insert events idempotently (by request id) and add only the new ones to the rollups; returns how many were new."""

    def month_spend(self, scope: str, scope_id: str, month: date) -> Decimal: ...
    def spend(self, *, scope: str, scope_id: str | None = None, since: date | None = None) -> list[SpendRow]: ...


@dataclass(frozen=True)
class RateLimits:
    """Limits of a key or an org (None: unlimited): requests and tokens per minute, requests at once."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None

    def any(self) -> bool:
        return any(v is not None for v in (self.requests_per_minute, self.tokens_per_minute, self.concurrent_requests))


@dataclass(frozen=True)
class SpendHold:
    """A request's reservation of spend, made before its provider call: the estimate until it is settled
    with the actual cost, counted on top of the rollups until the writer rolls its audit event up."""

    request_id: str
    key_id: str
    org_id: str
    team_id: str | None
    amount_usd: Decimal
    created_at: datetime  # the request's (and its audit event's) time: the month it counts in
    expires_at: datetime  # an unsettled hold of a crashed instance stops counting then


@dataclass(frozen=True)
class BudgetDecision:
    admitted: bool
    scope: str | None = None  # key, org or team: the budget that refused
    budget_usd: Decimal | None = None
    spent_usd: Decimal | None = None  # rollups plus holds, when refused


@dataclass(frozen=True)
class RateAdmission:
    """One request asking for a slot: counted in the minute of ``now`` with its estimated tokens."""

    request_id: str
    key_id: str
    org_id: str
    tokens: int
    now: datetime
    hold_until: datetime  # a concurrency slot not released by then (a crash) is free again
    window_seconds: float = RATE_WINDOW_SECONDS  # shorter only in benchmarks


@dataclass(frozen=True)
class RateWindow:
    """One limited scope's state after an admission, as the ``x-ratelimit-*`` headers report it."""

    scope: str
    requests_limit: int | None
    requests_remaining: int | None
    requests_reset_seconds: float
    tokens_limit: int | None
    tokens_remaining: int | None
    tokens_reset_seconds: float


@dataclass(frozen=True)
class RateDecision:
    admitted: bool
    windows: tuple[RateWindow, ...] = ()
    refused_scope: str | None = None  # key or org
    refused_limit: str | None = None  # requests, tokens or concurrency
    retry_after_seconds: float = 0.0
    never: bool = False  # the request alone exceeds a per-minute limit: no wait admits it


class LimitStore(Protocol):
    """Budgets and rate limits, atomic across every gateway instance of the region (one store)."""

    def set_rate_limits(self, scope: str, scope_id: str, limits: RateLimits) -> None: ...
    def rate_limits(self, scope: str, scope_id: str) -> RateLimits: ...
    def set_team_budget(self, org_id: str, team_id: str, monthly_budget_usd: Decimal | None) -> None:
        """Set (None: clear) the monthly budget of team ``team_id`` of ``org_id``, shared by the team's keys."""

    def team_budget(self, org_id: str, team_id: str) -> Decimal | None: ...
    def team_budgets(self, org_id: str | None = None) -> list[tuple[str, str, Decimal]]:
        """(org, team, budget) of every team budget (of ``org_id`` unless None), by org and team."""

    def reserve_spend(self, hold: SpendHold) -> BudgetDecision:
        """Admit and record ``hold`` unless the key's, org's or team's budget is used up (rollups of the month
        plus unexpired holds), atomically: a request is admitted only while its scopes are under budget."""

    def settle_spend(self, request_id: str, cost_usd: Decimal, expires_at: datetime) -> bool: ...
    def release_spend(self, request_id: str) -> bool:
        """Remove the hold of ``request_id`` (settled or not): its request was not answered and will never be
        rolled up. False when there was none (never held, already rolled up or released)."""

    def held_spend(self, scope: str, scope_id: str, month: date, now: datetime) -> Decimal:
        """Unexpired holds of the month (not yet in the rollups): what to add to ``month_spend``."""

    def admit_rate(self, admission: RateAdmission) -> RateDecision: ...
    def release_rate(self, request_id: str, actual_tokens: int) -> None: ...


class Store(KeyStore, UsageStore, LimitStore, Protocol):
    pass


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The UTC month of ``moment``: [start, next start)."""
    from datetime import UTC

    utc = moment.astimezone(UTC)
    start = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, nxt


def team_scope_id(org_id: str, team_id: str) -> str:
    """Teams are named inside an org: the rollup id keeps two orgs' ``ml`` teams apart."""
    return f"{org_id}/{team_id}"


def rollup_scopes(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    scopes = []
    if event.get("key_id"):
        scopes.append(("key", event["key_id"]))
    if event.get("org_id"):
        scopes.append(("org", event["org_id"]))
        if event.get("team_id"):
            scopes.append(("team", team_scope_id(event["org_id"], event["team_id"])))
    return scopes
