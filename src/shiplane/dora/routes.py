from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import JSONResponse

from shiplane import clock
from shiplane.auth import deps
from shiplane.auth.service import Principal
from shiplane.context import AppContext, context
from shiplane.dora import explain, metrics, refresh, service
from shiplane.errors import Invalid
from shiplane.schemas import SLUG_PATTERN, in_range

router = APIRouter(prefix="/api/v1/dora", tags=["dora"])


def instant(value: str | None, field: str) -> datetime | None:
    """A date means midnight UTC; a date-time is read as ISO-8601 (naive = UTC)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        return in_range(clock.parse_iso(value))
    except ValueError:
        raise Invalid(field, f"not a date (YYYY-MM-DD) or ISO-8601 date-time: {value!r}") from None


def default_range(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """Default: the last 30 days up to now, the window of the Prometheus gauges too (SPEC §8.9)."""
    if until is None:
        until = now if since is None or since < now else since + service.WINDOW
    if since is None:
        since = until - service.WINDOW
    return since, until


@router.get("", summary="DORA metrics (the four keys and rework rate) with bands and a series")
async def dora(
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.viewer)],
    environment: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    service_: Annotated[str | None, Query(alias="service", pattern=SLUG_PATTERN)] = None,
    since: Annotated[str | None, Query(max_length=40, description="inclusive; a date means midnight UTC")] = None,
    until: Annotated[str | None, Query(max_length=40, description="exclusive")] = None,
    bucket: Literal["day", "week", "month"] = "day",
) -> JSONResponse:
    start, end = default_range(instant(since, "since"), instant(until, "until"), clock.now())
    config = ctx.settings.config.dora
    # Fold outstanding marks into the roll-ups first, so that this report and
    # the next ones read them instead of recomputing those days.
    await refresh.refresher(ctx.db, config.timezone, metrics.failure_rule(config.failure, config.failure_states)).before_report()
    body = await ctx.db.run_long_read(
        service.report,
        since=start,
        until=end,
        environment=environment,
        service=service_,
        bucket=bucket,
        tz=config.timezone,
        failure_states=metrics.failure_rule(config.failure, config.failure_states),
    )
    return JSONResponse(body)


@router.get("/deploys", summary="The deploys behind a DORA figure, newest first, each with its contribution and reason")
async def dora_deploys(
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.viewer)],
    metric: Literal["deploys", "failed", "lead_time", "recovery", "rework"] = "deploys",
    environment: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    service_: Annotated[str | None, Query(alias="service", pattern=SLUG_PATTERN)] = None,
    since: Annotated[str | None, Query(max_length=40, description="inclusive; a date means midnight UTC")] = None,
    until: Annotated[str | None, Query(max_length=40, description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    start, end = default_range(instant(since, "since"), instant(until, "until"), clock.now())
    config = ctx.settings.config.dora
    body = await ctx.db.run_long_read(
        explain.deploys_behind,
        metric=metric,
        since=start,
        until=end,
        environment=environment,
        service=service_,
        tz=config.timezone,
        failure_states=metrics.failure_rule(config.failure, config.failure_states),
        limit=limit,
        cursor=cursor,
    )
    return JSONResponse(body)
