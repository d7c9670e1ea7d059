from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from shiplane import clock
from shiplane.auth import deps
from shiplane.auth.service import Principal
from shiplane.context import AppContext, context
from shiplane.deploys import register, service
from shiplane.deploys.intake import intake_for
from shiplane.deploys.schemas import DeployIn, DeployPatch
from shiplane.schemas import SLUG_PATTERN

router = APIRouter(prefix="/api/v1/deploys", tags=["deploys"])

DeployId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # ids are 32-bit INTEGER columns


@router.post("", status_code=201, summary="Register a deploy")
async def register_deploy(
    body: DeployIn,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
) -> JSONResponse:
    result = await ctx.db.run_write(
        register.register,
        body,
        actor=who.name,
        now=clock.now(),
        intake=intake_for(ctx),
    )
    if result.gate_changed:
        ctx.gate_may_have_changed()
    return JSONResponse(result.deploy, status_code=201 if result.created else 200)


@router.patch("/{deploy_id}", summary="Change a deploy's status")
async def patch_deploy(
    deploy_id: DeployId,
    body: DeployPatch,
    ctx: Annotated[AppContext, Depends(context)],
    who: Annotated[Principal, Depends(deps.deployer)],
) -> dict:
    deploy = await ctx.db.run_write(
        service.transition, deploy_id, body.status, actor=who.name, now=clock.now(), finished_at=body.finished_at
    )
    ctx.gate_may_have_changed()
    return deploy


@router.get("", summary="List deploys, newest first")
async def list_deploys(
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.viewer)],
    service_: Annotated[str | None, Query(alias="service", pattern=SLUG_PATTERN)] = None,
    environment: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    status: Literal["started", "succeeded", "failed", "cancelled", "rolled_back"] | None = None,
    health: Literal["pending", "healthy", "ailing", "unhealthy", "no_data", "incident"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    # A JSONResponse straight from the service's plain dicts: FastAPI's own
    # response encoding walks every value again and cost more than the query.
    page = await ctx.db.run_read(
        service.list_deploys,
        service=service_,
        environment=environment,
        status=status,
        health=health,
        limit=limit,
        cursor=cursor,
    )
    return JSONResponse(page)


@router.get("/{deploy_id}", summary="One deploy with its changes and health")
async def get_deploy(
    deploy_id: DeployId,
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.viewer)],
) -> JSONResponse:
    return JSONResponse(await ctx.db.run_read(service.get, deploy_id))


