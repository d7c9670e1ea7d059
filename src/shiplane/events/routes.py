from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shiplane.auth import deps
from shiplane.auth.service import Principal
from shiplane.context import AppContext, context
from shiplane.events import service
from shiplane.schemas import UTC

router = APIRouter(prefix="/api/v1/events", tags=["events"])


@router.get("", summary="Audit events, oldest first")
async def list_events(
    ctx: Annotated[AppContext, Depends(context)],
    _: Annotated[Principal, Depends(deps.viewer)],
    since: UTC | None = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,64}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    items = await ctx.db.run_read(service.list_events, since=since, kind=kind, limit=limit)
    return {"items": items}
