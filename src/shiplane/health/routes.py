from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.responses import JSONResponse

from shiplane import clock
from shiplane.auth import deps
from shiplane.auth.service import Principal
from shiplane.context import AppContext, context
from shiplane.health import push, service
from shiplane.health.schemas import HealthIn, IncidentIn, SamplesIn

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
