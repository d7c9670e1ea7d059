from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.types import Receive, Scope, Send

from shiplane import clock
from shiplane.auth import deps
from shiplane.auth.service import Principal
from shiplane.context import AppContext, context
from shiplane.errors import DomainError, Invalid, Unavailable
from shiplane.locks import gate as gate_mod
from shiplane.locks import ics, inputs, service
from shiplane.locks.schemas import LockIn, LockPatch
from shiplane.schemas import MAX_YEAR, MIN_YEAR, SLUG_PATTERN, in_range

router = APIRouter(prefix="/api/v1/locks", tags=["locks"])

LockId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", status_code=201, summary="Lock an environment, or one service in it")
async def create_lock(
    body: LockIn,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
) -> dict:
    lock = await ctx.db.run_write(
        service.create,
        environment=body.environment,
        service=body.service,
        reason=body.reason,
        actor=who.name,
        now=clock.now(),
        starts_at=body.starts_at,
        expires_at=body.expires_at,
        auto_create=ctx.settings.config.server.auto_create,
        cache=ctx.catalog,
        timezones=ctx.schedule.timezones,
    )
    ctx.gate_may_have_changed()
    return lock


@router.patch("/{lock_id}", summary="Edit a lock: reason, expiry, and a scheduled lock's start")
async def edit_lock(
    lock_id: LockId,
    body: LockPatch,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
) -> dict:
    sent = body.model_fields_set
    edits: dict[str, Any] = {name: getattr(body, name) for name in ("starts_at", "expires_at") if name in sent}
    if "reason" in sent:
        if body.reason is None:
            raise Invalid("reason", "must not be null")
        edits["reason"] = body.reason
    lock = await ctx.db.run_write(
        service.update_lock, lock_id, actor=who.name, now=clock.now(), timezones=ctx.schedule.timezones, **edits
    )
    ctx.gate_may_have_changed()
    return lock


@router.delete("/{lock_id}", summary="End a lock (or cancel a scheduled one)")
async def end_lock(
    lock_id: LockId,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
    note: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict:
    lock = await ctx.db.run_write(service.end, lock_id, actor=who.name, note=note, now=clock.now())
    ctx.gate_may_have_changed()
    return lock


@router.get("", summary="List locks, newest first")
async def list_locks(
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.viewer)],
    active: bool | None = None,
    state: Literal["scheduled", "active", "ended"] | None = None,
    environment: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    service_: Annotated[str | None, Query(alias="service", pattern=SLUG_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    items = await ctx.db.run_read(
        service.list_locks,
        now=clock.now(),
        active=active,
        state=state,
        environment=environment,
        service=service_,
        limit=limit,
    )
    return {"items": items}


# ---------------------------------------------------------------- the calendar feed

calendar_router = APIRouter(tags=["gate"])


@calendar_router.get(
    "/api/v1/calendar.ics",
    summary="The closed periods of a scope as an iCalendar feed",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}, "description": "RFC 5545"}},
)
async def calendar_ics(
    request: Request,
    ctx: Annotated[AppContext, Depends(context)],
    environment: Annotated[str, Query(pattern=SLUG_PATTERN)],
    service_: Annotated[str | None, Query(alias="service", pattern=SLUG_PATTERN)] = None,
    days: Annotated[int, Query(ge=1, le=ics.MAX_DAYS)] = ics.DEFAULT_DAYS,
    token: Annotated[
        str | None, Query(max_length=500, description="a viewer-or-higher token, for calendar apps that cannot send headers")
    ] = None,
) -> Response:
    # Calendar apps cannot send headers: the token may come in the URL (redacted from access logs).
    principal = await deps.principal_for(ctx, deps.token_from_header(request.headers.get("authorization")) or token)
    if not principal.has("viewer"):
        raise deps.Forbidden(f"this needs the viewer role; your token has {principal.role}")
    now = clock.now()
    gate_inputs = await ctx.db.run_read(
        inputs.load, ctx.schedule, environment, service_, auto_create=ctx.settings.config.server.auto_create
    )
    name = f"Shiplane: {environment}" + (f"/{service_}" if service_ else "") + " closed for deploys"
    body = ics.to_ical(ics.closed_periods(gate_inputs, now, days), name, now)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={"cache-control": "private, max-age=60"})


# ---------------------------------------------------------------- the gate
#
# Every pipeline and merge check calls the gate, so it is answered before
# FastAPI's routing and middleware (see ShiplaneApp in app.py), with inline
# auth and a cached, pre-serialised answer. GATE_OPENAPI describes it.

_SLUG = re.compile(SLUG_PATTERN)
_JSON = [(b"content-type", b"application/json")]


