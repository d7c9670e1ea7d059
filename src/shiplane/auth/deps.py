"""FastAPI dependencies: who is calling, and may they?"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from shiplane.auth import service
from shiplane.auth.service import Principal
from shiplane.context import AppContext, get_context
from shiplane.errors import DomainError


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


def token_from_header(value: str | None, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in schemes or not token.strip():
        return None
    return token.strip()


async def principal_for(ctx: AppContext, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
    # Keyed by the token's digest, never the raw token: the cache's size must
    # not depend on what an unauthenticated caller sends.
    key = service.hash_token(token)
    hit, principal = ctx.tokens.get(key)
    if not hit:
        principal = await ctx.db.run_read(service.principal_for_digest, key)
        ctx.tokens.put(key, principal)
    if principal is None:
        raise Unauthorized("invalid API token")
    return principal


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        ctx = get_context(request)
        principal = getattr(request.state, "principal", None)
        if principal is None:
            principal = await principal_for(ctx, token_from_header(request.headers.get("authorization")))
        if not principal.has(role):
            raise Forbidden(f"this needs the {role} role; your token has {principal.role}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


viewer = require("viewer")
deployer = require("deployer")
