"""The dashboard's single sign-on routes (SPEC §8.6): ``/login/oidc`` and ``/login/oidc/callback``.

The flow and its checks are ``auth.oidc``; here are the cookies, the pages and the session.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from shiplane import clock
from shiplane.auth import oidc
from shiplane.auth import service as auth_service
from shiplane.context import AppContext, get_context
from shiplane.errors import Conflict
from shiplane.web import sessions
from shiplane.web.routes import _page, _safe_next

log = logging.getLogger("shiplane.sso")
router = APIRouter(include_in_schema=False)

COOKIE = "shiplane_oidc"  # the state, nonce and PKCE verifier of a login in progress
COOKIE_PATH = "/login/oidc"
COOKIE_AGE = 600  # seconds to finish signing in at the provider


def provider_for(ctx: AppContext) -> oidc.Provider | None:
    cfg = ctx.settings.config.auth.oidc
    if cfg is None:
        return None
    return oidc.Provider(cfg, ctx.settings.config.server.public_url, ctx.source_transport)


async def discover_at_start(provider: oidc.Provider) -> None:
    """``serve`` tells at start when the provider cannot be discovered; local login keeps working."""
    try:
        await provider.metadata()
    except oidc.LoginFailed as exc:
        log.error("single sign-on: %s; local login still works, and the next sign-in tries again", exc)


def _provider(request: Request) -> oidc.Provider | None:
    return getattr(request.app.state, "sso", None)


def _pack(pending: oidc.Pending) -> str:
    raw = json.dumps([pending.state, pending.nonce, pending.verifier, pending.next]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _unpack(value: str | None) -> oidc.Pending | None:
    if not value or len(value) > 1000:
        return None
    try:
        state, nonce, verifier, next_path = json.loads(base64.urlsafe_b64decode(value.encode()))
        return oidc.Pending(str(state), str(nonce), str(verifier), _safe_next(str(next_path)))
    except (ValueError, TypeError):
        return None


def _problem(request: Request, status: int, title: str, message: str) -> Response:
    response = _page(request, "error.html", None, status, title=title, message=message)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("/login/oidc")
async def start(request: Request, next: str | None = None) -> Response:
    provider = _provider(request)
    if provider is None:
        return _problem(request, 404, "Not found", "Single sign-on is not configured.")
    try:
        url, pending = await provider.start(_safe_next(next))
    except oidc.LoginFailed as exc:
        log.error("single sign-on: %s", exc)
        return _problem(request, exc.status, "Single sign-on is unavailable", f"{exc} Try again later.")
    response = RedirectResponse(url, status_code=303)
    secure = get_context(request).settings.config.server.public_url.startswith("https://")
    # Lax, not Strict: the provider sends the browser back with a top-level GET from its own site.
    response.set_cookie(COOKIE, _pack(pending), max_age=COOKIE_AGE, httponly=True, samesite="lax", secure=secure, path=COOKIE_PATH)
    return response


@router.get("/login/oidc/callback")
async def callback(request: Request, code: str | None = None, state: str | None = None, error: str | None = None,
                   error_description: str | None = None) -> Response:
    provider = _provider(request)
    if provider is None:
        return _problem(request, 404, "Not found", "Single sign-on is not configured.")
    pending = _unpack(request.cookies.get(COOKIE))
    if pending is None or not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        return _problem(request, 400, "Sign-in failed",
                        "This sign-in could not be checked: its state is missing or does not match the one this browser started. Start again.")
    if error:
        reason = f"{error}: {error_description}" if error_description else error
        return _problem(request, 400, "Sign-in failed", f"{provider.cfg.name} did not sign you in ({reason[:300]}).")
    if not code:
        return _problem(request, 400, "Sign-in failed", "The provider sent no authorization code. Start again.")
    try:
        claims = await provider.finish(code, pending)
    except oidc.LoginFailed as exc:
        log.warning("single sign-on: %s", exc)
        return _problem(request, exc.status, "Sign-in failed", str(exc))
    outcome = oidc.decide(claims, provider.cfg)
    if outcome.role is None:
        log.info("single sign-on refused %r: %s", outcome.username, outcome.reason)
        return _problem(request, 403, "Sign-in refused", f"You cannot sign in to Shiplane: {outcome.reason}.")
    ctx = get_context(request)
    now = clock.now()
    try:
        principal = await ctx.db.run_write(auth_service.sso_user, outcome.username, outcome.role, now)
    except Conflict as exc:
        return _problem(request, 403, "Sign-in refused", f"You cannot sign in to Shiplane: {exc}.")
    value, _ = await ctx.db.run_write(sessions.start, principal, now)
    response = RedirectResponse(pending.next, status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    response.set_cookie(
        sessions.COOKIE, value, max_age=int(sessions.LIFETIME.total_seconds()), httponly=True, samesite="lax",
        secure=ctx.settings.config.server.public_url.startswith("https://"), path="/",
    )
    return response
