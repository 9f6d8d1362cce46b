"""Team budgets on the console: the dashboard's "Budget use this month" card shows every team budget in scope
(``queries.budgets``) and, for org admins and platform admins, a form that sets or clears one (``POST
/budgets/team``). The same service call as ``regiongate keys team-budget``; the gateway applies it within its
key cache TTL. Org admins set their own org's teams only; viewers cannot set any (403)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from regiongate.console.runtime.web import BadInput, HTTPError, optional_amount, optional_id
from regiongate.contract.errors import GatewayError

log = logging.getLogger("regiongate.console")


def _target_org(ctx: Any) -> str:
    """The org the form acts on: any org for a platform admin, the user's own for everyone else."""
    requested = ctx.form.get("org").strip()
    if ctx.user.is_platform_admin:
        org = optional_id(requested, "Organisation")
        if not org:
            raise HTTPError(400, "Choose the organisation of the team.")
        return str(org)
    if requested and requested != ctx.user.org_id:
        raise HTTPError(404, "No such organisation.")
    return str(ctx.user.org_id)


def set_team_budget(ctx: Any) -> Response:
    ctx.require_manager("set team budgets")
    org = _target_org(ctx)
    team = optional_id(ctx.form.get("team"), "Team")  # a refusal is a 400 page (BadInput)
    if not team:
        raise BadInput("Name the team (the keys' team).")
    budget = optional_amount(ctx.form.get("budget"), "Team budget")  # empty: clear it
    try:
        ctx.console.keys.set_team_budget(org, team, budget)
    except GatewayError as exc:
        raise HTTPError(400, exc.message) from None
    log.info("team budget %s", "cleared" if budget is None else "set", extra={"org_id": org, "by": ctx.user.user_id})
    query = {"org": org} if ctx.user.is_platform_admin else {}
    return RedirectResponse("/" + (f"?{urlencode(query)}" if query else ""), status_code=303)


def routes(r: Callable[..., Any]) -> list[Any]:
    """The pages, as ``create_app``'s route builder ``r(path, handler, methods)`` makes them."""
    return [r("/budgets/team", set_team_budget, ("POST",))]