_RETRY = [(b"retry-after", str(Unavailable.retry_after).encode())]


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = _JSON + [(b"content-length", str(len(body)).encode())] + (_RETRY if status == Unavailable.status_code else [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(status: int, payload: dict) -> tuple[int, bytes]:
    return status, json.dumps(payload).encode()


def _parse(query_string: bytes) -> tuple[dict[str, str], dict[str, str], datetime | None]:
    params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    errors: dict[str, str] = {}
    environment = params.get("environment")
    if not environment:
        errors["environment"] = "Field required"
    elif not _SLUG.match(environment):
        errors["environment"] = f"String should match pattern '{SLUG_PATTERN}'"
    service_slug = params.get("service") or None
    if service_slug is not None and not _SLUG.match(service_slug):
        errors["service"] = f"String should match pattern '{SLUG_PATTERN}'"
    at = None
    if params.get("at"):
        raw = params["at"]
        try:
            at = in_range(clock.parse_iso(raw.replace(" ", "+")))  # a "+" offset arrives as a space when not percent-encoded
        except ValueError as exc:
            errors["at"] = f"not an ISO-8601 date-time between {MIN_YEAR} and {MAX_YEAR}: {raw!r} ({exc})"
    return params, errors, at


_loading: dict[tuple[int, str, str | None], asyncio.Future] = {}


async def _load_once(ctx: AppContext, environment: str, service: str | None) -> Any:
    """One database load per scope at a time: concurrent misses of a scope share it."""
    key = (id(ctx), environment, service)
    pending = _loading.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future = asyncio.get_running_loop().create_future()
    _loading[key] = future
    try:
        result = await ctx.db.run_read(
            inputs.load, ctx.schedule, environment, service, auto_create=ctx.settings.config.server.auto_create
        )
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved here, so an unawaited failure is not reported as lost
        raise
    else:
        future.set_result(result)
        return result
    finally:
        _loading.pop(key, None)


async def answer_gate(ctx: AppContext, scope: Scope) -> tuple[int, bytes]:
    token = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = deps.token_from_header(value.decode("latin-1"))
            break
    try:
        await deps.principal_for(ctx, token)  # every role may read the gate
    except DomainError as exc:
        return _error(exc.status_code, exc.body())
    params, errors, at = _parse(scope.get("query_string", b""))
    if errors:
        detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return _error(422, {"error": "validation_error", "detail": detail, "fields": errors})
    environment, service_slug = params["environment"], params.get("service") or None
    now = clock.now()
    if at is None:
        cached = ctx.gates.get(environment, service_slug, now)
        if cached is not None:
            return 200, cached.body(clock.iso(now))
    try:
        gate_inputs = await _load_once(ctx, environment, service_slug)
    except DomainError as exc:
        return _error(exc.status_code, exc.body())
    gate = gate_mod.evaluate(gate_inputs, now, at)
    if at is None:
        return 200, ctx.gates.put(gate, now).body(clock.iso(now))
    return 200, json.dumps(gate.to_dict()).encode()


async def gate_asgi(ctx: AppContext, scope: Scope, receive: Receive, send: Send) -> int:
    """Answer the gate; returns the status sent (for the request metrics)."""
    status, body = await answer_gate(ctx, scope)
    await _send(send, status, body)
    return status


_BLOCKER = {
    "type": "object",
    "required": ["kind", "reason", "since", "until", "by", "lock_id", "deploy_id"],
    "properties": {
        "kind": {"type": "string", "enum": ["lock", "window", "freeze", "holiday", "in_progress", "unhealthy", "cooldown"]},
        "reason": {"type": "string"},
        "since": {"type": ["string", "null"], "format": "date-time"},
        "until": {"type": ["string", "null"], "format": "date-time"},
        "by": {"type": ["string", "null"]},
        "lock_id": {"type": ["integer", "null"]},
        "deploy_id": {"type": ["integer", "null"]},
        "lock_kind": {"type": ["string", "null"], "enum": ["manual", "auto", None], "description": "for lock blockers"},
    },
}

GATE_OPENAPI = {
    "get": {
        "tags": ["gate"],
        "summary": "May a service deploy to an environment now (or at another instant)?",
        "operationId": "get_gate",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "environment", "in": "query", "required": True, "schema": {"type": "string", "pattern": SLUG_PATTERN}},
            {"name": "service", "in": "query", "required": False, "schema": {"type": "string", "pattern": SLUG_PATTERN}},
            {
                "name": "at",
                "in": "query",
                "required": False,
                "description": "evaluate schedules and locks (by their start and expiry) at this instant (what-if); deploys in progress are as of now",
                "schema": {"type": "string", "format": "date-time"},
            },
        ],
        "responses": {
            "200": {
                "description": "The gate",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["environment", "service", "at", "allowed", "blockers", "next_change_at"],
                            "properties": {
                                "environment": {"type": "string"},
                                "service": {"type": ["string", "null"]},
                                "at": {"type": "string", "format": "date-time"},
                                "allowed": {"type": "boolean"},
                                "blockers": {"type": "array", "items": _BLOCKER},
                                "next_change_at": {"type": ["string", "null"], "format": "date-time"},
                            },
                        }
                    }
                },
            },
            **{
                code: {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in (
                    ("401", "Missing or invalid token"),
                    ("404", "Unknown environment or service (auto_create off)"),
                    ("422", "Validation error naming the field(s)"),
                )
            },
        },
    }
}
