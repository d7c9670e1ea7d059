"""The scheduler's side of the gate: notice every gate change exactly once.

Each watched scope (an environment, or one service in one environment) has a
``gate_watch`` row with the last state seen and when to look again. Anything
that may change a gate (a lock taken or ended, a deploy started or finished)
marks the rows of its environment due *in the same transaction*; the passing
of time is covered by ``next_check_at``, set to the next schedule boundary,
scheduled lock start or lock expiry. The worker re-evaluates due rows and, when the state differs,
records ``gate_changed`` (and ``window_opened``/``window_closed``) and queues
what follows, all in one transaction guarded by the row's version: two
workers can race, only one commit wins, and a crash mid-way loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from shiplane.catalog import service as catalog
from shiplane.db import after_commit, conflict_insert
from shiplane.events import service as events
from shiplane.locks.calendar import Schedule
from shiplane.locks.gate import Gate, GateInputs, evaluate
from shiplane.settings import Config
from shiplane.settings.lookups import merge_gate_environment
from shiplane.tables.catalog import environments, services
from shiplane.tables.locks import gate_watch


def _key(environment_id: int, service_id: int | None) -> str:
    return f"{environment_id}:{service_id if service_id is not None else '*'}"


def ensure(conn: Connection, environment_id: int, service_id: int | None, now: datetime) -> None:
    """Start watching a scope (idempotent). It is evaluated on the worker's next tick."""
    ins = conflict_insert(conn.dialect.name, gate_watch)
    conn.execute(
        ins.values(
            environment_id=environment_id,
            service_id=service_id,
            scope_key=_key(environment_id, service_id),
            next_check_at=now,
            version=0,
        ).on_conflict_do_nothing(index_elements=["scope_key"])
    )


def watch_scope(conn: Connection, environment_id: int, service_id: int | None, now: datetime, cache: catalog.Cache | None) -> None:
    """Make sure the scheduler watches this scope and its environment (cached: once per process)."""
    for key in ((environment_id, service_id), (environment_id, None)):
        if cache is not None and key in cache.watched:
            continue
        ensure(conn, key[0], key[1], now)
        if cache is not None:
            after_commit(conn, lambda key=key: cache.watched.add(key))


def watch_configured_scopes(conn: Connection, config: Config, now: datetime) -> None:
    """Every configured environment, and every configured service in its merge-gate environment."""
    # A merge gate must be watched from the start, even before anything was deployed there.
    for svc in config.services:
        if svc.repo:
            gate_env = catalog.environment(conn, merge_gate_environment(config, svc.merge_gate), auto_create=True, now=now)
            svc_id = catalog.find(conn, services, svc.slug)
            if svc_id is not None:
                ensure(conn, gate_env.id, svc_id, now)
    for env_id in conn.execute(select(environments.c.id)).scalars():
        ensure(conn, env_id, None, now)


def mark_due(conn: Connection, environment_id: int, now: datetime) -> None:
    """Something in this environment changed: look at all its scopes now."""
    conn.execute(
        update(gate_watch)
        .where(
            gate_watch.c.environment_id == environment_id,
            or_(gate_watch.c.next_check_at.is_(None), gate_watch.c.next_check_at > now),
        )
        .values(next_check_at=now)
    )


def mark_all_due(conn: Connection, now: datetime) -> None:
    conn.execute(update(gate_watch).values(next_check_at=now))


def mark_scope_due(conn: Connection, environment_id: int, service_id: int | None, now: datetime) -> None:
    """A deploy changed in one scope: look at that scope now (its environment's gate is unaffected)."""
    conn.execute(
        update(gate_watch)
        .where(
            gate_watch.c.scope_key == _key(environment_id, service_id),
            or_(gate_watch.c.next_check_at.is_(None), gate_watch.c.next_check_at > now),
        )
        .values(next_check_at=now)
    )


def due(conn: Connection, now: datetime, limit: int = 500) -> list[int]:
    return list(
        conn.execute(
            select(gate_watch.c.id)
            .where(gate_watch.c.next_check_at <= now)
            .order_by(gate_watch.c.next_check_at, gate_watch.c.id)
            .limit(limit)
        ).scalars()
    )


