"""The console's pages of organisations' own provider credentials ("bring your own key"): ``/credentials``.

Who sees what: an org admin adds, replaces and deletes the credentials of their own org and sets whether the
platform's credentials may serve it; an org viewer sees which providers have one and when it was set; a
platform admin does all of it for any org of the region; another org's users see nothing of it (404). No page
ever shows a secret: the service returns none (``store.provider_credentials.CredentialRecord``), and the key
field of the form is a password input that is never filled in again, not even after a refused add.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import RedirectResponse, Response

from regiongate.console.runtime.web import HTTPError, optional_id
from regiongate.store.provider_credentials import (
    CredentialNotFound,
    CredentialRefused,
    ProviderCredentials,
    external_id,
)

log = logging.getLogger("regiongate.console")
MESSAGES = {
    "added": "The credential was added. The gateway uses it for your organisation's requests within its cache time.",
    "replaced": "The credential was replaced. The gateway uses the new one within its cache time.",
    "deleted": "The credential was deleted.",
    "fallback": "The fallback setting was saved.",
}


def service(ctx: Any) -> ProviderCredentials:
    """The console's credential service (built from the region document when the console was given none)."""
    found = getattr(ctx.console, "credentials", None)
    if found is not None:
        return found
    document = getattr(ctx.console.region, "document", None)
    if document is None:
        raise HTTPError(503, "Provider credentials are not available on this console (it has no region document).")
    return ProviderCredentials(ctx.console.store, None, document, clock=ctx.console.clock)


def _target_org(ctx: Any) -> str:
    """The org a form acts on: any org for a platform admin, the user's own for everyone else."""
    requested = ctx.form.get("org").strip()
    if ctx.user.is_platform_admin:
        org = optional_id(requested, "Organisation")
        if not org:
            raise HTTPError(400, "Choose the organisation.")
        return org
    if requested and requested != ctx.user.org_id:
        raise HTTPError(404, "No such organisation.")
    return str(ctx.user.org_id)


def credentials_page(ctx: Any, *, status: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    org = ctx.org_scope(ctx.query.get("org"))
    credentials = service(ctx)
    records = credentials.list(org)
    document = credentials.runtime
    orgs = sorted({r.org_id for r in records} | ({org} if org else set()))
    return ctx.render(
        "credentials.html",
        status,
        org=org,
        records=records,
        fallbacks={o: credentials.platform_fallback(o) for o in orgs},
        providers=[(p.name, p.type) for p in document.providers.values()],
        allowed_hosts=document.allowed_hosts,
        partition=document.partition,
        external_ids={o: external_id(document.code, o) for o in orgs},
        can_manage=ctx.user.can_manage,
        error=error,
        form=form or {},
        message=MESSAGES.get(ctx.query.get("done")),
    )


def put_credential(ctx: Any) -> Response:
    ctx.require_manager("change provider credentials")
    org = _target_org(ctx)
    action = ctx.form.get("action")
    if action not in ("add", "replace"):
        raise HTTPError(400, "Choose whether to add or replace the credential.")
    provider = ctx.form.get("provider").strip()
    try:
        record = service(ctx).put(
            org_id=org,
            provider=provider,
            set_by=ctx.user.user_id,
            secret=ctx.form.get("secret") or None,
            endpoint=ctx.form.get("endpoint").strip() or None,
            role_arn=ctx.form.get("role_arn").strip() or None,
            replace_existing=action == "replace",
        )
    except (CredentialRefused, CredentialNotFound) as exc:
        # Refill what is not secret (bounded, escaped by the template); the key field stays empty.
        refill = {name: ctx.form.get(name)[:300] for name in ("org", "provider", "endpoint", "role_arn", "action")}
        return credentials_page(ctx, status=400, error=str(exc), form=refill)
    log.info("org credential %s", action, extra={"org_id": org, "provider": record.provider, "by": ctx.user.user_id})
    done = "added" if action == "add" else "replaced"
    return RedirectResponse(f"/credentials?org={org}&done={done}", status_code=303)


def delete_credential(ctx: Any) -> Response:
    ctx.require_manager("delete provider credentials")
    org = _target_org(ctx)
    provider = ctx.request.path_params["provider"]
    if not service(ctx).delete(org, provider):
        raise HTTPError(404, "No such credential.")
    log.info("org credential deleted", extra={"org_id": org, "provider": provider, "by": ctx.user.user_id})
    return RedirectResponse(f"/credentials?org={org}&done=deleted", status_code=303)


def set_fallback(ctx: Any) -> Response:
    ctx.require_manager("change the fallback setting")
    org = _target_org(ctx)
    choice = ctx.form.get("fallback")
    if choice not in ("allow", "deny"):
        raise HTTPError(400, "Choose allow or deny.")
    service(ctx).set_platform_fallback(org, choice == "allow")
    return RedirectResponse(f"/credentials?org={org}&done=fallback", status_code=303)


def routes(r: Callable[..., Any]) -> list[Any]:
    """The pages, as ``create_app``'s route builder ``r(path, handler, methods)`` makes them."""
    return [
        r("/credentials", credentials_page),
        r("/credentials", put_credential, ("POST",)),
        r("/credentials/fallback", set_fallback, ("POST",)),
        r("/credentials/{provider}/delete", delete_credential, ("POST",)),
    ]
