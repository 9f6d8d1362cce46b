"""The console's pages for single sign-on and account hygiene (registered by :func:`app.create_app`).

Each handler takes the request context of :mod:`regiongate.console.runtime.app` (``ctx``: the console, the
request, the session and the parsed form) and returns a response; errors are :class:`HTTPError`.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import RedirectResponse, Response

from regiongate.console.runtime.auth import AuthError, new_token, tokens_equal
from regiongate.console.runtime.devices import DEVICE_LIFETIME
from regiongate.console.runtime.oidc import OidcError
from regiongate.console.runtime.web import HTTPError, optional_id, safe_next

log = logging.getLogger("regiongate.console")
USER_ID_RE = re.compile(r"^usr_[0-9a-f]{16}$")
SSO_ERROR_RE = re.compile(r"^[a-z_]{1,64}$")


def _sso_cookie(console: Any) -> str:
    return "__Host-rg_sso" if console.secure_cookies else "rg_sso"


def _same_origin_post(ctx: Any) -> None:
    """The check app.py makes on every signed-in POST, for the signed-out reset form."""
    request = ctx.request
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site") or (
        origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")
    ):
        raise HTTPError(403, "Cross-site form posts are refused.")


# --- single sign-on --------------------------------------------------------------------------------------------


def sso_start(ctx: Any) -> Response:
    console = ctx.console
    if console.sso is None:
        raise HTTPError(404, "Single sign-on is not set up for this console.")
    try:
        started = console.sso.start(safe_next(ctx.query.get("next")))
    except OidcError as exc:
        raise HTTPError(502, str(exc)) from None
    response = RedirectResponse(started.url, status_code=303)
    # Lax, not Strict: the identity provider's redirect back to the callback is a cross-site navigation.
    response.set_cookie(
        _sso_cookie(console),
        started.browser_token,
        max_age=600,
        path="/",
        secure=console.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


def sso_callback(ctx: Any) -> Response:
    console = ctx.console
    if console.sso is None:
        raise HTTPError(404, "Single sign-on is not set up for this console.")
    error = ctx.query.get("error")
    if error:
        code = error if SSO_ERROR_RE.match(error) else "unknown"
        raise HTTPError(403, f"The identity provider did not sign you in ({code}). Start the sign-in again.")
    try:
        token, next_path = console.sso.finish(
            state=ctx.query.get("state"),
            code=ctx.query.get("code"),
            browser_token=ctx.request.cookies.get(_sso_cookie(console)),
        )
    except OidcError as exc:
        log.warning("single sign-on refused: %s", exc)
        raise HTTPError(403, str(exc)) from None
    # A page of our own that moves on: the session cookie is SameSite=Strict, so the browser sends it only on a
    # navigation this site starts (a redirect would still count as the identity provider's cross-site one).
    response = console.render("sso_done.html", next=safe_next(next_path), session=None, user=None, csrf="", path="")
    console.set_cookie(response, console.session_cookie, token, max_age=8 * 3600)
    # This browser is now a known device of the account (devices.py), as after a password sign-in: a later password
    # sign-in from it passes the account-wide hold. For the account's own e-mail, which a password sign-in names.
    signed_in = console.accounts.session(token)
    if signed_in is not None:
        device = console.devices.issue(signed_in.user.email)
        console.set_cookie(response, console.device_cookie, device, max_age=int(DEVICE_LIFETIME.total_seconds()))
    response.delete_cookie(_sso_cookie(console), path="/", secure=console.secure_cookies, httponly=True, samesite="lax")
    return response


# --- the user's own password ---------------------------------------------------------------------------------


def account_page(ctx: Any, *, status: int = 200, error: str | None = None, message: str | None = None) -> Response:
    has_password, sso = ctx.console.hygiene.sign_in_methods(ctx.user.user_id)
    return ctx.render("account.html", status, has_password=has_password, sso=sso, error=error, message=message)


def change_password(ctx: Any) -> Response:
    form = ctx.form
    new = form.get("new_password")
    if new != form.get("new_password_again"):
        return account_page(ctx, status=400, error="The two new passwords differ.")
    try:
        ended = ctx.console.hygiene.change_password(
            ctx.user,
            form.get("current_password"),
            new,
            keep_token=ctx.request.cookies.get(ctx.console.session_cookie),
        )
    except AuthError as exc:
        return account_page(ctx, status=400, error=f"The password was not changed: {exc}.")
    log.info("console password changed", extra={"user_id": ctx.user.user_id, "sessions_ended": ended})
    return account_page(ctx, message="Your password was changed. Every other session of your account was signed out.")


# --- reset by an admin ---------------------------------------------------------------------------------------


def reset_user(ctx: Any) -> Response:
    ctx.require_manager("reset passwords")
    user_id = ctx.request.path_params["user_id"]
    target = ctx.console.accounts.get_user(user_id) if USER_ID_RE.match(user_id) else None
    if target is None or (not ctx.user.is_platform_admin and target.org_id != ctx.user.org_id):
        raise HTTPError(404, "No such account.")
    try:
        code = ctx.console.hygiene.issue_reset(target, by=ctx.user)
    except AuthError as exc:
        raise HTTPError(409, f"The password cannot be reset: {exc}.") from None
    log.info("console password reset issued", extra={"user_id": target.user_id, "by": ctx.user.user_id})
    return ctx.render("reset_code.html", 201, target=target, code=code)


def reset_page(ctx: Any, *, status: int = 200, error: str | None = None, email: str = "") -> Response:
    token = new_token()
    response = ctx.render("password_reset.html", status, login_csrf=token, error=error, email=email)
    ctx.console.set_cookie(response, ctx.console.login_cookie, token, max_age=3600)
    return response


def reset_submit(ctx: Any) -> Response:
    _same_origin_post(ctx)
    console = ctx.console
    if not tokens_equal(ctx.form.get("csrf"), ctx.request.cookies.get(console.login_cookie)):
        raise HTTPError(403, "The form expired or was not sent by this site. Reload the page and try again.")
    email = ctx.form.get("email")[:254]
    new = ctx.form.get("new_password")
    if new != ctx.form.get("new_password_again"):
        return reset_page(ctx, status=400, error="The two new passwords differ.", email=email)
    try:
        user = console.hygiene.complete_reset(email, ctx.form.get("code").strip(), new)
    except AuthError as exc:
        return reset_page(ctx, status=400, error=f"The password was not set: {exc}.", email=email)
    log.info("console password reset completed", extra={"user_id": user.user_id})
    return RedirectResponse("/login?done=password-set", status_code=303)


# --- per-org password sign-in (platform admins) --------------------------------------------------------------


def org_settings(ctx: Any) -> Response:
    if not ctx.user.is_platform_admin:
        raise HTTPError(403, "Only platform admins change an organisation's sign-in settings.")
    org = optional_id(ctx.form.get("org"), "Organisation")
    if not org:
        raise HTTPError(400, "Choose the organisation.")
    value = ctx.form.get("password_sign_in")
    if value not in ("on", "off"):
        raise HTTPError(400, "Password sign-in is on or off.")
    ctx.console.hygiene.set_password_sign_in(org, value == "on", by=ctx.user.user_id)
    log.info("console org settings changed", extra={"org_id": org, "password_sign_in": value, "by": ctx.user.user_id})
    return RedirectResponse(f"/users?org={org}&done=org-settings", status_code=303)
