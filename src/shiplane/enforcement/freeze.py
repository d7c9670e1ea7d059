"""A branch frozen in one forge write, kept as desired state (the database side).

Record, then deliver: a gate change writes the wanted freeze (``branch_freezes.desired``) and a
``freeze:<forge>`` job in the same transaction. The job reads what the forge has, writes once if
that differs (create, restore or delete Shiplane's own ruleset or restriction; set or restore
GitLab's merge access), and records the outcome here. While the gate is closed, a check is queued
every ``RECHECK`` so that a freeze deleted or edited by hand is put back.

A permanent error (403 without a rate limit: no Administration permission) marks the freeze
``failed``: the service's pull requests then get statuses as under ``merge_freeze = "statuses"``
until a freeze succeeds again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.enforcement.forges.base import FreezeSpec, Observed
from shiplane.enforcement.targets import Target, upsert
from shiplane.events import service as events
from shiplane.jobs import queue
from shiplane.tables.enforcement import branch_freezes, merge_sync

RECHECK = timedelta(minutes=10)  # §8.3: at least every 10 minutes while the gate is closed
# Of a forge's write budget (writes a minute, an hour), the share kept for freeze writes: a lock
# with a backlog of status writes (GitHub.com: 500 an hour) must not wait an hour to freeze. Only
# writes count (a lock, an unlock, a freeze put back): four a minute, twenty-four an hour.
RESERVE = (4, 24)


def job(forge: str) -> str:
    return f"freeze:{forge}"


def split_budget(per_minute: int, per_hour: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Pure: the (per minute, per hour) budgets of status writes and of freeze writes, which together
    never exceed the forge's; None when the budget is too small to split (one pacer is shared).
    0 means unpaced, for both."""
    shares = []
    for limit, reserve in zip((per_minute, per_hour), RESERVE):
        if limit == 0:
            shares.append((0, 0))
        elif limit >= 5 * reserve:
            shares.append((limit - reserve, reserve))
        else:
            return None
    (status_m, freeze_m), (status_h, freeze_h) = shares
    return (status_m, status_h), (freeze_m, freeze_h)


def _row(conn: Connection, service: str) -> Any:
    return conn.execute(select(branch_freezes).where(branch_freezes.c.service == service)).first()


def request(conn: Connection, target: Target, closed: bool, now: datetime, *, force: bool = False) -> bool:
    """Record the freeze the gate wants and queue its delivery. Returns whether a job was queued."""
    desired = "frozen" if closed else "open"
    row = _row(conn, target.service)
    if row is not None and row.desired == desired and not force:
        return False
    upsert(
        conn,
        branch_freezes,
        {
            "service": target.service,
            "forge": target.forge,
            "repo": target.repo,
            "branch": target.branch,
            "desired": desired,
            "state": "open",
            "writing": False,
            "failed": False,
            "updated_at": now,
        },
        ["service"],
        ["forge", "repo", "branch", "desired", "updated_at"],
    )
    # No dedupe key: the job converges on whatever is desired when it runs, so a second one is
    # harmless, and a lock-unlock-lock within one tick must not lose its last word.
    queue.enqueue(conn, job(target.forge), {"service": target.service}, now)
    return True


def schedule_check(conn: Connection, target: Target, now: datetime) -> None:
    """The next look at a closed gate's freeze, unless one is already coming. Only the latest one
    scheduled counts (``check_due``): a check job replaced by a later schedule does nothing."""
    pending = conn.execute(select(branch_freezes.c.next_check_at).where(branch_freezes.c.service == target.service)).scalar()
    if pending is not None and pending > now:
        return
    due = now + RECHECK
    conn.execute(update(branch_freezes).where(branch_freezes.c.service == target.service).values(next_check_at=due))
    queue.enqueue(conn, job(target.forge), {"service": target.service, "check": iso(due)}, now, run_at=due)


def check_due(conn: Connection, target: Target, check: str) -> bool:
    """Is this periodic check the one still wanted (not one that a later schedule replaced)?"""
    due = conn.execute(select(branch_freezes.c.next_check_at).where(branch_freezes.c.service == target.service)).scalar()
    return iso(due) == check


def spec(conn: Connection, target: Target) -> tuple[bool, FreezeSpec]:
    """Whether the gate wants the branch frozen, and what Shiplane knows of its freeze."""
    row = _row(conn, target.service)
    if row is None:
        return False, FreezeSpec(target.freeze_name)
    return row.desired == "frozen", FreezeSpec(target.freeze_name, row.ref, row.previous, row.writing)


