"""Slack slash commands and interactive actions (``/hooks/slack/*``), verified with the signing secret.

A request that is unsigned, badly signed, older than five minutes, or arrives
while no ``[slack] signing_secret`` is configured is answered 401 before its
body is read for anything else: nothing is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import Clock, SignatureVerifier

from shiplane import clock
from shiplane.context import AppContext, get_context
from shiplane.notify import commands
from shiplane.notify.commands import Caller, Outcome
from shiplane.notify.messages import escape
from shiplane.notify.slack import OPEN_ACTION, UNLOCK_ACTION

router = APIRouter(tags=["webhooks"])

MAX_USER_NAME = 80  # Slack's own limit; `slack:<name>` must fit created_by


class _ShiplaneClock(Clock):
    """Slack's verifier asks the time through ours (tests can move it)."""

    def now(self) -> float:
        return clock.now().timestamp()


def verified(secret: str | None, headers: Mapping[str, str], body: bytes) -> bool:
    """v0 signature over ``v0:{timestamp}:{body}``, at most five minutes old (``slack_sdk``)."""
    if not secret:
        return False
    try:
        return SignatureVerifier(secret, clock=_ShiplaneClock()).is_valid_request(body, dict(headers))
    except (ValueError, UnicodeDecodeError):  # a timestamp that is not a number, a body that is not text
        return False


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _check(ctx: AppContext, request: Request, body: bytes) -> JSONResponse | None:
    secret = ctx.settings.config.slack.signing_secret
    if secret is None or not secret.get_secret_value().strip():
        return _error(401, "invalid_signature", "[slack] signing_secret is not configured")
    if not verified(secret.get_secret_value(), request.headers, body):
        return _error(401, "invalid_signature", "missing, invalid or expired Slack signature")
    return None


def _form(body: bytes) -> dict[str, str]:
    # PostgreSQL text cannot hold NUL; Slack never sends one.
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0].replace("\x00", "") for k, v in fields.items() if v}


_SLACK_MESSAGE = {
    "type": "object",
    "required": ["response_type", "text"],
    "properties": {
        "response_type": {"type": "string", "enum": ["ephemeral", "in_channel"]},
        "text": {"type": "string", "description": "Slack mrkdwn, user text escaped"},
    },
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _openapi(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": fields, "required": required}
                }
            },
        },
        "parameters": [
            {"name": "X-Slack-Signature", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "`v0=<hex HMAC-SHA256 of v0:{timestamp}:{body}>` with `[slack] signing_secret`"},
            {"name": "X-Slack-Request-Timestamp", "in": "header", "required": True, "schema": {"type": "string"},
             "description": "Unix seconds; older than five minutes is refused"},
        ],
        "responses": {
            "200": {"description": "A Slack message", "content": {"application/json": {"schema": _SLACK_MESSAGE}}},
            "400": {"description": "Signed, but not a payload Shiplane can read"} | _ERROR,
            "401": {"description": "Missing, invalid or expired signature, or no signing secret configured; nothing recorded"} | _ERROR,
        },
    }


_COMMAND_FIELDS = {
    "command": {"type": "string", "example": "/shiplane"},
    "text": {"type": "string", "example": "lock production DB migration"},
    "user_name": {"type": "string"},
    "user_id": {"type": "string"},
    "team_id": {"type": "string"},
    "response_url": {"type": "string"},
}


