"""The console's Starlette application: routes, sign-in, roles and pages.

Every page goes through :func:`page`, which reads the session cookie, checks CSRF on every POST, runs the
handler in a worker thread (the store is synchronous, pg8000) and maps :class:`HTTPError` to an error page.
Org scoping happens in exactly two helpers, :meth:`Ctx.org_scope` and :meth:`Ctx.find_key`: an org user's
queries always carry their own org id, whatever the URL says.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from regiongate.common.clock import Clock, utc_now
from regiongate.console.runtime import account_pages, budget_pages, charts, credentials_pages
from regiongate.console.runtime.auth import (
    ROLE_NAMES,
    Accounts,
    AuthError,
    LoginResult,
    Session,
    new_token,
    tokens_equal,
)
from regiongate.console.runtime.devices import DEVICE_LIFETIME, DeviceTrust
from regiongate.console.runtime.hygiene import Hygiene
from regiongate.console.runtime.queries import GROUPS, MAX_PAGE, ConsoleQueries, Period
from regiongate.console.runtime.settings import Region
from regiongate.console.runtime.sso import SingleSignOn
from regiongate.console.runtime.web import (
    MAX_FORM_BYTES,
    BadInput,
    Form,
    HTTPError,
    choice,
    end_of_day,
    int_param,
    optional_amount,
    optional_date,
    optional_id,
    safe_next,
)
from regiongate.contract.errors import GatewayError
from regiongate.store import KeyRecord, RateLimits
from regiongate.store.keys import KeyService
from regiongate.store.postgres import connection_lost

log = logging.getLogger("regiongate.console")
HERE = Path(__file__).resolve().parent
PERIODS = ("1", "7", "30", "90")
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
KEY_ID_RE = re.compile(r"^key_[0-9a-f]{16}$")
USER_ID_RE = re.compile(r"^usr_[0-9a-f]{16}$")
MESSAGES = {  # the only texts a redirect may ask a page to show
    "revoked": "The key was revoked. The gateway refuses it within its key cache time (30 seconds by default).",
    "saved": "The key's settings were saved.",
    "user-added": "The account was created. Give its owner the password by a separate channel.",
    "user-disabled": "The account was disabled and signed out.",
    "org-settings": "The organisation's sign-in settings were saved.",
    "password-set": "Your new password is set. Sign in with it.",
}

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"strict-transport-security", b"max-age=31536000"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: the same security headers on every response; no caching except static assets."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                headers += SECURITY_HEADERS
                headers.append(
                    (b"cache-control", b"public, max-age=3600") if static else (b"cache-control", b"no-store")
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, wrapped)


def usd(value: Any) -> str:
    amount = Decimal(value or 0)
    if amount == 0:
        return "$0.00"
    if abs(amount) < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:,.2f}"


def usd_axis(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 1:
        digits = f"{value:.6f}".rstrip("0")
        return "$" + (digits + "0" if len(digits.split(".")[1]) < 2 else digits)
    if value < 10:
        return f"${value:.2f}"
    return f"${value:,.0f}"


def amount(value: Any) -> str:
    """A Decimal for an input field: 5.000000 → 5, 12.50 → 12.5; '' stays ''."""
    if value in (None, ""):
        return ""
    try:
        number = Decimal(value)
    except (ArithmeticError, ValueError, TypeError):
        return str(value)  # what the user typed, shown back with the error
    if not number.is_finite() or abs(number) >= 10**12:
        return str(value)
    return f"{number.normalize():f}"


def count(value: Any) -> str:
    return f"{int(value or 0):,}"


def count_axis(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 or value == 0 else f"{value:.2f}"


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def day(value: datetime | date | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def key_status(record: KeyRecord, now: datetime) -> str:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"


@dataclass
class Console:
    """What the pages use: the region and the shared store, wrapped by the key service and console queries."""

    region: Region
    store: Any
    secure_cookies: bool = True
    clock: Clock = utc_now  # the one clock of every page, key write and sign-in (tests pin it)
    oidc: Any = None  # an oidc.OidcClient when single sign-on is set up (regions.yaml console_oidc)
    # Orgs' own provider keys (store.provider_credentials.ProviderCredentials; credentials_pages). None: built
    # from the region document without a KMS key (list, delete, roles; adding an API key is refused).
    credentials: Any = None

    def __post_init__(self) -> None:
        self.keys = KeyService(self.store, clock=self.clock)
        self.accounts = Accounts(self.store.pool, self.region.code, clock=self.clock)
        self.hygiene = Hygiene(self.accounts)
        self.sso = SingleSignOn(self.accounts, self.oidc) if self.oidc is not None else None
        self.queries = ConsoleQueries(self.store.pool, self.region.code)
        self.session_cookie = "__Host-rg_session" if self.secure_cookies else "rg_session"
        self.login_cookie = "__Host-rg_login" if self.secure_cookies else "rg_login"
        self.devices = DeviceTrust(self.store.pool, self.region.code, clock=self.clock)
        self.device_cookie = "__Host-rg_device" if self.secure_cookies else "rg_device"
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals.update(
            usd=usd,
            amount=amount,
            count=count,
            pct=pct,
            when=when,
            day=day,
            region=self.region,
            role_names=ROLE_NAMES,
            swatch=charts.swatch,
            meter=charts.meter,
            sso_enabled=self.oidc is not None,
        )

    def today(self) -> date:
        return self.clock().astimezone(UTC).date()

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.secure_cookies, httponly=True, samesite="strict"
        )


class Ctx:
    """One request: its form or query, the signed-in session and the scoping rules."""

    def __init__(self, console: Console, request: Request, session: Session | None, form: Form) -> None:
        self.console = console
        self.request = request
        self.session = session
        self.form = form
        self.query = Form.from_query(list(request.query_params.multi_items()))

    @property
    def user(self):
        assert self.session is not None
        return self.session.user

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return self.console.render(
            name,
            status_code,
            session=self.session,
            user=self.session.user if self.session else None,
            csrf=self.session.csrf_token if self.session else "",
            path=self.request.url.path,
            **context,
        )

    def require_manager(self, action: str) -> None:
        if not self.user.can_manage:
            raise HTTPError(403, f"Org viewers cannot {action}. Ask an org admin of your organisation.")

    def org_scope(self, requested: str) -> str | None:
        """The org every query of this request is limited to (None: all orgs, platform admins only)."""
        requested = optional_id(requested, "Organisation") or ""
        if self.user.is_platform_admin:
            return requested or None
        if requested and requested != self.user.org_id:
            raise HTTPError(404, "No such organisation.")
        return self.user.org_id

    def find_key(self, key_id: str) -> KeyRecord:
        if not KEY_ID_RE.match(key_id):
            raise HTTPError(404, "No such key.")
        org = None if self.user.is_platform_admin else self.user.org_id
        for record in self.console.keys.list(region_code=self.console.region.code, org_id=org):
            if record.key_id == key_id:
                return record
        raise HTTPError(404, "No such key.")

    def period(self, default: str = "30") -> tuple[str, Period]:
        days = choice(self.query.get("days"), "Period", PERIODS, default)
        return days, Period.last_days(int(days), self.console.today())


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (in addition to SameSite cookies and the CSRF token)."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _read_form(request: Request) -> Form:
    if request.method != "POST":
        return Form([])
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not ctype and request.headers.get("content-length", "0") == "0":
        return Form([])  # an empty POST: no fields (so no CSRF token either: refused below)
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPError(415, "Forms are sent as application/x-www-form-urlencoded.")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise HTTPError(413, "The form is too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPError(413, "The form is too large.")
    return Form.parse(body)


def page(console: Console, handler: Callable[[Ctx], Response], *, signed_in: bool = True) -> Callable:
    async def endpoint(request: Request) -> Response:
        session: Session | None = None
        try:
            form = await _read_form(request)

            def work() -> Response:
                nonlocal session
                session = console.accounts.session(request.cookies.get(console.session_cookie))
                ctx = Ctx(console, request, session, form)
                if signed_in:
                    if session is None:
                        if request.method in ("GET", "HEAD"):
                            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
                        raise HTTPError(403, "Your session has ended. Sign in again, then repeat the action.")
                    if request.method == "POST":
                        if not _same_origin(request):
                            raise HTTPError(403, "Cross-site form posts are refused.")
                        if not tokens_equal(form.get("csrf"), session.csrf_token):
                            raise HTTPError(
                                403, "The form's security token is missing or wrong. Reload the page and try again."
                            )
                return handler(ctx)

            return await run_in_threadpool(work)
        except HTTPError as exc:
            return _error_page(console, request, session, exc.status, exc.message)
        except Exception as exc:
            if connection_lost(exc):  # the database is down or restarting: not our bug, and it passes
                log.error("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
                response = _error_page(
                    console, request, session, 503, "The region's database is unavailable. Try again in a minute."
                )
                response.headers["retry-after"] = "30"
                return response
            log.exception("console error on %s %s", request.method, request.url.path)
            return _error_page(
                console, request, session, 500, "Something went wrong on our side. The error has been logged."
            )

    return endpoint


def _error_page(console: Console, request: Request, session: Session | None, status: int, message: str) -> Response:
    return console.render(
        "error.html",
        status,
        status=status,
        message=message,
        session=session,
        user=session.user if session else None,
        csrf=session.csrf_token if session else "",
        path=request.url.path,
    )


# --- sign-in ------------------------------------------------------------------------------------------------


def login_page(ctx: Ctx) -> Response:
    if ctx.session is not None:
        return RedirectResponse(safe_next(ctx.query.get("next")), status_code=303)
    token = new_token()
    response = ctx.render(
        "login.html",
        next=safe_next(ctx.query.get("next")),
        login_csrf=token,
        email="",
        error=None,
        message=MESSAGES.get(ctx.query.get("done")),
    )
    ctx.console.set_cookie(response, ctx.console.login_cookie, token, max_age=3600)
    return response


def login_submit(ctx: Ctx) -> Response:
    console = ctx.console
    if not _same_origin(ctx.request):
        raise HTTPError(403, "Cross-site form posts are refused.")
    if not tokens_equal(ctx.form.get("csrf"), ctx.request.cookies.get(console.login_cookie)):
        raise HTTPError(403, "The sign-in form expired or was not sent by this site. Reload the page and try again.")
    email = ctx.form.get("email")[:254]
    password = ctx.form.get("password")
    target = safe_next(ctx.form.get("next"))
    trusted = console.devices.trusted(email, ctx.request.cookies.get(console.device_cookie))
    result, token = console.accounts.login(email, password, source=client_address(ctx.request), trusted_device=trusted)
    if result == LoginResult.OK:
        response = RedirectResponse(target, status_code=303)
        console.set_cookie(response, console.session_cookie, token, max_age=8 * 3600)
        max_age = int(DEVICE_LIFETIME.total_seconds())
        console.set_cookie(response, console.device_cookie, console.devices.issue(email), max_age=max_age)
        response.delete_cookie(
            console.login_cookie, path="/", secure=console.secure_cookies, httponly=True, samesite="strict"
        )
        return response
    fresh = new_token()
    if result == LoginResult.LOCKED:
        status, error = 429, "Too many failed sign-ins. Wait a few minutes, then try again."
    elif result == LoginResult.SSO_ONLY:
        status = 403
        error = "Your organisation has turned password sign-in off: sign in with single sign-on instead."
    else:
        status, error = 401, "Wrong e-mail address or password."
    response = ctx.render("login.html", status, next=target, login_csrf=fresh, email=email, error=error)
    console.set_cookie(response, console.login_cookie, fresh, max_age=3600)
    return response


def client_address(request: Request) -> str | None:
    """The browser's address: the last X-Forwarded-For entry (the one the load balancer appended), else the peer."""
    forwarded = request.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
    if forwarded:
        return forwarded[:64]
    return request.client.host if request.client else None


