"""What ``/shiplane lock|unlock|status`` and the Unlock button do, as plain ``(conn, ..., now)`` functions.

Locks are made and ended through ``locks.service``, exactly as the API does:
same audit events, same 409 rules. Every reply is a Slack message dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from shiplane.catalog import service as catalog
from shiplane.errors import AlreadyLocked, DomainError, LockAlreadyEnded, NotFound
from shiplane.jobs import queue
from shiplane.locks import gate as gate_mod
from shiplane.locks import inputs as gate_inputs
from shiplane.locks import service as locks_service
from shiplane.locks.calendar import Schedule
from shiplane.locks.schemas import LockIn
from shiplane.notify.messages import clip, escape, when
from shiplane.notify.relay import SLACK_RESPONSE_JOB
from shiplane.tables.catalog import environments, services

MAX_REASON = 1000  # as for the API's locks
MAX_REPLY = 3000
UNLOCK_NOTE = "unlocked from Slack"

USAGE = (
    "*Shiplane* commands:\n"
    "• `/shiplane lock <environment> [service] <reason> [until <time>]`: lock an environment, or one service in it"
    " (time: HH:MM in the environment's zone, an ISO instant or a duration like 2h)\n"
    "• `/shiplane unlock <environment> [service]`: end the lock on that scope\n"
    "• `/shiplane status [environment]`: is it open, and if not, why"
)


@dataclass(frozen=True)
class Caller:
    user_name: str

    @property
    def actor(self) -> str:
        return f"slack:{self.user_name}"


@dataclass(frozen=True)
class Outcome:
    reply: dict[str, Any]
    changed: bool = False  # a gate may have changed: the route drops cached answers


def reply(text: str, *, public: bool = False) -> dict[str, Any]:
    """A Slack message; ``text`` is mrkdwn that the caller has already escaped."""
    return {"response_type": "in_channel" if public else "ephemeral", "text": clip(text, MAX_REPLY)}


def next_word(text: str) -> tuple[str, str]:
    """The first word and the rest, with the rest's own spacing kept (a reason may have line breaks)."""
    stripped = text.lstrip()
    for i, ch in enumerate(stripped):
        if ch.isspace():
            return stripped[:i], stripped[i:].lstrip()
    return stripped, ""


def may_lock(caller: Caller, allowed_users: list[str]) -> bool:
    return not allowed_users or caller.user_name in allowed_users


def not_allowed(caller: Caller, allowed_users: list[str]) -> dict[str, Any]:
    names = ", ".join(escape(u) for u in allowed_users)
    return reply(
        f"Sorry, {escape(caller.user_name)}: only the Slack users in Shiplane's `[slack] allowed_users` may lock "
        f"and unlock ({names}). `/shiplane status` works for everyone."
    )


def _bold(slug: str) -> str:
    return f"*{escape(slug)}*"


def _known_environment(conn: Connection, slug: str) -> tuple[int | None, dict[str, Any] | None]:
    env_id = catalog.find(conn, environments, slug) if slug else None
    if env_id is not None:
        return env_id, None
    known = conn.execute(select(environments.c.slug).order_by(environments.c.slug).limit(30)).scalars().all()
    hint = f" Known environments: {', '.join(escape(k) for k in known)}." if known else ""
    return None, reply(f"Unknown environment `{escape(slug)}`.{hint}")


def _scope_text(environment: str, service: str | None) -> str:
    return f"{_bold(service)} in {_bold(environment)}" if service else _bold(environment)


# ---------------------------------------------------------------- lock


_UNTIL = re.compile(r"^(?P<reason>.*\S)\s+until\s+(?P<when>\S+)\s*$", re.IGNORECASE | re.DOTALL)


