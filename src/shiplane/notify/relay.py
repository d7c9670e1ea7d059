"""Notifications (``[[notify]]``): events become durable delivery jobs for Slack, Teams, Discord and generic webhooks.

A transactional outbox relay. Every state change already records an event in
its own transaction; the relay reads the events after its cursor, turns each
into one job per ``[[notify]]`` entry that wants it, and advances the cursor in
the same transaction. The job table then delivers at least once, with backoff.
Nothing that records events needs to know notifications exist.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from shiplane import clock, http
from shiplane.db import Database, conflict_insert
from shiplane.events.service import to_dict as event_dict
from shiplane.jobs import queue
from shiplane.notify import discord, slack, teams, webhook
from shiplane.notify.messages import Message, build, wanted
from shiplane.settings import NotifyConfig, Settings
from shiplane.tables.events import events
from shiplane.tables.notify import notify_cursor

log = logging.getLogger("shiplane.notify")

NOTIFY_JOB = "notify"
SLACK_RESPONSE_JOB = "slack_response"  # a reply to a button click, through Slack's response_url
BATCH = 500  # events per relay transaction
# How long a hole in the event ids may be an open transaction rather than a
# rolled-back one. Shiplane's transactions last milliseconds; this is generous.
GAP_GRACE = timedelta(seconds=30)
CURSOR_ID = 1


@dataclass(frozen=True)
class Target:
    key: str  # a fingerprint of kind + url: names the target in jobs without storing its URL
    config: NotifyConfig


def fingerprint(config: NotifyConfig) -> str:
    return hashlib.sha256(f"{config.kind}\0{config.url.get_secret_value()}".encode()).hexdigest()[:16]


def targets_of(settings: Settings) -> list[Target]:
    return [Target(fingerprint(n), n) for n in settings.config.notify]


# kind → the body a message is posted as (pure; built when the job is queued, so every retry sends the same bytes)
_BODIES: dict[str, Callable[[Message], dict[str, Any]]] = {
    "slack": slack.payload,
    "teams": teams.payload,
    "discord": discord.payload,
    "webhook": webhook.body,
}


class Lost(Exception):
    """Another relay advanced the cursor meanwhile; this transaction must not commit."""


# ---------------------------------------------------------------- the relay (one transaction)


def behind(conn: Connection) -> bool:
    """Are there events after the cursor? (A cheap read, so an idle tick writes nothing.)"""
    last = conn.execute(select(notify_cursor.c.last_event_id).where(notify_cursor.c.id == CURSOR_ID)).scalar()
    return conn.execute(select(events.c.id).where(events.c.id > (last or 0)).limit(1)).first() is not None


def _claim_cursor(conn: Connection) -> Any:
    """The cursor row, locked for this transaction; None when another relay holds it.

    PostgreSQL: FOR UPDATE SKIP LOCKED (a second worker skips its turn instead
    of queueing). SQLite: the write transaction is BEGIN IMMEDIATE, so it is
    the only writer anyway. The conditional update in ``relay`` checks both.
    """
    query = select(notify_cursor).where(notify_cursor.c.id == CURSOR_ID).with_for_update(skip_locked=True)
    row = conn.execute(query).first()
    if row is None:
        # Missing only on a wiped database (the migration creates it at the newest event).
        ins = conflict_insert(conn.dialect.name, notify_cursor)
        conn.execute(ins.values(id=CURSOR_ID, last_event_id=0).on_conflict_do_nothing(index_elements=["id"]))
        row = conn.execute(query).first()
    return row


def _contiguous(rows: list[Any], last: int, gap_since: datetime | None, now: datetime) -> tuple[list[Any], datetime | None]:
    """The events that may be relayed now, and the new ``gap_since`` (pure).

    Ids are handed out at insert but seen at commit: on PostgreSQL, event 11 can
    be visible while event 10's transaction is still open. Stop at a hole until
    it has been there ``GAP_GRACE``, then take it for a rollback and move on.
    """
    taken = []
    for row in rows:
        if row.id != last + 1:
            if gap_since is None:
                return taken, now
            if now - gap_since < GAP_GRACE:
                return taken, gap_since
        taken.append(row)
        last, gap_since = row.id, None
    return taken, gap_since


def relay(conn: Connection, targets: list[Target], public_url: str, now: datetime, limit: int = BATCH) -> int:
    """Turn the events after the cursor into delivery jobs; return how many events were consumed."""
    cursor = _claim_cursor(conn)
    if cursor is None:
        return 0
    if not targets:
        # Nothing to tell anyone, but keep up: a target added later must not get the whole history.
        newest = conn.execute(select(func.max(events.c.id))).scalar() or cursor.last_event_id
        taken, last, gap_since = [], max(newest, cursor.last_event_id), None
    else:
        rows = conn.execute(
            select(events).where(events.c.id > cursor.last_event_id).order_by(events.c.id).limit(limit)
        ).all()
        taken, gap_since = _contiguous(rows, cursor.last_event_id, cursor.gap_since, now)
        last = taken[-1].id if taken else cursor.last_event_id
    batch: dict[str, queue.Job] = {}
    for row in taken:
        message = build(event_dict(row), public_url)
        if message is None:
            continue
        for target in targets:
            if not wanted(target.config, message):
                continue
            # Two entries posting to the same URL share a key: one message, not two.
            key = f"notify:{row.id}:{target.key}"
            body = _BODIES[target.config.kind](message)
            payload = {"target": target.key, "event_id": row.id, "event": row.kind, "body": body}
            batch.setdefault(key, queue.Job(NOTIFY_JOB, payload, dedupe_key=key))
    queue.enqueue_many(conn, list(batch.values()), now)
    if last == cursor.last_event_id and gap_since == cursor.gap_since:
        return 0
    result = conn.execute(
        update(notify_cursor)
        .where(notify_cursor.c.id == CURSOR_ID, notify_cursor.c.last_event_id == cursor.last_event_id)
        .values(last_event_id=last, gap_since=gap_since, updated_at=now)
    )
    if result.rowcount != 1:
        raise Lost  # rolls back the jobs queued above
    return len(taken)


# ---------------------------------------------------------------- the worker's side


class Notifier:
    """Relays events to jobs (``tick``) and delivers them (``handlers``)."""

    def __init__(self, settings: Settings, db: Database, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.db = db
        self.transport: Any = transport
        self.targets = targets_of(settings)
        self.by_key = {t.key: t for t in self.targets}
        self.client = http.make_client(transport=transport)
        self._order: dict[str, anyio.Lock] = {}

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[None]]]:
        return {NOTIFY_JOB: self.deliver, SLACK_RESPONSE_JOB: self.respond}

    async def tick(self) -> int:
        if not await self.db.run_read(behind):
            return 0
        try:
            return await self.db.run_write(
                relay, self.targets, self.settings.config.server.public_url, clock.now()
            )
        except (Lost, IntegrityError):  # another worker process got there first
            return 0

    async def deliver(self, payload: dict[str, Any]) -> None:
        target = self.by_key.get(payload.get("target", ""))
        if target is None:
            raise http.PermanentError("this [[notify]] target is no longer configured")
        # One target's messages go out in the order they were queued (claims are
        # ordered, and the lock is first come, first served): "unlocked" never
        # overtakes "locked".
        lock = self._order.setdefault(target.key, anyio.Lock())
        async with lock:
            url = target.config.url.get_secret_value()
            if target.config.kind == "slack":
                await slack.send(self.client, url, payload["body"])
            elif target.config.kind == "teams":
                await teams.send(self.client, url, payload["body"])
            elif target.config.kind == "discord":
                await discord.send(self.client, url, payload["body"])
            else:
                secret = target.config.secret.get_secret_value() if target.config.secret else None
                delivery = f"{payload['event_id']}.{target.key}"
                await webhook.send(self.client, url, payload["body"], secret=secret, delivery=delivery)

    async def respond(self, payload: dict[str, Any]) -> None:
        url = payload["url"]
        allowed = self.settings.config.slack.response_url_prefixes
        if not url.startswith(tuple(allowed)):
            log.warning("refused a Slack response_url outside %s: %.200s", allowed, url)
            raise http.PermanentError(f"response_url {url[:200]!r} is not under {', '.join(allowed)}")
        await slack.send(self.client, url, payload["body"], "slack response_url")

    async def close(self) -> None:
        await self.client.aclose()
