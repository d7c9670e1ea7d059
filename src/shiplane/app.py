"""The ASGI application: routers, error mapping, lifespan."""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from shiplane import __version__, clock
from shiplane import migrate as migrations
from shiplane.auth import service as auth_service
from shiplane.auth.cache import TokenCache
from shiplane.catalog import service as catalog_service
from shiplane.catalog.service import Cache as CatalogCache
from shiplane.changes.service import ChangeTracker
from shiplane.compat import sleuth
from shiplane.context import AppContext
from shiplane.db import Database
from shiplane.deploys.routes import router as deploys_router
from shiplane.dora import metrics as dora_metrics
from shiplane.dora import refresh as dora_refresh
from shiplane.dora import service as dora
from shiplane.dora.routes import router as dora_router
from shiplane.enforcement.forges.registry import FORGES
from shiplane.enforcement.routes import hook_for
from shiplane.enforcement.runtime import Enforcement
from shiplane.errors import DomainError
from shiplane.events import service as events_service
from shiplane.events.routes import router as events_router
from shiplane.health.checks import HttpChecker
from shiplane.health.incidents import routes as incident_hooks
from shiplane.health.incidents.registry import HOOKS as INCIDENT_HOOKS
from shiplane.health.lifecycle import ROLLBACK_JOB, HealthJudge
from shiplane.health.routes import router as health_router
from shiplane.jobs import queue
from shiplane.jobs.worker import DonePruner, Worker
from shiplane.locks import watch
from shiplane.locks.cache import GateCache
from shiplane.locks.calendar import compile_schedule
from shiplane.locks.routes import GATE_OPENAPI, calendar_router, gate_asgi
from shiplane.locks.routes import router as locks_router
from shiplane.locks.scheduler import GateScheduler
from shiplane.middleware import (
    BodyLimitMiddleware,
    BodyTooLarge,
    MetricsMiddleware,
    headers_too_large,
    observe,
    redact_access_log,
    refuse_large_headers,
)
from shiplane.notify import slack_commands
from shiplane.notify.relay import Notifier
from shiplane.settings import Settings
from shiplane.web import live, sso
from shiplane.web import routes as web_routes

log = logging.getLogger("shiplane")


class OutdatedSchema(RuntimeError):
    pass


def ensure_schema(db: Database, *, migrate: bool = False) -> None:
    """Bring the schema up to date (SQLite, or when asked) or refuse to run on an old one."""

    if db.is_sqlite or migrate:
        migrations.upgrade(db.engine)
    elif not migrations.is_current(db.engine):
        raise OutdatedSchema(
            "the database schema is not up to date: run 'shiplane db upgrade' (or start with --migrate)"
        )