def next_check(conn: Connection) -> datetime | None:
    from sqlalchemy import func

    return conn.execute(select(func.min(gate_watch.c.next_check_at))).scalar()


def signature(gate: Gate) -> str:
    parts = sorted((b.kind, b.reason, b.lock_id or 0, b.deploy_id or 0) for b in gate.blockers)
    return hashlib.sha256(json.dumps([gate.allowed, parts]).encode()).hexdigest()


@dataclass(frozen=True)
class GateChange:
    environment_id: int
    service_id: int | None
    gate: Gate
    previous_allowed: bool | None
    previous_blockers: list[dict[str, Any]]


class Lost(Exception):
    """Another worker processed this row first; roll back and move on."""


# (conn, change, now) -> None; called inside the transaction that records the change.
Reaction = Callable[[Connection, GateChange, datetime], None]


def process(
    conn: Connection,
    watch_id: int,
    schedule: Schedule,
    now: datetime,
    load: Callable[[Connection, int, int | None], GateInputs],
    reactions: tuple[Reaction, ...] = (),
) -> GateChange | None:
    """Re-evaluate one scope; record and react to a change. Raises ``Lost`` if beaten to it."""
    row = conn.execute(select(gate_watch).where(gate_watch.c.id == watch_id)).first()
    if row is None or row.next_check_at is None or row.next_check_at > now:
        return None
    inputs = load(conn, row.environment_id, row.service_id)
    gate = evaluate(inputs, now)
    sig = signature(gate)
    blockers = [b.to_dict() for b in gate.blockers]
    # Wake at the next instant anything in the blocker set may change, not only
    # when "allowed" flips: a freeze ending under a lock changes what we show.
    edges = [gate.next_change_at, inputs.schedule.next_boundary(now)]
    edges.append(inputs.lock_index.next_edge(now))  # the next expiry or scheduled start
    next_at = min((e for e in edges if e is not None), default=None)

    # First sight of a scope counts as a change only when it is closed: "open"
    # is what everyone assumes of a gate nobody has looked at yet.
    changed = row.signature != sig if row.signature is not None else not gate.allowed
    result = conn.execute(
        update(gate_watch)
        .where(gate_watch.c.id == watch_id, gate_watch.c.version == row.version)
        .values(
            allowed=gate.allowed,
            blockers=blockers,
            signature=sig,
            next_check_at=next_at,
            version=row.version + 1,
            changed_at=now if changed or row.signature is None else row.changed_at,
        )
    )
    if result.rowcount != 1:
        raise Lost
    if not changed:
        return None
    change = GateChange(row.environment_id, row.service_id, gate, row.allowed, list(row.blockers or []))
    _record(conn, change, inputs, now)
    for react in reactions:
        react(conn, change, now)
    return change


def _window_kinds(blockers: list[dict[str, Any]]) -> bool:
    return any(b["kind"] == "window" for b in blockers)


def _record(conn: Connection, change: GateChange, inputs: GateInputs, now: datetime) -> None:
    gate = change.gate
    new_blockers = [b.to_dict() for b in gate.blockers]
    events.record(
        conn,
        "gate_changed",
        now,
        actor="system",
        environment=gate.environment,
        service=gate.service,
        data={
            "allowed": gate.allowed,
            "previous_allowed": change.previous_allowed,
            "blockers": new_blockers,
            "next_change_at": gate.to_dict()["next_change_at"],
        },
    )
    # Window events belong to the scope the window rule was written for: the
    # environment, or a service only when a rule names that service.
    if gate.service is not None and not any(w.scope.services for w in inputs.schedule.windows):
        return
    was, now_closed = _window_kinds(change.previous_blockers), _window_kinds(new_blockers)
    if was != now_closed:
        events.record(
            conn,
            "window_closed" if now_closed else "window_opened",
            now,
            actor="system",
            environment=gate.environment,
            service=gate.service,
            data={"blockers": new_blockers},
        )

