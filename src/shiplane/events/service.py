"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.db import after_commit
from shiplane.tables.events import events

_INSERT = insert(events)


def record(
    conn: Connection,
    kind: str,
    now: datetime,
    *,
    actor: str | None = None,
    environment: str | None = None,
    service: str | None = None,
    deploy_id: int | None = None,
    lock_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        _INSERT,
        {
            "at": now,
            "kind": kind,
            "actor": actor,
            "environment": environment,
            "service": service,
            "deploy_id": deploy_id,
            "lock_id": lock_id,
            "data": data or {},
        },
    )
    announce(conn, kind)


def announce(conn: Connection, kind: str) -> None:
    """Tell open dashboards, once this transaction has committed (see shiplane.web.live)."""
    bus = conn.info.get("bus")
    if bus is not None:
        after_commit(conn, lambda: bus.announce(kind))


def to_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "kind": row.kind,
        "actor": row.actor,
        "environment": row.environment,
        "service": row.service,
        "deploy_id": row.deploy_id,
        "lock_id": row.lock_id,
        "data": row.data or {},
    }


def list_events(
    conn: Connection, *, since: datetime | None = None, kind: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(events).order_by(events.c.at, events.c.id).limit(limit)
    if since is not None:
        query = query.where(events.c.at >= since)
    if kind:
        query = query.where(events.c.kind == kind)
    return [to_dict(row) for row in conn.execute(query)]
