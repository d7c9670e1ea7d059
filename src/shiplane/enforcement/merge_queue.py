"""GitHub merge queues during a lock (the database side): hold, release, and say when GitHub gave up.

GitHub waits for a merge group's required checks up to the queue's "Status check timeout", then
removes the pull request from the queue ("Timed out awaiting a successful CI result"); a group
that cannot be merged because a ruleset blocks the branch is removed too ("Branch protection
failure"). See docs.github.com, "Managing a merge queue" and "Merging a pull request with a merge
queue". So Shiplane holds a group that asks for checks while the gate is closed (a pending status
on its head, the group recorded as ``held``), releases every held group with ``success`` once the
gate is open and the branch unfrozen, and when GitHub drops a group during a lock (``merge_group``
``destroyed`` with reason ``dequeued``) records ``merge_group_dequeued`` so that people hear which
pull request to queue again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from shiplane.enforcement.forges.base import MergeGroup
from shiplane.enforcement.targets import Target, upsert
from shiplane.events import service as events
from shiplane.tables.enforcement import merge_groups


def hold(conn: Connection, forge: str, group: MergeGroup, now: datetime) -> None:
    upsert(
        conn,
        merge_groups,
        {
            "forge": forge,
            "repo": group.repo,
            "head_sha": group.head_sha,
            "head_ref": group.head_ref[:300],
            "base": group.base,
            "pulls": list(group.pulls),
            "state": "held",
            "requested_at": now,
            "updated_at": now,
        },
        ["forge", "repo", "head_sha"],
        ["state", "updated_at"],
    )


def held(conn: Connection, target: Target) -> list[Any]:
    return conn.execute(
        select(merge_groups).where(
            merge_groups.c.forge == target.forge,
            merge_groups.c.repo == target.repo,
            merge_groups.c.base == target.branch,
            merge_groups.c.state == "held",
        )
    ).all()


def mark(conn: Connection, ids: list[int], state: str, now: datetime) -> None:
    if ids:
        conn.execute(update(merge_groups).where(merge_groups.c.id.in_(ids)).values(state=state, updated_at=now))


def destroyed(conn: Connection, target: Target, group: MergeGroup, gate_closed: bool, lock: str, now: datetime) -> str | None:
    """A group left the queue. Dropped while held or while the gate is closed: record who must re-queue."""
    row = conn.execute(
        select(merge_groups).where(
            merge_groups.c.forge == target.forge, merge_groups.c.repo == group.repo, merge_groups.c.head_sha == group.head_sha
        )
    ).first()
    reason = group.reason or "dequeued"
    if row is not None:
        mark(conn, [row.id], "merged" if reason == "merged" else reason, now)
    if reason != "dequeued" or not (gate_closed or (row is not None and row.state == "held")):
        return None  # merged, or rebuilt by GitHub (invalidated): nothing is lost
    pulls = list(group.pulls) or (list(row.pulls) if row is not None else [])
    events.record(
        conn,
        "merge_group_dequeued",
        now,
        actor="system",
        environment=target.environment,
        service=target.service,
        data={
            "forge": target.forge,
            "forge_title": target.forge_title or target.forge,
            "repo": group.repo,
            "pulls": pulls,
            "head_sha": group.head_sha,
            "held": row is not None and row.state == "held",
            "lock": lock,
        },
    )
    return "merge_group_dequeued"
