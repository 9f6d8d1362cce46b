"""Pre-call check: monthly budgets per key, per team and per organisation, held under any concurrency.

Before the provider is called, the request reserves its most expensive outcome (estimated input tokens and
its max output tokens at the model's prices) in the region's store, atomically with the check that the
key's, its team's and the org's spend (the month's rollups plus every unexpired reservation) is still under budget.
After the call the reservation is settled with the actual cost; the writer removes it when it adds the
request's audit event to the rollups. So the spend past a budget is at most one request's reservation, on
every instance of the region at once; a reservation a crashed instance never settled expires.

A request of a key without a budget, in an org and a team without one, reserves nothing (no store round
trip). The org's and the team's budgets are cached for the key cache TTL: a new one applies within that time,
as a key's does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from regiongate.common.clock import Clock
from regiongate.common.read_cache import ReadCache
from regiongate.contract.errors import BudgetExceeded
from regiongate.contract.limits import SETTLED_SPEND_HOLD_SECONDS, SPEND_HOLD_SECONDS
from regiongate.gateway.runtime.checks import Call
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.guardrails import estimate_tokens
from regiongate.gateway.runtime.pricing import cost_usd
from regiongate.gateway.runtime.store_errors import store_call
from regiongate.store import SpendHold, Store

log = logging.getLogger("regiongate.gateway")


class BudgetGuard:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        ttl: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        hold_seconds: float = SPEND_HOLD_SECONDS,
        settled_seconds: float = SETTLED_SPEND_HOLD_SECONDS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.hold = timedelta(seconds=hold_seconds)
        self.settled = timedelta(seconds=settled_seconds)
        self._budgets: ReadCache[tuple[str, str, str], Decimal | None] = ReadCache(
            "budgets", ttl, max_entries=10_000, monotonic=monotonic
        )

    def _cached(self, name: tuple[str, str, str], load: Callable[[], Decimal | None]) -> Decimal | None:
        return self._budgets.get(name, lambda: store_call(load))

    def _org_budget(self, org_id: str) -> Decimal | None:
        return self._cached(("org", org_id, ""), lambda: self.store.org_budget(org_id))

    def _team_budget(self, org_id: str, team_id: str | None) -> Decimal | None:
        if not team_id:
            return None
        return self._cached(("team", org_id, team_id), lambda: self.store.team_budget(org_id, team_id))

    def __call__(self, call: Call) -> None:
        ctx, key, model = call.ctx, call.key, call.model
        if (
            key.monthly_budget_usd is None
            and self._org_budget(key.org_id) is None
            and self._team_budget(key.org_id, key.team_id) is None
        ):
            return  # no budget to hold spend against
        estimate = cost_usd(
            estimate_tokens(call.texts), call.max_output_tokens, model.highest_input_price, model.output_usd_per_mtok
        )  # the highest input price: every input token may be written to the prompt cache
        hold = SpendHold(
            request_id=ctx.request_id,
            key_id=key.key_id,
            org_id=key.org_id,
            team_id=key.team_id,
            amount_usd=estimate,
            created_at=ctx.created_at,
            expires_at=self.clock() + self.hold,
        )
        decision = store_call(lambda: self.store.reserve_spend(hold))
        if not decision.admitted:
            if decision.scope == "key":
                raise BudgetExceeded(f"this key has used its monthly budget of {decision.budget_usd} USD")
            if decision.scope == "team":
                raise BudgetExceeded(
                    f"team {key.team_id} of organisation {key.org_id} has used its monthly budget of "
                    f"{decision.budget_usd} USD"
                )
            raise BudgetExceeded(f"organisation {key.org_id} has used its monthly budget of {decision.budget_usd} USD")
        ctx.spend_held = True

    def settle(self, ctx: RequestContext) -> None:
        """Replace the reservation by the actual cost (zero for a failed call). A failure only logs: the
        reservation then counts its estimate until it expires or the audit event is rolled up."""
        if not ctx.spend_held:
            return
        ctx.spend_held = False
        try:
            self.store.settle_spend(ctx.request_id, ctx.cost, self.clock() + self.settled)
        except Exception as exc:
            log.error(
                "budget settlement failed",
                extra={"fields": {"request_id": ctx.request_id, "error": type(exc).__name__}},
            )

    def release(self, ctx: RequestContext) -> None:
        """Remove the reservation instead of settling it: the answer was withheld (its audit event could not be
        handed on), so no event will roll its cost up and the client was charged nothing. A failure only logs:
        the reservation then counts its estimate until it expires."""
        if not ctx.spend_held:
            return
        ctx.spend_held = False
        try:
            self.store.release_spend(ctx.request_id)
        except Exception as exc:
            log.error(
                "budget release failed",
                extra={"fields": {"request_id": ctx.request_id, "error": type(exc).__name__}},
            )
