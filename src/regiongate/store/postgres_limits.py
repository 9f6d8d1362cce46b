"""Budgets and rate limits in the region's PostgreSQL (``PostgresStore`` inherits these methods).

Each decision is one short transaction that first takes transaction-scoped advisory locks on the scopes it
counts (always in the same order, so two requests never wait on each other crosswise), then reads the counts
and writes the outcome: every Lambda instance and console task of the region sees the same totals, and no
two requests can both pass on the same remaining budget or window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from regiongate.store import (
    BudgetDecision,
    RateAdmission,
    RateDecision,
    RateLimits,
    SpendHold,
    month_bounds,
    team_scope_id,
)
from regiongate.store import rate_window as rw

T = TypeVar("T")

_LOCK2 = "SELECT pg_advisory_xact_lock(hashtextextended(:a, 0)), pg_advisory_xact_lock(hashtextextended(:b, 0))"
_LOCK3 = _LOCK2 + ", pg_advisory_xact_lock(hashtextextended(:c, 0))"  # key, org, team: always in this order
_HELD = (
    "SELECT COALESCE(SUM(amount_usd), 0) FROM spend_holds WHERE {column} = :{param} "
    "AND created_at >= :t0 AND created_at < :t1 AND expires_at > :now"
)
_BUDGET_STATE = (
    "SELECT (SELECT monthly_budget_usd FROM api_keys WHERE key_id = :k), "
    "(SELECT monthly_budget_usd FROM orgs WHERE org_id = :o), "
    "(SELECT COALESCE(SUM(cost_usd), 0) FROM daily_spend WHERE scope = 'key' AND scope_id = :k AND day >= :d0 AND day < :d1), "
    f"({_HELD.format(column='key_id', param='k')}), "
    "(SELECT COALESCE(SUM(cost_usd), 0) FROM daily_spend WHERE scope = 'org' AND scope_id = :o AND day >= :d0 AND day < :d1), "
    f"({_HELD.format(column='org_id', param='o')}), "
    "EXISTS (SELECT 1 FROM spend_holds WHERE request_id = CAST(:r AS uuid)), "
    "(SELECT monthly_budget_usd FROM team_budgets WHERE org_id = :o AND team_id = CAST(:team_id AS text)), "
    "(SELECT COALESCE(SUM(cost_usd), 0) FROM daily_spend WHERE scope = 'team' AND scope_id = CAST(:team AS text) "
    "AND day >= :d0 AND day < :d1), "
    "(SELECT COALESCE(SUM(amount_usd), 0) FROM spend_holds WHERE team_scope = CAST(:team AS text) "
    "AND created_at >= :t0 AND created_at < :t1 AND expires_at > :now)"
)
_INSERT_HOLD = (
    "WITH expired AS (DELETE FROM spend_holds WHERE key_id = :k AND expires_at <= :now) "
    "INSERT INTO spend_holds (request_id, key_id, org_id, team_scope, amount_usd, created_at, expires_at) "
    "VALUES (CAST(:r AS uuid), :k, :o, :team, :amount, :now, :until)"
)
_SCOPES = "((scope = 'key' AND scope_id = :k) OR (scope = 'org' AND scope_id = :o))"
_RATE_STATE = (
    f"SELECT 'b', scope, bucket, requests, tokens FROM rate_buckets WHERE {_SCOPES} AND bucket >= :oldest "
    f"UNION ALL SELECT 'i', scope, COUNT(*), 0, 0 FROM rate_inflight WHERE {_SCOPES} AND expires_at > :now GROUP BY scope "
    "UNION ALL SELECT 'x', scope, 0, 0, 0 FROM rate_inflight WHERE request_id = CAST(:r AS uuid)"
)
_RATE_COUNT = (
    f"WITH old AS (DELETE FROM rate_buckets WHERE {_SCOPES} AND bucket < :oldest), "
    f"stale AS (DELETE FROM rate_inflight WHERE {_SCOPES} AND expires_at <= :now), "
    "up AS (INSERT INTO rate_buckets (scope, scope_id, bucket, requests, tokens) "
    "SELECT s, i, :bucket, 1, :tokens FROM unnest(CAST(:scopes AS text[]), CAST(:ids AS text[])) AS u(s, i) "
    "ON CONFLICT (scope, scope_id, bucket) DO UPDATE SET requests = rate_buckets.requests + 1, "
    "tokens = rate_buckets.tokens + EXCLUDED.tokens) "
    "INSERT INTO rate_inflight (request_id, scope, scope_id, bucket, tokens, expires_at) "
    "SELECT CAST(:r AS uuid), s, i, :bucket, :tokens, :until "
    "FROM unnest(CAST(:scopes AS text[]), CAST(:ids AS text[])) AS u(s, i)"
)
_RELEASE = (
    "WITH gone AS (DELETE FROM rate_inflight WHERE request_id = CAST(:r AS uuid) RETURNING scope, scope_id, bucket, tokens) "
    "UPDATE rate_buckets b SET tokens = GREATEST(b.tokens - g.tokens + :actual, 0) FROM gone g "
    "WHERE b.scope = g.scope AND b.scope_id = g.scope_id AND b.bucket = g.bucket"
)


def _limits(row: Any) -> RateLimits:
    return RateLimits(
        requests_per_minute=row[0],
        tokens_per_minute=int(row[1]) if row[1] is not None else None,
        concurrent_requests=row[2],
    )


def _transaction(conn: Any, work: Callable[[], T], connection_errors: tuple[type[BaseException], ...]) -> T:
    conn.run("BEGIN")
    try:
        result = work()
        conn.run("COMMIT")
        return result
    except connection_errors:
        raise  # the server discarded the transaction with the connection
    except BaseException:
        conn.run("ROLLBACK")
        raise


class PostgresLimits:
    """Mixed into ``PostgresStore``: uses its ``_run`` (a pooled connection, once more on a dead one), so
    each method is idempotent by request id."""

    _run: Callable[..., Any]

    @staticmethod
    def _connection_errors() -> tuple[type[BaseException], ...]:
        from pg8000.exceptions import InterfaceError

        return (InterfaceError, ConnectionError, TimeoutError)

    # --- limits of keys and orgs ----------------------------------------------------------------------------
    def set_rate_limits(self, scope: str, scope_id: str, limits: RateLimits) -> None:
        if scope not in ("key", "org"):
            raise ValueError("rate limits are set per key or per org")

        def write(conn: Any) -> None:
            if not limits.any():
                conn.run("DELETE FROM rate_limits WHERE scope = :s AND scope_id = :i", s=scope, i=scope_id)
                return
            conn.run(
                "INSERT INTO rate_limits (scope, scope_id, requests_per_minute, tokens_per_minute, concurrent_requests) "
                "VALUES (:s, :i, :rpm, :tpm, :c) ON CONFLICT (scope, scope_id) DO UPDATE SET "
                "requests_per_minute = EXCLUDED.requests_per_minute, tokens_per_minute = EXCLUDED.tokens_per_minute, "
                "concurrent_requests = EXCLUDED.concurrent_requests",
                s=scope,
                i=scope_id,
                rpm=limits.requests_per_minute,
                tpm=limits.tokens_per_minute,
                c=limits.concurrent_requests,
            )

        self._run(write)

    def rate_limits(self, scope: str, scope_id: str) -> RateLimits:
        rows = self._run(
            lambda conn: conn.run(
                "SELECT requests_per_minute, tokens_per_minute, concurrent_requests FROM rate_limits "
                "WHERE scope = :s AND scope_id = :i",
                s=scope,
                i=scope_id,
            )
        )
        return _limits(rows[0]) if rows else RateLimits()

    # --- budgets -----------------------------------------------------------------------------------------------
    def set_team_budget(self, org_id: str, team_id: str, monthly_budget_usd: Decimal | None) -> None:
        def write(conn: Any) -> None:
            if monthly_budget_usd is None:
                conn.run("DELETE FROM team_budgets WHERE org_id = :o AND team_id = :t", o=org_id, t=team_id)
                return
            conn.run("INSERT INTO orgs (org_id) VALUES (:o) ON CONFLICT DO NOTHING", o=org_id)
            conn.run(
                "INSERT INTO team_budgets (org_id, team_id, monthly_budget_usd) VALUES (:o, :t, :b) "
                "ON CONFLICT (org_id, team_id) DO UPDATE SET monthly_budget_usd = EXCLUDED.monthly_budget_usd",
                o=org_id,
                t=team_id,
                b=monthly_budget_usd,
            )

        self._run(write)

    def team_budget(self, org_id: str, team_id: str) -> Decimal | None:
        rows = self._run(
            lambda conn: conn.run(
                "SELECT monthly_budget_usd FROM team_budgets WHERE org_id = :o AND team_id = :t", o=org_id, t=team_id
            )
        )
        return Decimal(rows[0][0]) if rows else None

    def team_budgets(self, org_id: str | None = None) -> list[tuple[str, str, Decimal]]:
        rows = self._run(
            lambda conn: conn.run(
                "SELECT org_id, team_id, monthly_budget_usd FROM team_budgets "
                "WHERE CAST(:o AS text) IS NULL OR org_id = :o ORDER BY org_id, team_id",
                o=org_id,
            )
        )
        return [(r[0], r[1], Decimal(r[2])) for r in rows]

    def reserve_spend(self, hold: SpendHold) -> BudgetDecision:
        start, end = month_bounds(hold.created_at)
        team = team_scope_id(hold.org_id, hold.team_id) if hold.team_id else None

        def reserve(conn: Any) -> BudgetDecision:
            def work() -> BudgetDecision:
                if team is None:
                    conn.run(_LOCK2, a=f"spend:key:{hold.key_id}", b=f"spend:org:{hold.org_id}")
                else:
                    conn.run(_LOCK3, a=f"spend:key:{hold.key_id}", b=f"spend:org:{hold.org_id}", c=f"spend:team:{team}")
                (
                    key_budget,
                    org_budget,
                    key_rolled,
                    key_held,
                    org_rolled,
                    org_held,
                    exists,
                    team_budget,
                    team_rolled,
                    team_held,
                ) = conn.run(
                    _BUDGET_STATE,
                    k=hold.key_id,
                    o=hold.org_id,
                    r=hold.request_id,
                    team=team,
                    team_id=hold.team_id,
                    d0=start.date(),
                    d1=end.date(),
                    t0=start,
                    t1=end,
                    now=hold.created_at,
                )[0]
                if exists:  # a retry after the commit was lost with its connection
                    return BudgetDecision(True)
                for scope, budget, spent in (
                    ("key", key_budget, Decimal(key_rolled) + Decimal(key_held)),
                    ("org", org_budget, Decimal(org_rolled) + Decimal(org_held)),
                    ("team", team_budget, Decimal(team_rolled) + Decimal(team_held)),
                ):
                    if budget is not None and spent >= budget:
                        return BudgetDecision(False, scope, Decimal(budget), spent)
                conn.run(
                    _INSERT_HOLD,
                    r=hold.request_id,
                    k=hold.key_id,
                    o=hold.org_id,
                    team=team,
                    amount=hold.amount_usd,
                    now=hold.created_at,
                    until=hold.expires_at,
                )
                return BudgetDecision(True)

            return _transaction(conn, work, self._connection_errors())

        result: BudgetDecision = self._run(reserve)
        return result

    def settle_spend(self, request_id: str, cost_usd: Decimal, expires_at: datetime) -> bool:
        rows = self._run(
            lambda conn: conn.run(
                "UPDATE spend_holds SET amount_usd = :c, settled = true, expires_at = :x "
                "WHERE request_id = CAST(:r AS uuid) RETURNING 1",
                c=cost_usd,
                x=expires_at,
                r=request_id,
            )
        )
        return bool(rows)

    def release_spend(self, request_id: str) -> bool:
        rows = self._run(
            lambda conn: conn.run(
                "DELETE FROM spend_holds WHERE request_id = CAST(:r AS uuid) RETURNING 1", r=request_id
            )
        )
        return bool(rows)

    def held_spend(self, scope: str, scope_id: str, month: date, now: datetime) -> Decimal:
        column = {"key": "key_id", "org": "org_id", "team": "team_scope"}[scope]
        start, end = month_bounds(datetime(month.year, month.month, 1, tzinfo=UTC))
        rows = self._run(
            lambda conn: conn.run(_HELD.format(column=column, param="i"), i=scope_id, t0=start, t1=end, now=now)
        )
        return Decimal(rows[0][0])

    # --- rate limits -------------------------------------------------------------------------------------------
    def admit_rate(self, admission: RateAdmission) -> RateDecision:
        limit_rows = self._run(
            lambda conn: conn.run(
                "SELECT scope, requests_per_minute, tokens_per_minute, concurrent_requests FROM rate_limits "
                f"WHERE {_SCOPES}",
                k=admission.key_id,
                o=admission.org_id,
            )
        )
        limits = {row[0]: _limits(row[1:]) for row in limit_rows}
        if not limits:
            return RateDecision(True)
        order = [(s, i) for s, i in (("key", admission.key_id), ("org", admission.org_id)) if s in limits]
        now, width = admission.now, admission.window_seconds
        current = rw.bucket_of(now, width)
        oldest = rw.oldest_bucket(current)
        params = {"k": admission.key_id, "o": admission.org_id, "now": now, "r": admission.request_id}

        def admit(conn: Any) -> RateDecision:
            def work() -> RateDecision:
                conn.run(_LOCK2, a=f"rate:key:{admission.key_id}", b=f"rate:org:{admission.org_id}")
                rows = conn.run(_RATE_STATE, oldest=oldest, **params)
                if any(row[0] == "x" for row in rows):
                    return RateDecision(True)  # a retry after the commit was lost with its connection
                verdicts = []
                for scope, _ in order:
                    buckets = sorted((int(r[2]), int(r[3]), int(r[4])) for r in rows if r[0] == "b" and r[1] == scope)
                    inflight = sum(int(r[2]) for r in rows if r[0] == "i" and r[1] == scope)
                    verdicts.append(
                        (scope, rw.judge(scope, limits[scope], buckets, inflight, admission.tokens, now, width))
                    )
                windows = tuple(v.window for _, v in verdicts)
                refused = [(scope, v) for scope, v in verdicts if v.refused]
                if refused:
                    scope, verdict = max(refused, key=lambda item: item[1].retry_after)
                    return RateDecision(False, windows, scope, verdict.refused, verdict.retry_after, verdict.never)
                conn.run(
                    _RATE_COUNT,
                    oldest=oldest,
                    bucket=current,
                    tokens=admission.tokens,
                    until=admission.hold_until,
                    scopes=[s for s, _ in order],
                    ids=[i for _, i in order],
                    **params,
                )
                return RateDecision(True, windows)

            return _transaction(conn, work, self._connection_errors())

        result: RateDecision = self._run(admit)
        return result

    def release_rate(self, request_id: str, actual_tokens: int) -> None:
        self._run(lambda conn: conn.run(_RELEASE, r=request_id, actual=actual_tokens))
