from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Path
from starlette.responses import JSONResponse

from shiplane import clock
from shiplane.auth import deps
from shiplane.auth.service import Principal
from shiplane.context import AppContext, context
from shiplane.errors import Invalid, TooManyRequests
from shiplane.health import push, service
from shiplane.health.schemas import MAX_POINTS, HealthIn, IncidentIn, JudgeIn, SamplesIn

router = APIRouter(tags=["health"])


@router.post("/api/v1/deploys/{deploy_id}/health", summary="A human verdict on a deploy's health (overrides the judge)")
async def manual_health(
    deploy_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: HealthIn,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
) -> JSONResponse:
    deploy = await ctx.db.run_write(
        service.manual_verdict, deploy_id, body.state, body.note.strip(), actor=who.name, now=clock.now()
    )
    ctx.gate_may_have_changed()
    return JSONResponse(deploy)


@router.post("/api/v1/incidents", summary="Report an incident (idempotent on key + state)")
async def report_incident(
    body: IncidentIn,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
) -> JSONResponse:
    now = clock.now()
    incident, created = await ctx.db.run_write(
        service.report_incident,
        key=body.key,
        state=body.state,
        environment=body.environment,
        service=body.service,
        at=body.at or now,
        title=body.title,
        url=body.url,
        actor=who.name,
        now=now,
    )
    if created:
        ctx.gate_may_have_changed()
    return JSONResponse(incident, status_code=201 if created else 200)


@router.post("/api/v1/metrics", status_code=202, summary="Push custom metric samples")
async def push_samples(
    body: SamplesIn,
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.deployer)],
) -> JSONResponse:
    now = clock.now()
    samples = [push.Sample(s.metric, s.environment, s.value, s.at or now, s.service) for s in body.samples]
    accepted = await ctx.db.run_write(push.store, samples)
    return JSONResponse({"accepted": accepted}, status_code=202)


# The judge is CPU work in threads: two at a time in all, and one at a time per caller, so
# that one token sending many maximum-size requests cannot take the server's CPU (or GIL).
_JUDGES = anyio.CapacityLimiter(2)
_CALLERS: set[str] = set()


@router.post(
    "/api/v1/judge",
    summary="Judge baseline vs current series, and history (stateless; the judge deploy health uses)",
    responses={"429": {"description": "This token already has a judge request running"}},
)
async def judge_series(
    body: JudgeIn,
    who: Annotated[Principal, Depends(deps.viewer)],
) -> JSONResponse:
    from shiplane.health.judge import MetricInput, judge  # numpy and scipy load on first use: a fast start

    points = sum(len(m.baseline) + len(m.current) + sum(map(len, m.history)) for m in body.metrics)
    if points > MAX_POINTS:
        raise Invalid("metrics", f"at most {MAX_POINTS} points per request (got {points})")
    for i, m in enumerate(body.metrics):
        if m.unhealthy_ratio < m.ailing_ratio:
            raise Invalid(f"metrics.{i}.unhealthy_ratio", "must not be below ailing_ratio")
    nan = float("nan")
    inputs = [
        MetricInput(
            name=m.name,
            baseline=[nan if v is None else v for v in m.baseline],
            current=[nan if v is None else v for v in m.current],
            history=[[nan if v is None else v for v in w] for w in m.history],
            step=m.step,
            regression=m.regression,
            critical=m.critical,
            ailing_ratio=m.ailing_ratio,
            unhealthy_ratio=m.unhealthy_ratio,
        )
        for m in body.metrics
    ]
    if who.name in _CALLERS:
        raise TooManyRequests(f"{who.name} already has a judge request running; send the next when it answers")
    _CALLERS.add(who.name)  # bounded: one entry per token with a request in flight
    try:
        # CPU-bound and pure: off the event loop so a 250,000-point request cannot stall other requests.
        verdict = await anyio.to_thread.run_sync(judge, inputs, limiter=_JUDGES)
    finally:
        _CALLERS.discard(who.name)
    return JSONResponse(verdict.to_dict())