def needs_write(want: bool, observed: Observed, known: FreezeSpec) -> bool:
    """Pure: does the forge differ from what the gate wants?

    Opening touches only what Shiplane froze: its own object (``ref``), or GitLab access levels
    it stored before setting them to no one (``previous``).
    """
    if want:
        return not (observed.frozen and observed.matches)
    return observed.frozen and (observed.ref is not None or known.previous is not None)


def record_intent(conn: Connection, target: Target, want: bool, observed: Observed, known: FreezeSpec, now: datetime) -> None:
    """Before the write: a create may lose its answer (adopt it later), and GitLab's levels must be kept first."""
    values: dict[str, Any] = {"writing": want and observed.ref is None, "updated_at": now}
    if want and known.previous is None and observed.current is not None:
        values["previous"] = observed.current
    conn.execute(update(branch_freezes).where(branch_freezes.c.service == target.service).values(**values))


def record_outcome(
    conn: Connection, target: Target, want: bool, observed: Observed, wrote: bool, now: datetime
) -> str | None:
    """After the forge answered (or matched already). Returns the event recorded, if any."""
    row = _row(conn, target.service)
    if row is None:
        return None
    state = "frozen" if observed.frozen else "open"
    values: dict[str, Any] = {"state": state, "ref": observed.ref, "writing": False, "checked_at": now, "updated_at": now}
    if state == "open":
        values["previous"] = None
    if want and observed.frozen:
        values.update(failed=False, last_error=None, last_error_at=None)
    kind = None
    if wrote and state != row.state:
        values["changed_at"] = now
        kind = "branch_frozen" if state == "frozen" else "branch_unfrozen"
    elif wrote and state == "frozen":
        kind = "branch_frozen"  # ours was deleted or edited by hand: put back
    conn.execute(update(branch_freezes).where(branch_freezes.c.service == target.service).values(**values))
    if kind:
        data = _event_data(conn, target)
        if kind == "branch_frozen" and row.state == "frozen":
            data["restored"] = True
        if observed.ref:
            data["ref"] = observed.ref
        events.record(conn, kind, now, actor="system", environment=target.environment, service=target.service, data=data)
    return kind


def record_failure(conn: Connection, target: Target, want: bool, message: str, now: datetime) -> bool:
    """A permanent forge error: statuses take over. Returns whether this is news (not already failed)."""
    row = _row(conn, target.service)
    if row is None:
        return False
    conn.execute(
        update(branch_freezes)
        .where(branch_freezes.c.service == target.service)
        .values(failed=True, writing=False, last_error=message[:2000], last_error_at=now, updated_at=now)
    )
    if row.failed and row.last_error == message[:2000]:
        return False
    data = _event_data(conn, target) | {"error": message[:2000], "desired": "frozen" if want else "open", "fallback": "statuses"}
    events.record(conn, "branch_freeze_failed", now, actor="system", environment=target.environment, service=target.service, data=data)
    return True


def _event_data(conn: Connection, target: Target) -> dict[str, Any]:
    """What a message about the freeze needs, so that notify can say it without asking enforcement."""
    data: dict[str, Any] = {
        "forge": target.forge,
        "forge_title": target.forge_title or target.forge,
        "repo": target.repo,
        "branch": target.branch,
        "mode": target.merge_freeze,
    }
    if target.merge_freeze == "both":
        sync = conn.execute(select(merge_sync).where(merge_sync.c.service == target.service)).first()
        if sync is not None:
            data["statuses"] = {"done": sync.done, "total": sync.total, "pulls": sync.pulls}
    return data


def effective_mode(conn: Connection, target: Target) -> str:
    """The target's merge_freeze, or "statuses" while its branch freeze has failed for good."""
    if not target.freezes:
        return "statuses"
    failed = conn.execute(select(branch_freezes.c.failed).where(branch_freezes.c.service == target.service)).scalar()
    return "statuses" if failed else target.merge_freeze


def is_open(conn: Connection, target: Target) -> bool:
    """Is the forge's branch open (nothing of Shiplane's freezing it)? Held merge groups wait for this."""
    if not target.freezes:
        return True
    state = conn.execute(select(branch_freezes.c.state).where(branch_freezes.c.service == target.service)).scalar()
    return state != "frozen"


def states(conn: Connection) -> dict[str, dict[str, Any]]:
    """Per service: the freeze as the dashboard shows it."""
    return {
        r.service: {
            "forge": r.forge,
            "desired": r.desired,
            "state": r.state,
            "ref": r.ref,
            "failed": r.failed,
            "last_error": r.last_error,
            "last_error_at": iso(r.last_error_at),
            "changed_at": iso(r.changed_at),
            "checked_at": iso(r.checked_at),
        }
        for r in conn.execute(select(branch_freezes))
    }