def prepare_database(db: Database, settings: Settings, *, migrate: bool = False) -> None:
    """What a starting server or worker does: schema, bootstrap token, config sync, a fresh look at every gate."""

    ensure_schema(db, migrate=migrate)
    now = clock.now()
    with db.write() as conn:
        if settings.bootstrap_token:
            auth_service.ensure_bootstrap_token(conn, settings.bootstrap_token.get_secret_value(), now)
        catalog_service.sync_config(conn, settings.config, now)
        watch.watch_configured_scopes(conn, settings.config, now)
        # The schedule may have changed while we were down: look at every gate again.
        watch.mark_all_due(conn, now)
        events_service.record(
            conn,
            "config_loaded",
            now,
            actor="system",
            data={
                "path": settings.config_path,
                "services": len(settings.config.services),
                "environments": len(settings.config.environments),
            },
        )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        if len(parts) == 1 or (parts[0] == "body" and len(parts) == 2 and parts[1].isdigit()):
            return "body"
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            fields["body"] = f"invalid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"
            continue
        name = _field_name(loc)
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        fields.setdefault(name, msg)
    detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return {"error": "validation_error", "detail": detail, "fields": fields}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_body(exc), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never expected: every bad input is a 4xx. Logged loudly, answered without internals.
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse({"error": "internal_error", "detail": "unexpected server error"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_ERROR:
            # FastAPI's answer to a body it could not decode (not UTF-8, for one): a validation error.
            cause = exc.__cause__
            if isinstance(cause, BodyTooLarge):
                return JSONResponse(cause.body(), status_code=413)
            reason = "not UTF-8" if isinstance(cause, UnicodeDecodeError) else "cannot be read"
            fields = {"body": f"the request body {reason}"}
            return JSONResponse(
                {"error": "validation_error", "detail": f"body: {fields['body']}", "fields": fields}, status_code=422
            )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the first route it matched; there may be one per method.
            headers = {"Allow": ", ".join(allowed_methods(request.app, request.scope))}
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return JSONResponse(
            {"error": codes.get(exc.status_code, "http_error"), "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=headers,
        )


_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def allowed_methods(app: Any, scope: Any) -> list[str]:
    """Every method some route answers at this path, in the order HTTP lists them."""
    if scope["path"] == "/api/v1/gate":
        return ["GET", "HEAD"]
    return [
        method
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches(dict(scope, method=method))[0] == Match.FULL for route in app.router.routes)
    ]


_API_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shiplane API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script></body></html>"""
# Swagger UI sets inline styles; everything else comes from this origin, and nothing may frame it.
_API_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


async def api_docs(_: Request) -> HTMLResponse:
    """Swagger UI for /openapi.json, from the bundled copy (swagger-ui-bundle), under its own CSP."""
    return HTMLResponse(_API_DOCS, headers={"Content-Security-Policy": _API_DOCS_CSP, "X-Content-Type-Options": "nosniff"})


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


JOBS_PENDING = Gauge("shiplane_jobs_pending", "Durable jobs waiting to be delivered")
JOBS_DEAD = Gauge("shiplane_jobs_dead", "Durable jobs that gave up (see `shiplane jobs dead`)")
DORA_GAUGES = {
    "deploys_per_day": Gauge("shiplane_dora_deploys_per_day", "Deploy frequency, production, last 30 days"),
    "lead_time_median_seconds": Gauge("shiplane_dora_lead_time_median_seconds", "Median lead time for changes, last 30 days"),
    "change_failure_rate": Gauge("shiplane_dora_change_failure_rate", "Change failure rate, last 30 days"),
    "recovery_time_median_seconds": Gauge(
        "shiplane_dora_recovery_time_median_seconds", "Median failed deployment recovery time, last 30 days"
    ),
}
SQLITE_SWITCH_INTERVAL = 0.0002  # seconds; see lifespan
_GAUGE_TTL = 60.0  # seconds: scrapes come every 15-60 s; DORA over 30 days need not be fresher


def _gauge_values(conn: Any, settings: Settings) -> dict[str, float | None]:

    since, until = dora.window(clock.now())
    try:
        report = dora.report(
            conn,
            since=since,
            until=until,
            tz=settings.config.dora.timezone,
            failure_states=dora_metrics.failure_rule(settings.config.dora.failure, settings.config.dora.failure_states),
        )
    except DomainError:  # no production environment yet
        report = None
    values: dict[str, float | None] = {"jobs": queue.depth(conn), "jobs_dead": queue.dead_count(conn)}
    if report:
        values |= {
            "deploys_per_day": report["deploy_frequency"]["per_day"],
            "lead_time_median_seconds": report["lead_time"]["median_seconds"],
            "change_failure_rate": report["change_failure_rate"]["rate"],
            "recovery_time_median_seconds": report["recovery_time"]["median_seconds"],
        }
    return values


async def metrics(request: Request) -> PlainTextResponse:
    ctx = request.app.state.ctx
    cached = getattr(ctx, "_gauges", None)
    if cached is None or cached[0] < time.monotonic():
        values = await ctx.db.run_long_read(_gauge_values, ctx.settings)
        ctx._gauges = (time.monotonic() + _GAUGE_TTL, values)
        JOBS_PENDING.set(values["jobs"])
        JOBS_DEAD.set(values["jobs_dead"])
        for key, gauge in DORA_GAUGES.items():
            gauge.set(values.get(key) if values.get(key) is not None else float("nan"))
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class ShiplaneApp(FastAPI):
    """FastAPI, with the gate answered before routing and middleware.

    ``GET /api/v1/gate`` is the hottest route (every pipeline, every merge
    check); FastAPI's middleware and router cost more than the whole answer.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["path"].startswith("//"):
            # A client base URL with a trailing slash (the sleuth CLI's "https://host/") asks
            # for //graphql or //api/1/...: serve it like the single-slash path (SPEC 8.5).
            raw = scope.get("raw_path") or scope["path"].encode()
            scope = dict(scope, path="/" + scope["path"].lstrip("/"), raw_path=b"/" + raw.lstrip(b"/"))
        started = time.perf_counter()
        if headers_too_large(scope):
            await refuse_large_headers(send)
            observe(scope, "unmatched", 431, time.perf_counter() - started)
            return
        if scope["path"] == "/api/v1/gate":
            if scope["method"] in ("GET", "HEAD"):
                status = await gate_asgi(self.state.ctx, scope, receive, send)
            else:
                status = 405
                allow = ", ".join(allowed_methods(self, scope))
                await JSONResponse(
                    {"error": "method_not_allowed", "detail": "Method Not Allowed"}, status_code=405, headers={"Allow": allow}
                )(scope, receive, send)
            observe(scope, "/api/v1/gate", status, time.perf_counter() - started)
            return
        try:
            await super().__call__(scope, receive, send)
        except Exception:  # noqa: BLE001
            # Starlette has answered 500 (the `unexpected` handler logged it) and re-raises
            # for the server's sake; uvicorn would then drop the connection, and a client's
            # next request on it would get no answer at all. Every request gets an answer.
            return


def new_context(settings: Settings, db: Database) -> AppContext:
    """A process's context with empty caches and its compiled schedule."""
    return AppContext(
        settings=settings,
        db=db,
        catalog=CatalogCache(),
        tokens=TokenCache(),
        gates=GateCache(),
        schedule=compile_schedule(settings.config),
    )


def make_worker(ctx: AppContext) -> Any:
    """The worker for this process, wired to everything that reacts to gates and delivers jobs."""

    enforcement = ctx.enforcement
    live.attach(ctx.db)  # a worker-only process announces its events to dashboards too
    health = HealthJudge(ctx.settings.config, ctx.db, transport=ctx.source_transport)
    checker = HttpChecker(ctx.settings.config, ctx.db, transport=ctx.source_transport)
    notifier = Notifier(ctx.settings, ctx.db, transport=ctx.source_transport)
    with ctx.db.write() as conn:
        enforcement.reconcile_all(conn, clock.now())
    gates = GateScheduler(ctx.db, ctx.schedule, reactions=(enforcement.reaction,), on_change=ctx.gates.clear)
    return Worker(
        ctx.settings,
        ctx.db,
        timed=(gates,),
        handlers=enforcement.handlers() | {ROLLBACK_JOB: health.call_rollback} | notifier.handlers(),
        pacers=enforcement.pacers,
        first=enforcement.first_kinds(),
        periodic=(
            ChangeTracker(ctx.settings.config, ctx.db).tick,
            health.tick,
            checker.tick,
            notifier.tick,
            DonePruner(ctx.db).tick,  # delivered jobs older than a week
            # fold written deploys into the DORA day roll-ups (at most every 60 s)
            dora_refresh.refresher(
                ctx.db,
                ctx.settings.config.dora.timezone,
                dora_metrics.failure_rule(ctx.settings.config.dora.failure, ctx.settings.config.dora.failure_states),
            ).tick,
        ),
    )


# Event kinds after which another process's cached gate answers may be wrong ("reconnect": the
# LISTEN connection was lost, so changes may have been missed).
GATE_EVENTS = ("lock_", "gate_", "window_", "reconnect")


async def _follow_gate_changes(ctx: AppContext, bus: live.Bus) -> None:
    """With several processes on PostgreSQL, a lock or gate change made by any of them clears this
    process's cached gate answers as soon as its NOTIFY arrives (tens of milliseconds), rather than
    when the cache's one-second lifetime runs out."""
    queue = bus.subscribe()
    try:
        while True:
            if (await queue.get()).startswith(GATE_EVENTS):
                ctx.gates.clear()
    finally:
        bus.unsubscribe(queue)


def create_app(
    settings: Settings,
    *,
    migrate: bool = False,
    db: Database | None = None,
    worker: bool = True,
    prepared: bool = False,
    forge_transport: httpx.AsyncBaseTransport | None = None,
    source_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:

    db = db or Database(settings.database_url)
    redact_access_log()  # ?token= on calendar.ics never reaches the access log
    ctx = new_context(settings, db)
    ctx.enforcement = Enforcement(settings, db, ctx.schedule, transport=forge_transport)
    ctx.source_transport = source_transport
    bus = live.attach(db)  # dashboards' live updates

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not prepared:
            prepare_database(db, settings, migrate=migrate)
        # Everything loaded at start lives as long as the process: keep it out
        # of the garbage collector's full passes (they cost ~80 ms here).
        gc.collect()
        gc.freeze()
        if db.is_sqlite:
            # Requests run on the event loop thread (see db.py); background
            # threads (DORA refresh plans, long reports) are CPU-bound Python.
            # Each SQLite call releases the GIL, and with the default 5 ms switch
            # interval the loop waited up to 5 ms to get it back, several times a
            # request: p99 of registrations 134 ms -> 36 ms under sustained load
            # (docs/performance.md). On PostgreSQL requests hop to threads anyway
            # and a shorter interval only cost throughput there.
            sys.setswitchinterval(SQLITE_SWITCH_INTERVAL)
        async with anyio.create_task_group() as tg:
            if app.state.sso is not None:
                tg.start_soon(sso.discover_at_start, app.state.sso)
            if not db.is_sqlite:
                tg.start_soon(_follow_gate_changes, ctx, bus)
            if worker:
                ctx.worker = make_worker(ctx)
                tg.start_soon(ctx.worker.run_forever)
            yield
            tg.cancel_scope.cancel()
        await ctx.enforcement.close()
        await bus.close()

    app = ShiplaneApp(
        title="Shiplane",
        version=__version__,
        description="Deployment mission control: track deploys, lock them, judge their impact.",
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN; ours serves a bundled copy.
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.sso = sso.provider_for(ctx)
    _install_error_handlers(app)
    app.router.routes.append(Route("/healthz", healthz, methods=["GET"], include_in_schema=False))
    app.router.routes.append(Route("/docs", api_docs, methods=["GET"], include_in_schema=False))
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="api-docs-assets")
    app.router.routes.append(Route("/metrics", metrics, methods=["GET"], include_in_schema=False))
    app.include_router(deploys_router)
    app.include_router(locks_router)
    app.include_router(calendar_router)
    app.include_router(events_router)
    app.include_router(dora_router)
    app.include_router(health_router)
    app.include_router(sleuth.router)
    app.include_router(slack_commands.router)
    app.include_router(web_routes.router)
    app.include_router(sso.router)
    app.mount("/static", web_routes.static, name="static")
    for exc_class, handler in web_routes.EXCEPTION_HANDLERS.items():
        app.add_exception_handler(exc_class, handler)
    for forge in FORGES:
        app.add_api_route(
            f"/hooks/{forge}", hook_for(forge), methods=["POST"], tags=["webhooks"], summary=f"{forge} webhook (signed)"
        )
    for name in INCIDENT_HOOKS:
        app.add_api_route(
            f"/hooks/{name}", incident_hooks.hook_for(name), methods=["POST"], tags=["webhooks"],
            summary=f"{name} incident webhook (authenticated)",
        )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(MetricsMiddleware)
    _document_auth(app)
    return app


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. `deploy_in_progress`"},
        "detail": {"type": "string", "description": "human-readable explanation"},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "for validation errors: offending field → reason",
        },
    },
    "additionalProperties": True,
}


