"""Dashboard pages: thin handlers that read a view, check who is asking, and render."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, available_timezones

import anyio
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from pydantic import ValidationError
from starlette.staticfiles import StaticFiles

from shiplane import clock
from shiplane.auth import limits
from shiplane.auth import service as auth_service
from shiplane.context import AppContext, get_context
from shiplane.deploys import service as deploys_service
from shiplane.dora import explain as dora_explain
from shiplane.dora import metrics as dora_metrics
from shiplane.dora import routes as dora_routes
from shiplane.dora import service as dora_service
from shiplane.dora.metrics import BANDS, bucket_starts
from shiplane.enforcement import sync
from shiplane.errors import DomainError, UnknownEnvironment
from shiplane.health import service as health_service
from shiplane.locks import service as locks_service
from shiplane.locks.schemas import LockIn
from shiplane.schemas import in_range
from shiplane.web import live, matrix, plan, sessions, views
from shiplane.web import overview as overview_view
from shiplane.web.links import Links
from shiplane.web.render import render

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=HERE / "static")
KEEPALIVE = 15.0  # seconds between SSE comments, so proxies keep the stream open
MAX_ID = 2**31 - 1  # ids are 32-bit on both engines; a larger one names nothing (404 would need a query)
SESSION_RECHECK = 5.0  # seconds: a live stream ends this soon after its session does


class LoginRequired(Exception):
    pass


# ---------------------------------------------------------------- who is asking


async def _session(request: Request) -> sessions.Session | None:
    value = request.cookies.get(sessions.COOKIE)
    if not value or len(value) > 200:
        return None
    ctx = get_context(request)
    return await ctx.db.run_read(sessions.lookup, value, clock.now())


async def viewer(request: Request) -> sessions.Session | None:
    """The logged-in session; None for anonymous viewing when the dashboard is public."""
    session = await _session(request)
    if session is None and not get_context(request).settings.config.server.public_dashboard:
        raise LoginRequired()
    return session


def _can_act(session: sessions.Session | None) -> bool:
    return session is not None and session.principal.has("deployer")


async def _acting(request: Request) -> tuple[AppContext, sessions.Session, dict[str, Any]]:
    """A deployer's form post with a valid CSRF token, or a DomainError."""
    session = await _session(request)
    if session is None:
        raise LoginRequired()
    form = dict(await request.form())
    if not sessions.csrf_ok(session, str(form.get("csrf") or "")):
        raise _Refused(403, "The form expired or did not come from this dashboard. Reload the page and try again.")
    if not session.principal.has("deployer"):
        raise _Refused(403, f"This needs the deployer role; you are a {session.principal.role}.")
    return get_context(request), session, {k: str(v) for k, v in form.items()}


class _Refused(Exception):
    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.fields = fields or {}


def _page(request: Request, template: str, session: sessions.Session | None, status: int = 200, **data: Any) -> HTMLResponse:
    ctx = get_context(request)
    body = render(
        template,
        request=request,
        user=session.principal if session else None,
        csrf=session.csrf if session else "",
        can_act=_can_act(session),
        now=clock.now(),
        public_url=ctx.settings.config.server.public_url,
        **data,
    )
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


# No framing (clickjacking on the lock form), no sniffing, and scripts only from us.
_SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


def _safe_next(value: str | None) -> str:
    # Only same-site paths: never let ?next= send someone to another host after login.
    if not value or not value.startswith("/") or value.startswith("//") or urlsplit(value).netloc:
        return "/"
    return value


# ---------------------------------------------------------------- login


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, 200, next=_safe_next(next), error=None, session=await _session(request))


def _login_page(request: Request, status: int, *, session: sessions.Session | None = None, **data: Any) -> HTMLResponse:
    """The login form, with a fresh CSRF token in the form and in a cookie (double submit)."""
    token = secrets.token_urlsafe(24)
    auth = get_context(request).settings.config.auth
    response = _page(request, "login.html", session, status, login_csrf=token, local_login=auth.local_login,
                     sso_name=auth.oidc.name if auth.oidc else None, **data)
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/login")
    return response


# argon2 takes tens of milliseconds and 64 MiB a check: in threads, two at a time.
_PASSWORD_CHECKS = anyio.CapacityLimiter(2)


