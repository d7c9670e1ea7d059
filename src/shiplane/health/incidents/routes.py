"""``POST /hooks/pagerduty`` and ``POST /hooks/opsgenie``: authenticate, read, record.

An unauthenticated delivery is 401 and records nothing; an authenticated one
that cannot be read is 400 naming the field. Recording is the same function as
``POST /api/v1/incidents`` (idempotent on key + state), so retried deliveries
are harmless and DORA counts these incidents like any other.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse

from shiplane import clock
from shiplane.health import service
from shiplane.health.incidents.base import IncidentReport, Unreadable
from shiplane.health.incidents.registry import HOOKS


def _error(status: int, code: str, detail: str, fields: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)


def record(
    conn: Connection, name: str, environment: str, reports: tuple[IncidentReport, ...], now: datetime
) -> list[tuple[dict[str, Any], bool]]:
    return [
        service.report_incident(
            conn,
            key=r.key,
            state=r.state,
            environment=environment,
            service=r.service,
            at=r.at or now,
            title=r.title,
            url=r.url,
            actor=name,
            now=now,
        )
        for r in reports
    ]


async def _hook(request: Request, name: str) -> JSONResponse:
    ctx = request.app.state.ctx
    hook = HOOKS[name](ctx.settings.config)
    if hook is None:
        return _error(404, "hook_not_configured", f"[incidents.{name}] is not configured")
    body = await request.body()
    if not hook.authenticate(request.headers, body):
        what = "signature" if name == "pagerduty" else "bearer token"
        return _error(401, "unauthenticated", f"missing or invalid {what}; nothing was recorded")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return _error(400, "invalid_payload", f"not JSON: {type(exc).__name__}")
    try:
        reading = hook.read(payload)
    except Unreadable as exc:
        return _error(400, "invalid_payload", f"cannot read this {name} webhook: {exc}", {exc.field: exc.reason})
    if reading.ignored:
        return JSONResponse({"status": "ignored", "reason": reading.ignored})
    results = await ctx.db.run_write(record, name, hook.environment, reading.reports, clock.now())
    if any(created for _, created in results):
        ctx.gate_may_have_changed()
    return JSONResponse(
        {"status": "ok", "incidents": [incident | {"recorded": created} for incident, created in results]}
    )


def hook_for(name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The endpoint of ``POST /hooks/<name>``."""

    async def hook(request: Request) -> JSONResponse:
        return await _hook(request, name)

    hook.__name__ = f"{name}_hook"
    return hook