def logout(ctx: Ctx) -> Response:
    ctx.console.accounts.logout(ctx.request.cookies.get(ctx.console.session_cookie, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        ctx.console.session_cookie, path="/", secure=ctx.console.secure_cookies, httponly=True, samesite="strict"
    )
    return response


# --- dashboard ----------------------------------------------------------------------------------------------


def dashboard(ctx: Ctx) -> Response:
    org = ctx.org_scope(ctx.query.get("org"))
    days, period = ctx.period("30")
    group = choice(ctx.query.get("group"), "Group", tuple(GROUPS), "model" if org else "org")
    q = ctx.console.queries
    totals = q.totals(org, period)
    series = q.series(org, period, group)
    spend_chart = charts.stacked_bars(
        series.days, series.cost, series.groups, label=f"Spend per day by {group}", fmt=usd_axis
    )
    requests_chart = charts.stacked_bars(
        series.days, series.requests, series.groups, label=f"Requests per day by {group}", fmt=count_axis
    )
    legend = [(g, sum(series.cost[g]), int(sum(series.requests[g]))) for g in series.groups]
    return ctx.render(
        "dashboard.html",
        org=org,
        orgs=q.orgs() if ctx.user.is_platform_admin else [],
        days=days,
        group=group,
        groups=tuple(GROUPS),
        totals=totals,
        spend_chart=spend_chart,
        requests_chart=requests_chart,
        legend=legend,
        top_models=q.top_models(org, period),
        budgets=q.budgets(org, ctx.console.today()),
        series=series,
        export_from=(period.until.date() - timedelta(days=30)).isoformat(),
        export_to=(period.until.date() - timedelta(days=1)).isoformat(),
    )


# --- requests and violations ------------------------------------------------------------------------------


def _page_links(ctx: Ctx, page: int, has_next: bool) -> dict:
    def link(n: int) -> str:
        params = [(k, v) for k, vs in ctx.query.values.items() if k != "page" for v in vs]
        return ctx.request.url.path + "?" + urlencode(params + [("page", str(n))])

    return {"page": page, "prev": link(page - 1) if page > 1 else None, "next": link(page + 1) if has_next else None}


def requests_page(ctx: Ctx) -> Response:
    org = ctx.org_scope(ctx.query.get("org"))
    days, period = ctx.period("7")
    q = ctx.query.get("q").strip()
    if len(q) > 200:
        raise BadInput("Search for at most 200 characters.")
    status = choice(ctx.query.get("status"), "Status", ("ok", "error", "guardrail"), "")
    page = int_param(ctx.query.get("page"), "Page", 1, MAX_PAGE, 1)
    rows, has_next = ctx.console.queries.requests(org, period, q=q, status=status, page=page)
    return ctx.render(
        "requests.html",
        org=org,
        orgs=ctx.console.queries.orgs() if ctx.user.is_platform_admin else [],
        days=days,
        q=q,
        status=status,
        rows=rows,
        paging=_page_links(ctx, page, has_next),
    )


def violations_page(ctx: Ctx) -> Response:
    org = ctx.org_scope(ctx.query.get("org"))
    days, period = ctx.period("30")
    detectors = ctx.console.queries.detectors(org)
    detector = ctx.query.get("detector")
    if detector and detector not in detectors:
        if len(detector) > 100 or not re.fullmatch(r"[a-z0-9_.:-]+", detector):
            raise BadInput("Unknown guardrail type.")
    page = int_param(ctx.query.get("page"), "Page", 1, MAX_PAGE, 1)
    rows, has_next = ctx.console.queries.violations(org, period, detector=detector, page=page)
    return ctx.render(
        "violations.html",
        org=org,
        orgs=ctx.console.queries.orgs() if ctx.user.is_platform_admin else [],
        days=days,
        detector=detector,
        detectors=detectors,
        rows=rows,
        paging=_page_links(ctx, page, has_next),
    )


# --- CSV ----------------------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # never a formula in a spreadsheet
    return value


def usage_csv(ctx: Ctx) -> Response:
    org = ctx.org_scope(ctx.query.get("org"))
    last = optional_date(ctx.query.get("to"), "To") or ctx.console.today()
    first = optional_date(ctx.query.get("from"), "From") or (last - timedelta(days=29))
    if first > last:
        raise BadInput("From must not be after To.")
    if (last - first).days > 400:
        raise BadInput("Export at most 400 days at a time.")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ConsoleQueries.CSV_HEADER)
    for row in ctx.console.queries.usage_rows(org, Period.between(first, last)):
        writer.writerow([_csv_cell(v) for v in row])
    name = f"regiongate-{ctx.console.region.code}-usage-{org or 'all-orgs'}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# --- keys ---------------------------------------------------------------------------------------------------


