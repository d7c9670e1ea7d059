"""Forge webhooks: verify, de-duplicate, act. A bad or missing signature is 401 and records nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from shiplane import clock
from shiplane.deploys.intake import intake_for
from shiplane.enforcement import webhooks
from shiplane.enforcement.forges.registry import FORGES


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


# What a payload that is not what the forge documents raises while it is read or acted on.
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


async def _hook(request: Request, forge_name: str) -> JSONResponse:
    ctx = request.app.state.ctx
    enforcement = ctx.enforcement
    forge = enforcement.forges.get(forge_name) if enforcement else None
    if forge is None:
        return _error(404, "forge_not_configured", f"[forges.{forge_name}] is not configured")
    body = await request.body()
    if not forge.verify(request.headers, body):
        return _error(401, "invalid_signature", "missing or invalid webhook signature")
    try:
        delivery = FORGES[forge_name].parse_webhook(request.headers, body)
    except _UNREADABLE as exc:
        return _error(400, "invalid_payload", f"cannot read this {forge_name} webhook: {type(exc).__name__}: {exc}")
    hook_ctx = webhooks.Context(
        targets=tuple(enforcement.targets),
        schedule=ctx.schedule,
        intake=intake_for(ctx),
        callback_allowed=enforcement.callback_allowed,
        reverts=ctx.settings.config.dora.reverts,
    )
    try:
        result = await ctx.db.run_write(webhooks.accept, delivery, clock.now(), hook_ctx)
    except _UNREADABLE as exc:
        # Signed, parsed, and still not what the forge documents (a wrong type deep inside):
        # the transaction rolled back, nothing is recorded, and the sender is told so.
        return _error(400, "invalid_payload", f"cannot act on this {forge_name} webhook: {type(exc).__name__}: {exc}")
    if result.get("actions"):
        ctx.gate_may_have_changed()
    return JSONResponse(result)


def hook_for(forge_name: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The endpoint of ``POST /hooks/<forge_name>``."""

    async def hook(request: Request) -> JSONResponse:
        return await _hook(request, forge_name)

    hook.__name__ = f"{forge_name}_hook"
    return hook


