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


class Store(KeyStore, UsageStore, Protocol):
    pass


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