# Statuses a route answers besides its success, 401/403/413/422/431/503 (added to all of /api/v1).
ROUTE_STATUSES: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/api/v1/deploys"): {
        "200": "An exact repeat of the latest deploy, or the end of the deploy it started: nothing new written",
        "404": "Unknown service or environment ([server] auto_create off)",
        "409": "Another deploy is in progress here (deploy_in_progress)",
        "423": "The gate is closed (locked); send override_reason to deploy anyway",
    },
    ("patch", "/api/v1/deploys/{deploy_id}"): {"404": "No such deploy", "409": "Not a valid transition (invalid_transition)"},
    ("get", "/api/v1/deploys/{deploy_id}"): {"404": "No such deploy"},
    ("post", "/api/v1/locks"): {"404": "Unknown service or environment", "409": "Already locked (already_locked)"},
    ("delete", "/api/v1/locks/{lock_id}"): {"404": "No such lock", "409": "The lock has already ended"},
    ("get", "/api/v1/calendar.ics"): {"404": "Unknown service or environment ([server] auto_create off)"},
    ("patch", "/api/v1/locks/{lock_id}"): {
        "404": "No such lock",
        "409": "The lock has ended (lock_already_ended), or the new period overlaps another lock (already_locked)",
    },
    ("post", "/api/v1/deploys/{deploy_id}/health"): {"404": "No such deploy"},
    ("post", "/api/v1/incidents"): {"201": "A new incident, or a new state of one", "404": "Unknown service or environment"},
    ("get", "/api/v1/dora"): {"404": "Unknown service or environment"},
    ("get", "/api/v1/dora/deploys"): {"404": "Unknown service or environment"},
    ("post", "/hooks/github"): {"400": "Signed, but not a payload Shiplane can read", "401": "Bad or missing signature", "404": "[forges.github] is not configured"},
    ("post", "/hooks/bitbucket"): {"400": "Signed, but not a payload Shiplane can read", "401": "Bad or missing signature", "404": "[forges.bitbucket] is not configured"},
    ("post", "/hooks/gitlab"): {"400": "Signed, but not a payload Shiplane can read", "401": "Bad or missing token", "404": "[forges.gitlab] is not configured"},
    ("post", "/hooks/pagerduty"): {"400": "Signed, but not a payload Shiplane can read (names the field)", "401": "Bad or missing X-PagerDuty-Signature", "404": "[incidents.pagerduty] is not configured"},
    ("post", "/hooks/opsgenie"): {"400": "Authenticated, but not a payload Shiplane can read (names the field)", "401": "Bad or missing bearer token", "404": "[incidents.opsgenie] is not configured"},
    ("get", "/graphql"): {"400": "Not JSON, or nested too deeply", "401": "Bad API key"},
    ("post", "/graphql"): {"400": "Not JSON, or nested too deeply", "401": "Bad API key", "403": "A mutation needs the deployer role"},
}
SLEUTH_ERRORS = {
    "400": "Bad input (plain text, as Sleuth answers)",
    "401": "Unauthorized",
    "403": "The API key's role is not enough",
    "404": "Unknown deployment or environment",
    "422": "A manual change without a name",
}