@router.post("/login")
async def login(request: Request) -> Response:
    ctx = get_context(request)
    form = await request.form()
    username = str(form.get("username") or "")[:150]
    password = str(form.get("password") or "")[:1000]
    target = _safe_next(str(form.get("next") or "/"))
    if not sessions.login_csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), str(form.get("csrf") or "")):
        return _login_page(request, 403, next=target, username=username,
                           error="The form expired or did not come from this dashboard. Try again.")
    if not ctx.settings.config.auth.local_login:
        return _login_page(request, 403, next=target, username=username,
                           error="Local passwords are turned off here: sign in with single sign-on.")
    now = clock.now()
    client = request.client.host if request.client else "?"  # X-Forwarded-For only from [server] trusted_proxies
    keys = limits.keys(username, client)
    limiter = _limiter(request)
    wait = await ctx.db.run_read(limiter.retry_after, keys, now)
    if wait > 0:
        response = _login_page(request, 429, next=target, username=username,
                               error=f"Too many failed attempts. Try again in {int(wait) + 1} seconds.")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    principal = None
    if username and password:
        credentials = await ctx.db.run_read(auth_service.user_credentials, username)
        principal = await anyio.to_thread.run_sync(
            auth_service.verify_password, credentials, username, password, limiter=_PASSWORD_CHECKS
        )
    if principal is None:
        await ctx.db.run_write(limiter.failed, keys, now)
        return _login_page(request, 401, next=target, username=username, error="Wrong username or password.")
    value = await ctx.db.run_write(_start_session, limiter, keys, principal, now)
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/login")
    response.set_cookie(
        sessions.COOKIE, value, max_age=int(sessions.LIFETIME.total_seconds()), httponly=True, samesite="lax",
        secure=ctx.settings.config.server.public_url.startswith("https://"), path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = get_context(request)
    session = await _session(request)
    form = await request.form()
    if session is not None and sessions.csrf_ok(session, str(form.get("csrf") or "")):
        await ctx.db.run_write(sessions.end, request.cookies[sessions.COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


# ---------------------------------------------------------------- pages


@router.get("/")
async def overview(
    request: Request, environment: str | None = None, partial: str | None = None,
    ask_service: str | None = None, ask_environment: str | None = None,
) -> Response:
    session = await viewer(request)
    ctx = get_context(request)
    if environment is not None and len(environment) > 64:
        environment = None
    now = clock.now()
    order = [s.slug for s in ctx.settings.config.services]
    lanes = await ctx.db.run_read(overview_view.overview, ctx.schedule, now, config_order=order, environment=environment)
    merging = await ctx.db.run_read(sync.progress, ctx.enforcement.targets) if ctx.enforcement and ctx.enforcement.targets else []
    if partial == "lanes":
        return _page(request, "_lanes.html", session, lanes=lanes, only=environment, merging=merging)
    catalog = await ctx.db.run_read(views.catalog)
    answer = None
    if ask_service in catalog["services"] and ask_environment in catalog["environments"]:
        answer = await ctx.db.run_read(overview_view.ask, ctx.schedule, now, ask_environment, ask_service)
    return _page(request, "overview.html", session, lanes=lanes, only=environment, merging=merging, catalog=catalog,
                 answer=answer, ask_service=ask_service, ask_environment=ask_environment)


@router.get("/deploys/{deploy_id}")
async def deploy_detail(request: Request, deploy_id: str) -> Response:
    session = await viewer(request)
    ctx = get_context(request)
    if not deploy_id.isdigit() or not 0 < int(deploy_id) < 2**31:
        return _page(request, "error.html", session, 404, title="No such deploy", message=f"There is no deploy {deploy_id[:40]!r}.")
    try:
        deploy = await ctx.db.run_read(views.deploy_page, int(deploy_id), clock.now())
    except DomainError:
        return _page(request, "error.html", session, 404, title="No such deploy", message=f"There is no deploy #{deploy_id}.")
    configs = {m.name: m for m in ctx.settings.config.metrics}
    charts = {
        name: {k: Markup(v) if k != "sentence" else v for k, v in chart.items()}
        for name, chart in views.impact_charts(deploy, configs, _viewer_zone(request)).items()
    }
    links = Links(ctx.settings.config, deploy["service"])
    return _page(request, "deploy.html", session, deploy=deploy, charts=charts, links=links)


@router.get("/services")
async def services_page(request: Request, q: str = "", drift: str = "") -> Response:
    session = await viewer(request)
    ctx = get_context(request)
    q = q.strip()[:64]
    order = [s.slug for s in ctx.settings.config.services]
    data = await ctx.db.run_read(matrix.services_matrix, clock.now(), config_order=order, query=q)
    if drift:
        data["rows"] = [r for r in data["rows"] if r.drift]
    return _page(request, "services.html", session, q=q, drift=bool(drift), **data)


@router.get("/deploys")
async def deploys_page(
    request: Request, service: str = "", environment: str = "", cursor: str = ""
) -> Response:
    session = await viewer(request)
    ctx = get_context(request)
    catalog = await ctx.db.run_read(views.catalog)
    service = service if service in catalog["services"] else ""
    environment = environment if environment in catalog["environments"] else ""
    try:
        page = await ctx.db.run_read(
            deploys_service.list_deploys, service=service or None, environment=environment or None, limit=50,
            cursor=cursor[:200] or None,
        )
    except DomainError:
        page = await ctx.db.run_read(deploys_service.list_deploys, service=service or None, environment=environment or None, limit=50)
    return _page(request, "deploys.html", session, page=page, service=service, environment=environment, catalog=catalog,
                 first_page=not cursor)


@router.post("/deploys/{deploy_id}/health")
async def deploy_verdict(request: Request, deploy_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    ctx, session, form = await _acting(request)
    state = form.get("state", "")
    if state not in ("healthy", "unhealthy"):
        raise _Refused(422, "state: choose healthy or unhealthy")
    note = form.get("note", "").strip()[:1000]
    try:
        await ctx.db.run_write(
            health_service.manual_verdict, deploy_id, state, note, actor=session.principal.name, now=clock.now()
        )
    except DomainError as exc:
        raise _Refused(exc.status_code, str(exc)) from None
    ctx.gate_may_have_changed()
    return RedirectResponse(f"/deploys/{deploy_id}", status_code=303)


@router.get("/locks")
async def locks_page(request: Request, created: str | None = None) -> Response:
    session = await viewer(request)
    ctx = get_context(request)
    data = await ctx.db.run_read(plan.locks_page, clock.now(), ctx.schedule)
    made = [*data["active"], *data["scheduled"]]
    done = next((lk for lk in made if str(lk["id"]) == created), None) if created else None
    return _page(request, "locks.html", session, error=None, errors={}, form={}, created=done, **data)


# What people read next to a field, instead of a validator's wording.
_FRIENDLY = {
    "reason": "Write a reason: everyone the lock stops will read it (up to 1,000 characters).",
    "environment": "Choose the environment to lock.",
    "service": "Choose a service, or all services.",
    "starts_at": "Choose a start in the future, or leave it empty to lock now.",
    "expires_at": "Choose a time in the future (after the start, if there is one), or leave it empty to lock until someone unlocks.",
}


@router.post("/locks")
async def lock(request: Request) -> Response:
    ctx, session, form = await _acting(request)
    now = clock.now()
    try:
        # The API's own body model and lock rules: blank reason, past expiry, unknown
        # environment and a second lock are refused here exactly as over HTTP.
        body = _lock_body(form, ctx.schedule.timezone(form.get("environment", "").strip()))
        created = await ctx.db.run_write(
            locks_service.create, environment=body.environment, service=body.service, reason=body.reason,
            actor=session.principal.name, now=now, expires_at=body.expires_at, starts_at=body.starts_at,
            auto_create=False, cache=ctx.catalog,
        )
    except (_Refused, DomainError) as exc:
        if isinstance(exc, _Refused):
            status, message, fields = exc.status, exc.message, exc.fields
        else:
            status, message, fields = exc.status_code, str(exc), dict(exc.extra.get("fields") or {})
            if exc.status_code == 404:  # an environment or service that is not there: say which
                fields |= {k: f"There is no {k} {exc.extra[k]!r}." for k in ("environment", "service") if k in exc.extra}
        errors = {f: _FRIENDLY.get(f, reason) if status == 422 else reason for f, reason in fields.items()}
        data = await ctx.db.run_read(plan.locks_page, now, ctx.schedule)
        general = None if errors else message
        return _page(request, "locks.html", session, status, error=general, errors=errors, form=form, created=None, **data)
    ctx.gate_may_have_changed()
    return RedirectResponse(f"/locks?created={created['id']}", status_code=303)


@router.get("/locks/{lock_id}/unlock")
async def unlock_confirm(request: Request, lock_id: str, next: str | None = None) -> Response:
    """The confirmation step before a lock ends: what it is, and a note for the record."""
    session = await viewer(request)
    ctx = get_context(request)
    if not lock_id.isdigit() or not 0 < int(lock_id) <= MAX_ID:
        return _page(request, "error.html", session, 404, title="No such lock", message=f"There is no lock {lock_id[:40]!r}.")
    now = clock.now()
    try:
        row = await ctx.db.run_read(locks_service.get_row, int(lock_id))
    except DomainError:
        return _page(request, "error.html", session, 404, title="No such lock", message=f"There is no lock #{lock_id}.")
    return _page(request, "unlock.html", session, lk=locks_service.to_dict(row, now), next=_safe_next(next or "/locks"))


@router.post("/locks/{lock_id}/edit")
async def edit_lock(request: Request, lock_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    """A scheduled lock's reason, start and end, from the locks page (times in the environment's zone)."""
    ctx, session, form = await _acting(request)
    try:
        row = await ctx.db.run_read(locks_service.get_row, lock_id)
        zone = ctx.schedule.timezone(row.environment_slug)
        edits: dict[str, Any] = {"reason": form.get("reason", "")}
        if form.get("starts_at", "").strip():
            edits["starts_at"] = _parse_wall(form, "starts_at", zone)
        edits["expires_at"] = _parse_wall(form, "expires_at", zone)  # empty: no end
        await ctx.db.run_write(locks_service.update_lock, lock_id, actor=session.principal.name, now=clock.now(), **edits)
    except (_Refused, DomainError) as exc:
        message = exc.message if isinstance(exc, _Refused) else str(exc)
        status = exc.status if isinstance(exc, _Refused) else exc.status_code
        data = await ctx.db.run_read(plan.locks_page, clock.now(), ctx.schedule)
        return _page(request, "locks.html", session, status, error=message, errors={}, form={}, created=None, **data)
    ctx.gate_may_have_changed()
    return RedirectResponse("/locks", status_code=303)


@router.post("/locks/{lock_id}/end")
async def unlock(request: Request, lock_id: Annotated[int, PathParam(ge=1, le=MAX_ID)]) -> Response:
    ctx, session, form = await _acting(request)
    note = form.get("note", "").strip()[:1000] or None
    try:
        await ctx.db.run_write(locks_service.end, lock_id, actor=session.principal.name, note=note, now=clock.now())
    except DomainError as exc:
        data = await ctx.db.run_read(plan.locks_page, clock.now(), ctx.schedule)
        return _page(request, "locks.html", session, exc.status_code, error=str(exc), errors={}, form={}, created=None, **data)
    ctx.gate_may_have_changed()
    return RedirectResponse(_safe_next(form.get("next")) if form.get("next") else "/locks", status_code=303)


@router.get("/dora")
async def dora_page(
    request: Request, service: str | None = None, environment: str | None = None, days: str = "90", bucket: str = "week"
) -> Response:
    session = await viewer(request)
    ctx = get_context(request)
    span = int(days) if days.isdigit() and 1 <= int(days) <= 365 else 90
    bucket = bucket if bucket in ("day", "week", "month") else "week"
    catalog = await ctx.db.run_read(views.catalog)
    service = service if service in catalog["services"] else None
    environment = environment if environment in catalog["environments"] else None
    until = clock.now()
    config = ctx.settings.config.dora
    report = None
    error = None
    try:
        report = await ctx.db.run_long_read(
            dora_service.report, since=until - timedelta(days=span), until=until, service=service, bucket=bucket,
            environment=environment,
            tz=config.timezone, failure_states=dora_metrics.failure_rule(config.failure, config.failure_states),
        )
    except UnknownEnvironment:
        error = None  # nothing deployed there yet: the neutral empty state, not an error
    except DomainError as exc:
        error = str(exc)
    trends = {k: Markup(v) for k, v in views.trend_charts(report, bucket=bucket, tz=config.timezone).items()} if report else {}
    # The last bucket is partial when the range ends inside it (always so for a range up to now).
    partial = bool(report and report["series"]) and bucket_starts(until, until + timedelta(seconds=1), bucket, config.timezone)[0] != until
    partial_day = views.bucket_day(report["series"][-1]["start"], config.timezone) if partial and report else None
    return _page(request, "dora.html", session, report=report, error=error, service=service, days=span, trends=trends,
                 bucket=bucket, catalog=catalog, bands=BANDS, environment=environment, partial=partial,
                 partial_day=partial_day, failure=config.failure)


@router.get("/dora/deploys")
async def dora_deploys_page(
    request: Request,
    metric: str = "deploys",
    environment: str | None = None,
    service: str | None = None,
    since: str | None = None,
    until: str | None = None,
    cursor: str | None = None,
) -> Response:
    """The deploys behind one figure of /dora, newest first, each with why it counts."""
    session = await viewer(request)
    ctx = get_context(request)
    metric = metric if metric in dora_explain.METRICS else "deploys"
    catalog = await ctx.db.run_read(views.catalog)
    environment = environment if environment in catalog["environments"] else None
    service = service if service in catalog["services"] else None
    config = ctx.settings.config.dora
    listing, error = None, None
    try:
        start, end = dora_routes.default_range(
            dora_routes.instant(since or None, "since"), dora_routes.instant(until or None, "until"), clock.now()
        )
        listing = await ctx.db.run_long_read(
            dora_explain.deploys_behind, metric=metric, since=start, until=end, environment=environment, service=service,
            tz=config.timezone, failure_states=dora_metrics.failure_rule(config.failure, config.failure_states), limit=50, cursor=cursor or None,
        )
    except DomainError as exc:
        error = str(exc)
    query = {k: v for k, v in {"metric": metric, "environment": environment, "service": service, "since": since,
                               "until": until}.items() if v}
    return _page(request, "dora_deploys.html", session, listing=listing, error=error, metric=metric, query=query,
                 title=DRILL_TITLES[metric])


DRILL_TITLES = {
    "deploys": "Deploys counted",
    "failed": "Failed deploys",
    "lead_time": "Deploys that first shipped commits",
    "recovery": "Failures and their recovery",
    "rework": "Rework: rollbacks and fix-forwards",
}


@router.get("/live")
async def live_updates(request: Request) -> Response:
    session = await viewer(request)
    bus = live.attach(get_context(request).db)
    queue = bus.subscribe()

    async def still_logged_in() -> bool:
        # A stream opened before logout must not outlive the session (or its expiry).
        return session is None or await _session(request) is not None

    async def stream():
        checked = clock.monotonic()
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    kind = await asyncio.wait_for(queue.get(), min(KEEPALIVE, SESSION_RECHECK))
                except TimeoutError:
                    kind = None
                if clock.monotonic() - checked >= SESSION_RECHECK:
                    checked = clock.monotonic()
                    if not await still_logged_in():
                        yield "event: logout\ndata: session ended\n\n"
                        return
                if kind is None:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                yield f"event: changed\ndata: {kind}\n\n"
        finally:
            bus.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# ---------------------------------------------------------------- helpers


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _viewer_zone(request: Request) -> tzinfo:
    """The zone the viewer's browser reported (the ``tz`` cookie live.js sets); UTC until it has."""
    name = request.cookies.get("tz", "")
    return ZoneInfo(name) if len(name) <= 64 and name in _zones() else UTC


def _limiter(request: Request) -> limits.LoginLimiter:
    state = request.app.state
    if getattr(state, "login_limiter", None) is None:
        state.login_limiter = limits.LoginLimiter()
    return state.login_limiter


def _start_session(conn: Any, limiter: limits.LoginLimiter, keys: tuple[limits.Key, ...], principal: Any, now: datetime) -> str:
    limiter.succeeded(conn, keys)
    value, _ = sessions.start(conn, principal, now)
    return value


def _lock_body(form: dict[str, str], zone: str) -> LockIn:
    """The form's start and end are wall-clock times in the environment's ``timezone`` (the form says which)."""
    try:
        return LockIn(
            environment=form.get("environment", "").strip(),
            service=form.get("service", "").strip() or None,
            reason=form.get("reason", ""),
            starts_at=_parse_wall(form, "starts_at", zone),
            expires_at=_parse_wall(form, "expires_at", zone),
        )
    except ValidationError as exc:
        fields = {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}
        first = next(iter(fields.items()))
        raise _Refused(422, f"{first[0]}: {first[1]}", fields) from None


def _parse_wall(form: dict[str, str], field: str, zone: str) -> datetime | None:
    """A ``datetime-local`` value, read in the environment's zone."""
    value = form.get(field, "").strip()
    if not value:
        return None
    try:
        return in_range(plan.wall_time(value, zone))
    except (ValueError, OverflowError) as exc:
        raise _Refused(422, f"{field}: not a date and time we can use: {value[:40]!r} ({exc})",
                       {field: "not a date and time we can use"}) from None


async def login_required_handler(request: Request, exc: LoginRequired) -> Response:
    if request.method == "GET" and request.url.path != "/live":
        return RedirectResponse(f"/login?next={quote(request.url.path + ('?' + request.url.query if request.url.query else ''))}", status_code=303)
    return HTMLResponse("Log in first.", status_code=401)


async def refused_handler(request: Request, exc: _Refused) -> Response:
    session = await _session(request)
    return _page(request, "error.html", session, exc.status, title="Not done", message=exc.message)


EXCEPTION_HANDLERS = {LoginRequired: login_required_handler, _Refused: refused_handler}
