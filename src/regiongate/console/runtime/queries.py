"""Console-only reads of the gateway's audit store: usage over time, requests, violations, budgets, CSV.

Every query takes the region and an org filter (``None``: every org of the region, for platform admins
only; the web layer decides). Column names are never taken from input: ``GROUPS`` maps the few allowed.
Every write to keys (create, settings, revoke) goes through :class:`regiongate.store.keys.KeyService`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from regiongate.store import team_scope_id
from regiongate.store.migrate import add_months, month_start

GROUPS = {"org": "org_id", "team": "team_id", "key": "key_id", "model": "model"}
PAGE_SIZE = 50
MAX_PAGE = 2000


@dataclass(frozen=True)
class Period:
    since: datetime  # inclusive, UTC midnight
    until: datetime  # exclusive, UTC midnight

    @classmethod
    def last_days(cls, days: int, today: date) -> Period:
        end = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
        return cls(end - timedelta(days=days), end)

    @classmethod
    def between(cls, first: date, last: date) -> Period:
        return cls(
            datetime(first.year, first.month, first.day, tzinfo=UTC),
            datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
        )

    def days(self) -> list[date]:
        out, day = [], self.since.date()
        while day < self.until.date():
            out.append(day)
            day += timedelta(days=1)
        return out


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0
    flagged: int = 0
    blocked: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def violation_rate(self) -> float:
        return (self.flagged + self.blocked) / self.requests if self.requests else 0.0


@dataclass
class Series:
    """Per day, per group value: requests and cost."""

    days: list[date]
    groups: list[str] = field(default_factory=list)
    requests: dict[str, list[float]] = field(default_factory=dict)
    cost: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    scope: str  # org, team or key
    scope_id: str
    label: str
    budget: Decimal
    spent: Decimal

    @property
    def share(self) -> float:
        return float(self.spent / self.budget) if self.budget else 1.0


def _where(region: str, org: str | None, period: Period | None, alias: str = "") -> tuple[str, dict[str, Any]]:
    p = f"{alias}." if alias else ""
    clauses = [f"{p}region = :region"]
    params: dict[str, Any] = {"region": region}
    if org is not None:
        clauses.append(f"{p}org_id = :org")
        params["org"] = org
    if period is not None:
        clauses.append(f"{p}created_at >= :since AND {p}created_at < :until")
        params.update(since=period.since, until=period.until)
    return " AND ".join(clauses), params


class ConsoleQueries:
    def __init__(self, pool: Any, region: str) -> None:
        self.pool = pool
        self.region = region

    def _run(self, sql: str, **params: Any) -> list:
        with self.pool.connection() as conn:
            return conn.run(sql, **params)

    # --- orgs ----------------------------------------------------------------------------------------------
    def orgs(self) -> list[str]:
        """Orgs of this region: those with keys, users or audit rows here."""
        rows = self._run(
            "SELECT org_id FROM api_keys WHERE region = :r UNION SELECT org_id FROM console_users "
            "WHERE region = :r AND org_id IS NOT NULL ORDER BY 1",
            r=self.region,
        )
        return [r[0] for r in rows]

    def org_exists(self, org_id: str) -> bool:
        return bool(self._run("SELECT 1 FROM orgs WHERE org_id = :o", o=org_id))

    # --- dashboard ------------------------------------------------------------------------------------------
    def totals(self, org: str | None, period: Period) -> Totals:
        where, params = _where(self.region, org, period)
        row = self._run(
            "SELECT count(*), count(*) FILTER (WHERE status >= 400), count(*) FILTER (WHERE guardrail = 'flag'), "
            "count(*) FILTER (WHERE guardrail = 'block'), COALESCE(sum(input_tokens), 0), "
            f"COALESCE(sum(output_tokens), 0), COALESCE(sum(cost_usd), 0) FROM audit_events WHERE {where}",
            **params,
        )[0]
        return Totals(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), Decimal(row[6]))

    def series(self, org: str | None, period: Period, group: str, top: int = 6) -> Series:
        column = GROUPS[group]
        where, params = _where(self.region, org, period)
        rows = self._run(
            f"SELECT (created_at AT TIME ZONE 'UTC')::date AS day, COALESCE({column}, '(none)'), count(*), "
            f"COALESCE(sum(cost_usd), 0) FROM audit_events WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
            **params,
        )
        days = period.days()
        index = {d: i for i, d in enumerate(days)}
        totals: dict[str, Decimal] = {}
        for _, name, count, cost in rows:
            totals[name] = totals.get(name, Decimal(0)) + Decimal(cost) + Decimal(count) / Decimal(10**9)
        ranked = sorted(totals, key=lambda n: (-totals[n], n))
        keep = ranked[:top] if len(ranked) <= top else ranked[: top - 1]
        series = Series(days=days, groups=list(keep) + (["other"] if len(ranked) > len(keep) else []))
        for name in series.groups:
            series.requests[name] = [0.0] * len(days)
            series.cost[name] = [0.0] * len(days)
        for day, name, count, cost in rows:
            target = name if name in keep else "other"
            if day in index:
                series.requests[target][index[day]] += int(count)
                series.cost[target][index[day]] += float(cost)
        return series

    def top_models(self, org: str | None, period: Period, limit: int = 8) -> list[dict]:
        where, params = _where(self.region, org, period)
        rows = self._run(
            "SELECT model, count(*), COALESCE(sum(input_tokens), 0), COALESCE(sum(output_tokens), 0), "
            "COALESCE(sum(cost_usd), 0), count(*) FILTER (WHERE status >= 400) FROM audit_events "
            f"WHERE {where} AND model IS NOT NULL GROUP BY model ORDER BY 5 DESC, 2 DESC, 1 LIMIT :limit",
            limit=limit,
            **params,
        )
        return [
            {
                "model": r[0],
                "requests": int(r[1]),
                "input_tokens": int(r[2]),
                "output_tokens": int(r[3]),
                "cost": Decimal(r[4]),
                "errors": int(r[5]),
            }
            for r in rows
        ]

    def budgets(self, org: str | None, today: date) -> list[Budget]:
        """Month-to-date spend against every org, team and key budget in scope (from the gateway's daily rollups)."""
        month = month_start(today)
        params = {"a": month, "b": add_months(month, 1), "r": self.region, "o": org}
        org_rows = self._run(
            "SELECT o.org_id, o.monthly_budget_usd, COALESCE((SELECT sum(cost_usd) FROM daily_spend d WHERE d.scope = 'org' "
            "AND d.scope_id = o.org_id AND d.day >= :a AND d.day < :b), 0) FROM orgs o WHERE o.monthly_budget_usd IS NOT NULL "
            "AND (CAST(:o AS text) IS NULL OR o.org_id = :o) AND (EXISTS (SELECT 1 FROM api_keys k WHERE k.org_id = o.org_id "
            "AND k.region = :r) OR EXISTS (SELECT 1 FROM console_users u WHERE u.org_id = o.org_id AND u.region = :r)) "
            "ORDER BY o.org_id",
            **params,
        )
        key_rows = self._run(
            "SELECT k.key_id, k.display_prefix, k.org_id, k.monthly_budget_usd, COALESCE((SELECT sum(cost_usd) FROM daily_spend d "
            "WHERE d.scope = 'key' AND d.scope_id = k.key_id AND d.day >= :a AND d.day < :b), 0) FROM api_keys k "
            "WHERE k.region = :r AND k.monthly_budget_usd IS NOT NULL AND k.revoked_at IS NULL "
            "AND (CAST(:o AS text) IS NULL OR k.org_id = :o) ORDER BY k.org_id, k.created_at",
            **params,
        )
        team_rows = self._run(
            "SELECT t.org_id, t.team_id, t.monthly_budget_usd, COALESCE((SELECT sum(cost_usd) FROM daily_spend d "
            "WHERE d.scope = 'team' AND d.scope_id = t.org_id || '/' || t.team_id AND d.day >= :a AND d.day < :b), 0) "
            "FROM team_budgets t WHERE (CAST(:o AS text) IS NULL OR t.org_id = :o) AND (EXISTS (SELECT 1 FROM api_keys k "
            "WHERE k.org_id = t.org_id AND k.region = :r) OR EXISTS (SELECT 1 FROM console_users u "
            "WHERE u.org_id = t.org_id AND u.region = :r)) ORDER BY t.org_id, t.team_id",
            **params,
        )
        out = [Budget("org", r[0], f"org {r[0]}", Decimal(r[1]), Decimal(r[2])) for r in org_rows]
        out += [
            Budget("team", f"{r[0]}/{r[1]}", f"team {r[1]} ({r[0]})", Decimal(r[2]), Decimal(r[3])) for r in team_rows
        ]
        out += [Budget("key", r[0], f"{r[1]}… ({r[2]})", Decimal(r[3]), Decimal(r[4])) for r in key_rows]
        return out

    def key_month_spend(self, key_ids: list[str], today: date) -> dict[str, Decimal]:
        if not key_ids:
            return {}
        month = month_start(today)
        rows = self._run(
            "SELECT scope_id, sum(cost_usd) FROM daily_spend WHERE scope = 'key' AND scope_id = ANY(CAST(:k AS text[])) "
            "AND day >= :a AND day < :b GROUP BY 1",
            k=key_ids,
            a=month,
            b=add_months(month, 1),
        )
        return {r[0]: Decimal(r[1]) for r in rows}

    def team_month_spend(self, org_id: str, team_id: str, today: date) -> Decimal:
        month = month_start(today)
        rows = self._run(
            "SELECT COALESCE(sum(cost_usd), 0) FROM daily_spend WHERE scope = 'team' AND scope_id = :i "
            "AND day >= :a AND day < :b",
            i=team_scope_id(org_id, team_id),
            a=month,
            b=add_months(month, 1),
        )
        return Decimal(rows[0][0])

    # --- requests and violations ------------------------------------------------------------------------------
    def requests(
        self, org: str | None, period: Period, *, q: str = "", status: str = "", page: int = 1
    ) -> tuple[list[dict], bool]:
        where, params = _where(self.region, org, period, "a")
        if q:
            try:
                params["rid"] = str(uuid.UUID(q))
                where += " AND a.request_id = CAST(:rid AS uuid)"
            except ValueError:
                params["q"] = q
                params["like"] = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                where += (
                    " AND (a.key_id = :q OR a.model = :q OR a.team_id = :q OR a.user_id = :q OR a.error_type = :q "
                    "OR a.provider = :q OR a.endpoint = :q OR a.credential_source = :q OR k.display_prefix LIKE :like)"
                )
        if status == "ok":
            where += " AND a.status < 400"
        elif status == "error":
            where += " AND a.status >= 400"
        elif status == "guardrail":
            where += " AND a.guardrail <> 'pass'"
        params.update(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        rows = self._run(
            "SELECT a.created_at, a.request_id::text, a.org_id, a.team_id, a.key_id, k.display_prefix, a.endpoint, a.model, "
            "a.provider, a.status, a.error_type, a.input_tokens, a.output_tokens, a.cost_usd, a.total_ms, a.upstream_ms, "
            "a.stream, a.guardrail, a.credential_source FROM audit_events a LEFT JOIN api_keys k ON k.key_id = a.key_id "
            f"WHERE {where} ORDER BY a.created_at DESC, a.request_id LIMIT :limit OFFSET :offset",
            **params,
        )
        names = (
            "created_at",
            "request_id",
            "org_id",
            "team_id",
            "key_id",
            "key_prefix",
            "endpoint",
            "model",
            "provider",
            "status",
            "error_type",
            "input_tokens",
            "output_tokens",
            "cost",
            "total_ms",
            "upstream_ms",
            "stream",
            "guardrail",
            "credential_source",  # platform or org: whose provider credentials served it (never the credential)
        )
        return [dict(zip(names, r)) for r in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE

    def violations(
        self, org: str | None, period: Period, *, detector: str = "", page: int = 1
    ) -> tuple[list[dict], bool]:
        where, params = _where(self.region, org, period, "a")
        where = where.replace("a.created_at", "v.created_at").replace("a.org_id", "v.org_id")
        if detector:
            where += " AND v.detector = :detector"
            params["detector"] = detector
        params.update(limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        rows = self._run(
            "SELECT v.created_at, v.request_id::text, v.org_id, v.key_id, k.display_prefix, v.detector, v.action, v.message "
            "FROM guardrail_violations v JOIN audit_events a ON a.request_id = v.request_id AND a.created_at = v.created_at "
            "LEFT JOIN api_keys k ON k.key_id = v.key_id "
            f"WHERE {where} ORDER BY v.created_at DESC, v.request_id, v.detector LIMIT :limit OFFSET :offset",
            **params,
        )
        names = ("created_at", "request_id", "org_id", "key_id", "key_prefix", "detector", "action", "message")
        return [dict(zip(names, r)) for r in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE

    def detectors(self, org: str | None) -> list[str]:
        rows = self._run(
            "SELECT DISTINCT detector FROM guardrail_violations WHERE (CAST(:o AS text) IS NULL OR org_id = :o) "
            "ORDER BY 1",
            o=org,
        )
        return [r[0] for r in rows]

    # --- CSV -----------------------------------------------------------------------------------------------
    CSV_HEADER = (
        "day",
        "region",
        "org_id",
        "team_id",
        "key_id",
        "key_prefix",
        "model",
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    )

    def usage_rows(self, org: str | None, period: Period) -> Iterator[tuple]:
        where, params = _where(self.region, org, period, "a")
        rows = self._run(
            "SELECT (a.created_at AT TIME ZONE 'UTC')::date, a.region, a.org_id, a.team_id, a.key_id, k.display_prefix, a.model, "
            "count(*), count(*) FILTER (WHERE a.status >= 400), sum(a.input_tokens), sum(a.output_tokens), sum(a.cost_usd) "
            "FROM audit_events a LEFT JOIN api_keys k ON k.key_id = a.key_id "
            f"WHERE {where} AND a.org_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 3, 4 NULLS FIRST, 5, 7",
            **params,
        )
        for r in rows:
            yield (
                r[0].isoformat(),
                r[1],
                r[2],
                r[3] or "",
                r[4] or "",
                r[5] or "",
                r[6] or "",
                int(r[7]),
                int(r[8]),
                int(r[9]),
                int(r[10]),
                f"{Decimal(r[11]):.10f}",
            )
