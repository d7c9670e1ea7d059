"""The deploys behind a DORA figure, newest first, each with what it contributes and why (SPEC §8.9).

`deploys_behind` walks back from the end of the range in windows — the next one sized by the
rate of matching deploys seen so far, four times longer while none was seen — computing the
exact facts of each window with `rows.facts` (the same facts the report adds up), until it
has a page. The first page of a common metric therefore reads an hour or a
few of deploys, not the year; a cursor (the last deploy's time and id) continues from there.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.deploys.service import decode_cursor, encode_cursor, joined, to_dict
from shiplane.dora import metrics, rows
from shiplane.dora import service as dora_service
from shiplane.dora.summary import Shipped
from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.tables.health import incidents

METRICS = ("deploys", "failed", "lead_time", "recovery", "rework")
FIRST_WINDOW = timedelta(hours=1)
GROWTH = 4
TICK = timedelta(microseconds=1)

_WANTED = {
    "deploys": lambda f: True,
    "failed": lambda f: f.failed,
    "lead_time": lambda f: bool(f.leads) or f.unknown > 0,
    "recovery": lambda f: f.failed,  # recovered (with its time) or open
    "rework": lambda f: f.rework,
}

_CARDS = joined().where(deploys.c.id.in_(bindparam("ids", expanding=True)))
_FIRST_COMMITS = (
    select(deploy_commits.c.deploy_id, deploy_commits.c.sha, deploy_commits.c.committed_at, deploy_commits.c.position)
    .join(deploys, deploys.c.id == deploy_commits.c.deploy_id)
    .where(deploy_commits.c.deploy_id.in_(bindparam("ids", expanding=True)), rows.FIRST_SHIPPED)
    .order_by(deploy_commits.c.deploy_id, deploy_commits.c.position)
)
_INCIDENTS = select(incidents.c.deploy_id, incidents.c.key, incidents.c.resolved_at).where(
    incidents.c.deploy_id.in_(bindparam("ids", expanding=True))
)


def deploys_behind(
    conn: Connection,
    *,
    metric: str,
    since: datetime,
    until: datetime,
    environment: str | None = None,
    service: str | None = None,
    tz: str = "UTC",
    failure_states: tuple[str, ...] = metrics.DEFAULT_FAILURE_STATES,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}")
    environment, env_id, svc_id, _ = dora_service.scope(
        conn, environment=environment, service=service, since=since, until=until
    )
    since = dora_service.clip(since, until, dora_service.tracking_start(conn, env_id, tz))
    failing = tuple(sorted(set(failure_states)))
    wanted = _WANTED[metric]
    end = until
    after: tuple[float, int] | None = None
    if cursor:
        at, ident = decode_cursor(cursor)
        after = (at.timestamp(), ident)
        end = min(until, at + TICK)
    found: list[Shipped] = []
    window = FIRST_WINDOW
    if metric in ("failed", "recovery"):
        # The failed deploys are known from their rows (health, a DORA failure, an incident):
        # find the page's newest first through the environment's time index, then compute the
        # exact facts of just the span they cover.
        cut = (at, ident) if cursor else (until, 0)  # strictly before the cursor's deploy, or until
        picked = conn.execute(
            _failed_candidates(svc_id is not None, failing),
            {"eid": env_id, "sid": svc_id, "lo": since, "cat": cut[0], "cid": cut[1], "n": limit + 1},
        ).all()
        if not picked:
            end = since  # nothing failed in range: no facts to read
        else:
            lo = min(r.deployed_at for r in picked)
            found = [
                f
                for f in rows.facts(conn, environment_id=env_id, service_id=svc_id, lo=lo, hi=end, failure_states=failing,
                                    with_changes=False)
                if f.failed and (after is None or (f.at, f.id) < after)
            ]
            end = since
    elif metric == "rework":
        # Rework is a rollback, or the deploy after a failed one: the newest of those rows size
        # the first window (the walk below goes on if it holds fewer than a page).
        cut = (at, ident) if cursor else (until, 0)
        params = {"eid": env_id, "sid": svc_id, "lo": since, "cat": cut[0], "cid": cut[1], "n": limit + 1}
        times = sorted(
            [r.deployed_at for r in conn.execute(_failed_candidates(svc_id is not None, failing, rollbacks=True), params)],
            reverse=True,
        )
        if times:
            window = max(FIRST_WINDOW, end - times[min(limit, len(times) - 1)])
    while end > since:
        lo = max(since, end - window)
        found_here = rows.facts(
            conn, environment_id=env_id, service_id=svc_id, lo=lo, hi=end, failure_states=failing,
            with_changes=metric == "lead_time",  # the page's own commits are read below, for its 50 deploys only
        )
        for f in found_here:
            if wanted(f) and (after is None or (f.at, f.id) < after):
                found.append(f)
        if len(found) > limit:
            break
        # Next, a window that should hold the rest at the rate seen so far (at least GROWTH times
        # longer when nothing was found yet): two or three reads for a page, not a dozen.
        walked = (until if after is None else min(until, at + TICK)) - lo
        rate = len(found) / walked.total_seconds() if found else 0.0
        wanted_more = limit + 1 - len(found)
        estimate = timedelta(seconds=1.5 * wanted_more / rate) if rate else window * GROWTH
        end, window = lo, max(window * GROWTH if not rate else window, estimate)
    found.sort(key=lambda f: (f.at, f.id), reverse=True)
    page = found[:limit]
    items = _items(conn, page, failing)
    next_cursor = None
    if len(found) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last["_at"], last["id"])
    for item in items:
        del item["_at"]
    return {
        "environment": environment,
        "service": service,
        "metric": metric,
        "since": iso(since),
        "until": iso(until),
        "items": items,
        "next_cursor": next_cursor,
    }


_FAILED: dict[tuple[bool, tuple[str, ...], bool], Any] = {}


def _failed_candidates(one_service: bool, failing: tuple[str, ...], rollbacks: bool = False) -> Any:
    """Counted deploys from ``lo`` up to (not including) the deploy ``(cat, cid)`` that fail (as
    `rows.facts` decides; with `rollbacks`, rollbacks too), newest first, at most ``n``."""
    key = (one_service, failing, rollbacks)
    if key not in _FAILED:
        where = [
            deploys.c.environment_id == bindparam("eid"),
            deploys.c.deployed_at >= bindparam("lo"),
            deploys.c.deployed_at <= bindparam("cat"),  # an index range; the tie is settled by id below
            or_(deploys.c.deployed_at < bindparam("cat"), deploys.c.id < bindparam("cid")),
            deploys.c.status.in_(rows.COUNTED),
            or_(rows.failed(deploys, failing), *([deploys.c.rollback_of.is_not(None)] if rollbacks else [])),
        ]
        if one_service:
            where.append(deploys.c.service_id == bindparam("sid"))
        _FAILED[key] = (
            select(deploys.c.id, deploys.c.deployed_at)
            .where(*where)
            .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
            .limit(bindparam("n"))
        )
    return _FAILED[key]


def _items(conn: Connection, page: list[Shipped], failing: tuple[str, ...]) -> list[dict[str, Any]]:
    if not page:
        return []
    ids = [f.id for f in page]
    cards = {r.id: r for r in conn.execute(_CARDS, {"ids": ids})}
    commits: dict[int, list[Any]] = {}
    for r in conn.execute(_FIRST_COMMITS, {"ids": ids}):
        commits.setdefault(r.deploy_id, []).append(r)
    attached: dict[int, list[Any]] = {}
    for r in conn.execute(_INCIDENTS, {"ids": ids}):
        attached.setdefault(r.deploy_id, []).append(r)
    out = []
    for f in page:
        row = cards[f.id]
        item = to_dict(row)
        item["_at"] = row.deployed_at
        item["contribution"] = contribution(f, row, commits.get(f.id, []), attached.get(f.id, []), failing)
        out.append(item)
    return out


def contribution(f: Shipped, row: Any, commits: list[Any], attached: list[Any], failing: tuple[str, ...]) -> dict[str, Any]:
    """What one counted deploy adds to each figure, and why."""
    seen: set[str] = set()
    leads, unknown = [], 0
    for c in commits:
        if c.sha in seen:
            continue
        seen.add(c.sha)
        if c.committed_at is None:
            unknown += 1
        else:
            leads.append({"sha": c.sha, "committed_at": iso(c.committed_at), "seconds": max(0.0, f.at - c.committed_at.timestamp())})
    by_incident = metrics.BY_INCIDENT in failing
    because = []
    if not by_incident and row.health_state in failing and not (row.health_state == "incident" and attached):
        because.append(f"health: {row.health_state}")
    because += [f"incident {i.key}" for i in attached]
    if row.dora_failure and not by_incident:
        because.append(row.dora_failure)
    recovered_by = None
    if f.recovery is not None:
        if f.restored_by is not None:
            recovered_by = f"deploy #{f.restored_by}"
        else:
            first = min((i for i in attached if i.resolved_at is not None), key=lambda i: i.resolved_at, default=None)
            recovered_by = f"incident {first.key} resolved" if first else "incident resolved"
    rework = None
    if f.rework:
        rework = f"rollback of #{row.rollback_of}" if row.rollback_of is not None else f"deployed while #{f.rework_after} was failing"
    return {
        "deploys": 1,
        "lead_times": leads,
        "unknown_commits": unknown,
        "failed": f.failed,
        "failed_because": because if f.failed else [],
        "recovery_seconds": f.recovery,
        "recovered_by": recovered_by,
        "open": f.failed and f.recovery is None,
        "rework": f.rework,
        "rework_because": rework,
    }