@router.post(
    "/hooks/slack/commands",
    summary="Slack slash command `/shiplane` (signed)",
    openapi_extra=_openapi(_COMMAND_FIELDS, ["text", "user_name"]),
    response_model=None,
)
async def slack_command(request: Request) -> Response:
    ctx = get_context(request)
    body = await request.body()
    if (problem := _check(ctx, request, body)) is not None:
        return problem
    form = _form(body)
    caller = Caller(form.get("user_name", "").strip())
    if not 1 <= len(caller.user_name) <= MAX_USER_NAME:
        return _error(400, "invalid_payload", f"a slash command carries a user_name of 1 to {MAX_USER_NAME} characters")
    word, rest = commands.next_word(form.get("text", ""))
    word = word.lower()
    now = clock.now()
    allowed = ctx.settings.config.slack.allowed_users
    if word in ("lock", "unlock") and not commands.may_lock(caller, allowed):
        return JSONResponse(commands.not_allowed(caller, allowed))
    if word == "lock":
        outcome: Outcome = await ctx.db.run_write(
            commands.lock, rest, caller, now, cache=ctx.catalog, timezones=ctx.schedule.timezones
        )
    elif word == "unlock":
        outcome = await ctx.db.run_write(commands.unlock, rest, caller, now)
    elif word == "status":
        outcome = await ctx.db.run_read(commands.status, rest, ctx.schedule, now)
    else:
        outcome = Outcome(commands.reply(commands.USAGE))
    if outcome.changed:
        ctx.gate_may_have_changed()
    return JSONResponse(outcome.reply)


_ACTION_FIELDS = {"payload": {"type": "string", "description": "Slack's interaction payload (JSON)"}}


def _action(payload: Any) -> tuple[str, str, str, str | None]:
    """(action_id, value, user name, response_url) of a block_actions payload; ValueError if it is not one."""
    if not isinstance(payload, dict):
        raise ValueError("the payload is not a JSON object")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise ValueError("no actions in the payload")
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    name = user.get("username") or user.get("name") or ""
    url = payload.get("response_url")
    return (
        _clean(actions[0].get("action_id")),
        _clean(actions[0].get("value")),
        _clean(name).strip(),
        _clean(url) if isinstance(url, str) else None,
    )


def _clean(value: Any) -> str:
    """Text that both databases can store: no NUL, no lone surrogates (JSON can carry both)."""
    return str(value or "").replace("\x00", "").encode("utf-8", "replace").decode()


@router.post(
    "/hooks/slack/actions",
    summary="Slack interactive actions: the Unlock button (signed)",
    openapi_extra=_openapi(_ACTION_FIELDS, ["payload"]),
    response_model=None,
)
async def slack_action(request: Request) -> Response:
    ctx = get_context(request)
    body = await request.body()
    if (problem := _check(ctx, request, body)) is not None:
        return problem
    try:
        action_id, value, user_name, response_url = _action(json.loads(_form(body).get("payload", "")))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return _error(400, "invalid_payload", f"cannot read this Slack interaction: {exc}")
    if action_id == OPEN_ACTION:
        return Response(status_code=200)  # a link button: Slack opened the page, we only acknowledge
    caller = Caller(user_name)
    allowed = ctx.settings.config.slack.allowed_users
    ready: Outcome | None = None
    lock_id = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else 0
    if action_id != UNLOCK_ACTION:
        ready = Outcome(commands.reply(f"Shiplane does not know the action `{escape(action_id[:100])}`."))
    elif not 1 <= len(caller.user_name) <= MAX_USER_NAME:
        return _error(400, "invalid_payload", "the interaction names no user (or one too long to be a Slack user name)")
    elif not commands.may_lock(caller, allowed):
        ready = Outcome(commands.not_allowed(caller, allowed))
    elif not 1 <= lock_id < 2**31:
        ready = Outcome(commands.reply("That button does not name a lock."))
    outcome = await ctx.db.run_write(_click, caller, lock_id, ready, response_url, clock.now())
    if outcome.changed:
        ctx.gate_may_have_changed()
    return JSONResponse(outcome.reply | {"replace_original": False})


def _click(
    conn: Any, caller: Caller, lock_id: int, ready: Outcome | None, response_url: str | None, now: Any
) -> Outcome:
    """Unlock (unless the answer is already known) and queue the reply, in one transaction."""
    outcome = ready or commands.unlock_by_id(conn, lock_id, caller, now)
    # Slack ignores the body of an answer to a button click: the reply goes back through response_url.
    commands.respond_later(conn, response_url, outcome.reply, now)
    return outcome