def _document_auth(app: FastAPI) -> None:
    """Finish the OpenAPI description: bearer auth and our error body.

    Auth is declared here rather than through a security dependency so it
    costs nothing per request; FastAPI's default 422 schema is replaced by the
    error body we actually send.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("paths", {})["/api/v1/gate"] = GATE_OPENAPI
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
        schemas = components.setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        plain = {"content": {"text/plain": {"schema": {"type": "string"}}}}
        for path, item in schema.get("paths", {}).items():
            for op in item.values():
                responses = op.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {"description": "Validation error naming the field(s)"} | error_ref
                if path.startswith("/api/v1/"):
                    op["security"] = [{"bearer": []}]
                    responses.setdefault("401", {"description": "Missing or invalid token"} | error_ref)
                    responses.setdefault("403", {"description": "The token's role is not enough"} | error_ref)
                    responses.setdefault("413", {"description": "Body too large"} | error_ref)
                if path.startswith("/api/1/"):
                    responses.pop("422", None)  # the Sleuth routes answer in plain text, as Sleuth does
                    responses.update({code: {"description": text} | plain for code, text in SLEUTH_ERRORS.items()})
                    responses["200"] = {"description": "`Success`"} | plain
                    responses["413"] = {"description": "Body larger than 8 MiB"} | error_ref
                responses.setdefault("431", {"description": "Request headers larger than 16 KiB"} | error_ref)
                responses.setdefault("503", {"description": "The database is unavailable; retry after Retry-After seconds"} | error_ref)
        for (method, path), codes in ROUTE_STATUSES.items():
            responses = schema["paths"][path][method]["responses"]
            for code, text in codes.items():
                body = {"content": {"application/json": {}}} if code.startswith("2") else error_ref
                responses.setdefault(code, {"description": text} | body)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