def split_until(reason: str) -> tuple[str, datetime | str | None]:
    """``"Launch freeze until 18:00"`` → ``("Launch freeze", "18:00")``.

    Only a last word that reads as a time (``HH:MM``, an ISO instant, a duration like ``2h``) counts:
    ``"closed until further notice"`` stays a reason.
    """
    m = _UNTIL.match(reason)
    if not m:
        return reason, None
    try:
        parsed = LockIn.model_validate({"environment": "x", "reason": "x", "expires_at": m.group("when")})
    except ValidationError:
        return reason, None
    return m.group("reason"), parsed.expires_at


def lock(
    conn: Connection,
    text: str,
    caller: Caller,
    now: datetime,
    *,
    cache: catalog.Cache | None = None,
    timezones: Mapping[str, str] | None = None,
) -> Outcome:
    """``lock <env> [service] <reason> [until <time>]``: the word after the environment is a service only
    if one has that slug; ``<time>`` is HH:MM in the environment's ``timezone``, an ISO instant or a duration."""
    environment, rest = next_word(text)
    if not environment:
        return Outcome(reply("Usage: `/shiplane lock <environment> [service] <reason>`"))
    _, problem = _known_environment(conn, environment)
    if problem:
        return Outcome(problem)
    word, after = next_word(rest)
    service: str | None = None
    reason = rest.strip()
    if word and catalog.find(conn, services, word) is not None:
        service, reason = word, after.strip()
    reason, until = split_until(reason)
    if not reason:
        return Outcome(reply(f"Give a reason: `/shiplane lock {escape(environment)} [service] <reason>`"))
    if len(reason) > MAX_REASON:
        return Outcome(reply(f"That reason is {len(reason)} characters long; {MAX_REASON} at most."))
    try:
        made = locks_service.create(
            conn, environment=environment, service=service, reason=reason, actor=caller.actor, now=now,
            auto_create=False, cache=cache, expires_at=until, timezones=timezones,
        )
    except AlreadyLocked as exc:
        held = exc.extra.get("lock") or {}
        return Outcome(
            reply(
                f"{_scope_text(environment, service)} is already locked by {escape(str(held.get('created_by')))} "
                f"since {escape(when(held.get('created_at')) or '?')}: {escape(str(held.get('reason')))}"
            )
        )
    except DomainError as exc:
        return Outcome(reply(escape(exc.detail)))
    return Outcome(
        reply(
            f":lock: {_scope_text(environment, service)} locked by {escape(made['created_by'])}: {escape(made['reason'])}"
            + (f" (until {escape(when(made['expires_at']) or '')})" if made["expires_at"] else ""),
            public=True,
        ),
        changed=True,
    )


# ---------------------------------------------------------------- unlock


def unlock(conn: Connection, text: str, caller: Caller, now: datetime) -> Outcome:
    """``unlock <env> [service]``: end every active lock on exactly that scope (manual and automatic)."""
    environment, rest = next_word(text)
    if not environment:
        return Outcome(reply("Usage: `/shiplane unlock <environment> [service]`"))
    env_id, problem = _known_environment(conn, environment)
    if problem:
        return Outcome(problem)
    word, extra = next_word(rest)
    service = word or None
    service_id = None
    if service:
        # Unlike lock, no free text follows: a misspelt service must not unlock the whole environment.
        service_id = catalog.find(conn, services, service)
        if service_id is None or extra:
            return Outcome(reply(f"Unknown service `{escape(rest.strip())}`. Usage: `/shiplane unlock <environment> [service]`"))
    active = _active_locks(conn, env_id, now)
    mine = [row for row in active if row.service_id == service_id]
    if not mine:
        others = ", ".join(
            sorted({_scope_text(environment, row.service_slug) for row in active if row.service_id != service_id})
        )
        hint = f" (locked elsewhere: {others})" if others else ""
        return Outcome(reply(f"{_scope_text(environment, service)} is not locked{hint}."))
    ended = []
    for row in mine:
        try:
            ended.append(locks_service.end(conn, row.id, actor=caller.actor, note=UNLOCK_NOTE, now=now))
        except LockAlreadyEnded:
            continue
    if not ended:
        return Outcome(reply(f"{_scope_text(environment, service)} is not locked."))
    reasons = "; ".join(escape(lk["reason"]) for lk in ended)
    return Outcome(
        reply(f":unlock: {_scope_text(environment, service)} unlocked by {escape(caller.actor)} (was: {reasons})", public=True),
        changed=True,
    )