def _key_settings(ctx: Ctx) -> tuple[Decimal | None, tuple[str, ...] | None, datetime | None]:
    form = ctx.form
    budget = optional_amount(form.get("budget"))
    models = [m.strip() for m in form.get_all("models") if m.strip()]
    extra = form.get("models_text").strip()
    if extra:
        models += [m.strip() for m in extra.split(",") if m.strip()]
    if len(models) > 100:
        raise BadInput("Allow at most 100 models.")
    known = ctx.console.region.models
    for model in models:
        if not MODEL_RE.match(model):
            raise BadInput("A model name is letters, digits and . _ : / - only.")
        if known and model not in known:
            raise BadInput(f"{model} is not a model of region {ctx.console.region.display_name}.")
    expires_on = optional_date(form.get("expires"), "Expiry")
    expires_at = None
    if expires_on is not None:
        today = ctx.console.today()
        if expires_on <= today:
            raise BadInput("Expiry must be a date after today.")
        if expires_on > today + timedelta(days=5 * 366):
            raise BadInput("Expiry must be within five years.")
        expires_at = end_of_day(expires_on)
    return budget, tuple(dict.fromkeys(models)) or None, expires_at


def keys_page(ctx: Ctx, *, status: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    org = ctx.org_scope(ctx.query.get("org"))
    records = ctx.console.keys.list(region_code=ctx.console.region.code, org_id=org)
    records = sorted(records, key=lambda r: (r.revoked_at is not None, -r.created_at.timestamp()))
    spend = ctx.console.queries.key_month_spend([r.key_id for r in records], ctx.console.today())
    now = ctx.console.clock()
    rows = [(r, key_status(r, now), spend.get(r.key_id, Decimal(0))) for r in records]
    return ctx.render(
        "keys.html",
        status,
        org=org,
        orgs=ctx.console.queries.orgs() if ctx.user.is_platform_admin else [],
        rows=rows,
        error=error,
        form=form or {},
        models=ctx.console.region.models,
        processing=ctx.console.region.processing(None),
    )


def create_key(ctx: Ctx) -> Response:
    ctx.require_manager("create keys")
    form = ctx.form
    if ctx.user.is_platform_admin:
        org_field = form.get("org")
    else:
        requested = form.get("org").strip()
        if requested and requested != ctx.user.org_id:
            raise HTTPError(404, "No such organisation.")
        org_field = ctx.user.org_id
    try:
        org_id = optional_id(org_field, "Organisation")
        if not org_id:
            raise BadInput("Choose the organisation the key belongs to.")
        team_id = optional_id(form.get("team"), "Team")
        user_id = optional_id(form.get("user"), "User")
        budget, models, expires_at = _key_settings(ctx)
        created = ctx.console.keys.create(
            region_code=ctx.console.region.code,
            org_id=org_id,
            team_id=team_id,
            user_id=user_id,
            monthly_budget_usd=budget,
            model_allowlist=models,
            expires_at=expires_at,
        )
    except (BadInput, GatewayError) as exc:
        # The page again, with the message and what was typed (bounded, escaped by the template).
        refill = {name: form.get(name)[:100] for name in ("org", "team", "user", "budget", "expires")}
        refill["models"] = form.get_all("models")[:100]
        return keys_page(ctx, status=400, error=exc.message, form=refill)
    log.info("key created", extra={"key_id": created.record.key_id, "org_id": org_id, "by": ctx.user.user_id})
    return ctx.render(
        "key_created.html",
        201,
        key=created.key,
        record=created.record,
        processing=ctx.console.region.processing(created.record.model_allowlist),
    )


def _key_limits(ctx: Ctx) -> RateLimits:
    """Requests and tokens per minute and concurrent requests from the settings form (empty: no limit)."""

    def limit(name: str, what: str) -> int | None:
        value = ctx.form.get(name).strip().replace(",", "")
        if not value:
            return None
        if not value.isdigit() or not 1 <= int(value) <= 2**31 - 1:
            raise BadInput(f"{what} must be a whole number from 1 to 2,147,483,647, or empty for no limit.")
        return int(value)

    return RateLimits(
        requests_per_minute=limit("rpm", "Requests per minute"),
        tokens_per_minute=limit("tpm", "Tokens per minute"),
        concurrent_requests=limit("concurrency", "Concurrent requests"),
    )


def key_page(ctx: Ctx) -> Response:
    record = ctx.find_key(ctx.request.path_params["key_id"])
    message = MESSAGES.get(ctx.query.get("done"))
    spend = ctx.console.queries.key_month_spend([record.key_id], ctx.console.today()).get(record.key_id, Decimal(0))
    return ctx.render(
        "key.html",
        record=record,
        status=key_status(record, ctx.console.clock()),
        spend=spend,
        message=message,
        models=ctx.console.region.models,
        limits=ctx.console.keys.limits(record.key_id),
        processing=ctx.console.region.processing(record.model_allowlist),
    )


def key_settings(ctx: Ctx) -> Response:
    ctx.require_manager("change keys")
    record = ctx.find_key(ctx.request.path_params["key_id"])
    if record.revoked_at is not None:
        raise HTTPError(409, "A revoked key cannot be changed.")
    budget, models, expires_at = _key_settings(ctx)
    limits = _key_limits(ctx)
    org = None if ctx.user.is_platform_admin else ctx.user.org_id
    updated = ctx.console.keys.update(  # the gateway's own code path, like create and revoke
        record.key_id,
        region_code=ctx.console.region.code,
        org_id=org,
        monthly_budget_usd=budget,
        model_allowlist=models,
        expires_at=expires_at,
    )
    if not updated or not ctx.console.keys.set_limits(
        record.key_id, region_code=ctx.console.region.code, org_id=org, limits=limits
    ):
        raise HTTPError(409, "The key was revoked meanwhile.")
    return RedirectResponse(f"/keys/{record.key_id}?done=saved", status_code=303)


def revoke_key(ctx: Ctx) -> Response:
    ctx.require_manager("revoke keys")
    record = ctx.find_key(ctx.request.path_params["key_id"])
    if record.revoked_at is None:
        ctx.console.keys.revoke(record.key_id)  # the gateway's own code path
        log.info("key revoked", extra={"key_id": record.key_id, "by": ctx.user.user_id})
    return RedirectResponse(f"/keys/{record.key_id}?done=revoked", status_code=303)


# --- users --------------------------------------------------------------------------------------------------


def users_page(ctx: Ctx, *, status: int = 200, error: str | None = None, form: dict | None = None) -> Response:
    ctx.require_manager("manage accounts")
    org = ctx.org_scope(ctx.query.get("org"))
    users = ctx.console.accounts.list_users(org)
    return ctx.render(
        "users.html",
        status,
        org=org,
        users=users,
        error=error,
        form=form or {},
        message=MESSAGES.get(ctx.query.get("done")),
        org_password_sign_in=ctx.console.hygiene.password_sign_in(org) if org and ctx.user.is_platform_admin else None,
        roles=("org_viewer", "org_admin", "platform_admin")
        if ctx.user.is_platform_admin
        else ("org_viewer", "org_admin"),
        orgs=ctx.console.queries.orgs() if ctx.user.is_platform_admin else [],
    )


def add_user(ctx: Ctx) -> Response:
    ctx.require_manager("manage accounts")
    form = ctx.form
    role = form.get("role")
    if ctx.user.is_platform_admin:
        allowed = ("platform_admin", "org_admin", "org_viewer")
        org_id = optional_id(form.get("org"), "Organisation")
    else:
        allowed = ("org_admin", "org_viewer")
        requested = form.get("org").strip()
        if requested and requested != ctx.user.org_id:
            raise HTTPError(404, "No such organisation.")
        org_id = ctx.user.org_id
    if role not in allowed:
        raise BadInput("Choose a role.")
    if role != "platform_admin" and not org_id:
        raise BadInput("Choose the organisation of the account.")
    try:
        ctx.console.accounts.create_user(
            email=form.get("email"),
            password=form.get("password"),
            role=role,
            org_id=None if role == "platform_admin" else org_id,
            created_by=ctx.user.user_id,
        )
    except AuthError as exc:
        return users_page(
            ctx, status=400, error=str(exc), form={"email": form.get("email")[:254], "role": role, "org": org_id or ""}
        )
    return RedirectResponse("/users?done=user-added", status_code=303)


def disable_user(ctx: Ctx) -> Response:
    ctx.require_manager("manage accounts")
    user_id = ctx.request.path_params["user_id"]
    target = ctx.console.accounts.get_user(user_id) if USER_ID_RE.match(user_id) else None
    if target is None or (not ctx.user.is_platform_admin and target.org_id != ctx.user.org_id):
        raise HTTPError(404, "No such account.")
    if target.user_id == ctx.user.user_id:
        raise HTTPError(409, "You cannot disable your own account.")
    ctx.console.accounts.disable_user(target.user_id)
    return RedirectResponse("/users?done=user-disabled", status_code=303)


# --- the app --------------------------------------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    """Liveness: the process answers (no I/O), so a database outage never gets healthy tasks replaced."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the region's database answers a query."""
    console: Console = request.app.state.console
    try:
        await run_in_threadpool(console.store.ping)
    except Exception as exc:
        log.error("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok"})


def create_app(console: Console) -> Starlette:
    def r(path: str, handler: Callable[[Ctx], Response], methods: tuple[str, ...] = ("GET",), **kw: Any) -> Route:
        return Route(path, page(console, handler, **kw), methods=list(methods))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        text = "No such page." if status == 404 else "That method is not allowed here."
        return _error_page(console, request, None, status, text)

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        r("/login", login_page, signed_in=False),
        r("/login", login_submit, ("POST",), signed_in=False),
        r("/logout", logout, ("POST",)),
        r("/", dashboard),
        r("/requests", requests_page),
        r("/violations", violations_page),
        r("/usage.csv", usage_csv),
        r("/keys", keys_page),
        r("/keys", create_key, ("POST",)),
        r("/keys/{key_id}", key_page),
        r("/keys/{key_id}/settings", key_settings, ("POST",)),
        r("/keys/{key_id}/revoke", revoke_key, ("POST",)),
        r("/users", users_page),
        r("/users", add_user, ("POST",)),
        r("/users/{user_id}/disable", disable_user, ("POST",)),
        # Single sign-on and account hygiene (account_pages).
        r("/login/sso", account_pages.sso_start, signed_in=False),
        r("/login/sso/callback", account_pages.sso_callback, signed_in=False),
        r("/password-reset", account_pages.reset_page, signed_in=False),
        r("/password-reset", account_pages.reset_submit, ("POST",), signed_in=False),
        r("/account", account_pages.account_page),
        r("/account/password", account_pages.change_password, ("POST",)),
        r("/users/{user_id}/reset", account_pages.reset_user, ("POST",)),
        r("/org-settings", account_pages.org_settings, ("POST",)),
        # Orgs' own provider keys (credentials_pages).
        *credentials_pages.routes(r),
        # Team budgets (budget_pages; shown on the dashboard).
        *budget_pages.routes(r),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.console = console
    return SecurityHeaders(app)  # type: ignore[return-value]