def unlock_by_id(conn: Connection, lock_id: int, caller: Caller, now: datetime) -> Outcome:
    """The Unlock button on a lock message."""
    try:
        ended = locks_service.end(conn, lock_id, actor=caller.actor, note=UNLOCK_NOTE, now=now)
    except NotFound:
        return Outcome(reply(f"There is no lock #{lock_id}."))
    except LockAlreadyEnded as exc:
        held = exc.extra.get("lock") or {}
        by = f" by {escape(str(held['ended_by']))}" if held.get("ended_by") else ""
        return Outcome(reply(f"That lock had already ended{by}."))
    return Outcome(
        reply(f":unlock: {_scope_text(ended['environment'], ended['service'])} unlocked by {escape(caller.actor)}", public=True),
        changed=True,
    )


def _active_locks(conn: Connection, environment_id: int, now: datetime) -> list[Any]:
    lk = locks_service.locks
    return conn.execute(
        locks_service.joined()
        .where(
            lk.c.environment_id == environment_id,
            lk.c.ended_at.is_(None),
            lk.c.starts_at <= now,  # a scheduled lock is not yet on: unlock leaves it be
            or_(lk.c.expires_at.is_(None), lk.c.expires_at > now),
        )
        .order_by(lk.c.created_at, lk.c.id)
    ).all()


# ---------------------------------------------------------------- status


def status(conn: Connection, text: str, schedule: Schedule, now: datetime) -> Outcome:
    """``status [env]``: each environment's gate, its blockers, and the locks on single services."""
    environment, _ = next_word(text)
    if environment:
        env_id, problem = _known_environment(conn, environment)
        if problem:
            return Outcome(problem)
        envs = [(env_id, environment)]
    else:
        envs = [
            (row.id, row.slug)
            for row in conn.execute(
                select(environments.c.id, environments.c.slug).order_by(
                    environments.c.production, environments.c.position, environments.c.slug
                )
            )
        ]
        if not envs:
            return Outcome(reply("Shiplane knows no environments yet."))
    lines = []
    for env_id, slug in envs[:40]:
        gate = gate_mod.evaluate(gate_inputs.load(conn, schedule, slug, None, auto_create=False), now)
        if gate.allowed:
            lines.append(f":large_green_circle: {_bold(slug)} is open")
        else:
            lines.append(f":red_circle: {_bold(slug)} is closed")
            for b in gate.blockers:
                by = f" ({escape(b.by)})" if b.by else ""
                lines.append(f"   • {escape(b.kind)}: {escape(clip(b.reason, 300))}{by}")
        if gate.next_change_at:
            lines.append(f"   _{'closes' if gate.allowed else 'opens'} {escape(when(gate.next_change_at.isoformat()) or '')}_")
        for row in _active_locks(conn, env_id, now):
            if row.service_id is not None:
                lines.append(
                    f"   • {_bold(row.service_slug)} locked by {escape(row.created_by)}: {escape(clip(row.reason, 300))}"
                )
    return Outcome(reply("\n".join(lines)))


# ---------------------------------------------------------------- replies through response_url


def respond_later(conn: Connection, response_url: str | None, message: dict[str, Any], now: datetime) -> None:
    """Queue a reply to Slack's ``response_url``: button clicks ignore the HTTP answer's body."""
    if not response_url or not response_url.startswith(("https://", "http://")) or len(response_url) > 2000:
        return
    body = message | {"replace_original": False}
    queue.enqueue(conn, SLACK_RESPONSE_JOB, {"url": response_url, "body": body}, now, max_attempts=5)
