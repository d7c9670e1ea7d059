"""/services: what is live where, services × environments, and how far each environment is ahead of the next.

A fixed number of statements whatever the number of services: the live deploy of
every pair, the deploys in progress, the last ``WINDOW`` succeeded deploys of the
services whose environments differ, the commits of the deploys an environment has
that the next one does not run, and which of those commits the next one shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.web.overview import is_judged, latest_ids, ordered_environments, ordered_services

# Deploys read per service and environment for "commits ahead": an environment more than this many
# deploys ahead of the next is shown as "at least" the commits those deploys carry.
WINDOW = 50


@dataclass
class Ahead:
    """How many commits the earlier environment has live that the later one has not shipped."""

    count: int | None  # None: not known (no changes recorded, or nothing live in one of them)
    same: bool = False  # both run the same sha
    at_least: bool = False  # further ahead than WINDOW deploys: a lower bound


@dataclass
class MatrixRow:
    service: str
    name: str
    cells: list[dict[str, Any] | None] = field(default_factory=list)  # live deploy per environment
    deploying: list[dict[str, Any] | None] = field(default_factory=list)
    ahead: list[Ahead] = field(default_factory=list)  # between environment i and i + 1

    @property
    def drift(self) -> bool:
        return any(a.count for a in self.ahead)


def _history(conn: Connection, service_ids: list[int]) -> dict[tuple[int, int], list[tuple[int, str]]]:
    """(service, environment) → [(deploy id, sha)] of its last WINDOW succeeded deploys, newest first."""
    order = (deploys.c.deployed_at.desc(), deploys.c.id.desc())
    ranked = (
        select(deploys.c.id, deploys.c.service_id, deploys.c.environment_id, deploys.c.sha,
               func.row_number().over(partition_by=(deploys.c.service_id, deploys.c.environment_id), order_by=order).label("back"))
        .where(deploys.c.status == "succeeded", deploys.c.service_id.in_(service_ids))
        .subquery()
    )
    query = select(ranked.c.service_id, ranked.c.environment_id, ranked.c.id, ranked.c.sha).where(ranked.c.back <= WINDOW).order_by(
        ranked.c.service_id, ranked.c.environment_id, ranked.c.back
    )
    out: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for service_id, environment_id, deploy_id, sha in conn.execute(query):
        out.setdefault((service_id, environment_id), []).append((deploy_id, sha))
    return out


def _pending(history: list[tuple[int, str]], later_sha: str) -> tuple[list[int], bool]:
    """The earlier environment's deploys since it last ran ``later_sha`` (newest first), and whether that list is complete."""
    out = []
    for deploy_id, sha in history:
        if sha == later_sha:
            return out, True
        out.append(deploy_id)
    # Not found: it never ran it, or ran it before the window (then the count is a lower bound).
    return out, len(history) < WINDOW


def _ahead_counts(conn: Connection, pairs: dict[tuple[int, int, int], tuple[list[int], bool]]) -> dict[tuple[int, int, int], Ahead]:
    """Per (service, earlier env, later env): the commits of the pending deploys the later environment has not shipped.

    Two statements: the pending deploys' commits, then which of those commits each later environment shipped.
    """
    ids = sorted({i for pending, _ in pairs.values() for i in pending})
    commits: dict[int, set[str]] = {}
    for deploy_id, sha in conn.execute(select(deploy_commits.c.deploy_id, deploy_commits.c.sha).where(deploy_commits.c.deploy_id.in_(ids))):
        commits.setdefault(deploy_id, set()).add(sha)
    candidates = sorted({c for group in commits.values() for c in group})
    shipped: dict[tuple[int, int], set[str]] = {}
    if candidates:
        query = (
            select(deploys.c.service_id, deploys.c.environment_id, deploy_commits.c.sha)
            .join(deploys, deploys.c.id == deploy_commits.c.deploy_id)
            .where(deploy_commits.c.sha.in_(candidates), deploys.c.status == "succeeded",
                   deploys.c.service_id.in_(sorted({sid for sid, _, _ in pairs})),
                   deploys.c.environment_id.in_(sorted({later for _, _, later in pairs})))
        )
        for service_id, environment_id, sha in conn.execute(query):
            shipped.setdefault((service_id, environment_id), set()).add(sha)
    out = {}
    for (service_id, earlier, later), (pending, complete) in pairs.items():
        mine = set().union(*(commits.get(i, set()) for i in pending)) if pending else set()
        if not mine:
            out[(service_id, earlier, later)] = Ahead(None)  # no changes recorded for those deploys: not known
            continue
        out[(service_id, earlier, later)] = Ahead(len(mine - shipped.get((service_id, later), set())), at_least=not complete)
    return out


_CELL = (deploys.c.id, deploys.c.service_id, deploys.c.environment_id, deploys.c.sha, deploys.c.version,
         deploys.c.deployed_at, deploys.c.health_state, deploys.c.health_reason)
_LIVE = select(*_CELL).where(deploys.c.id.in_(latest_ids(deploys.c.status == "succeeded")))
_STARTED = select(deploys.c.id, deploys.c.service_id, deploys.c.environment_id, deploys.c.sha).where(deploys.c.status == "started")


def _cell(r: Any, now: datetime) -> dict[str, Any]:
    """What a matrix cell shows: 800 of them, so a few columns, not a whole deploy."""
    return {
        "id": r.id, "sha": r.sha, "version": r.version, "age_seconds": max(0.0, (now - r.deployed_at).total_seconds()),
        "health": {"state": r.health_state}, "judged": is_judged(r.health_state, r.health_reason),
    }


def services_matrix(conn: Connection, now: datetime, *, config_order: list[str], query: str = "") -> dict[str, Any]:
    envs = ordered_environments(conn)
    svcs = ordered_services(conn, config_order)
    if query:
        q = query.lower()
        svcs = [s for s in svcs if q in s.slug.lower() or q in (s.name or "").lower()]
    live: dict[tuple[int, int], dict[str, Any]] = {}
    for r in conn.execute(_LIVE):
        live[(r.service_id, r.environment_id)] = _cell(r, now)
    started = {(r.service_id, r.environment_id): {"id": r.id, "sha": r.sha} for r in conn.execute(_STARTED)}
    # Only services whose consecutive environments run different shas have commits to count.
    steps = list(zip(envs, envs[1:], strict=False))
    differ = [
        s.id for s in svcs
        if any((a := live.get((s.id, x.id))) and (b := live.get((s.id, y.id))) and a["sha"] != b["sha"] for x, y in steps)
    ]
    history = _history(conn, differ) if differ else {}
    pairs = {}
    for sid in differ:
        for x, y in steps:
            a, b = live.get((sid, x.id)), live.get((sid, y.id))
            if a and b and a["sha"] != b["sha"]:
                pairs[(sid, x.id, y.id)] = _pending(history.get((sid, x.id), []), b["sha"])
    counts = _ahead_counts(conn, pairs) if pairs else {}
    rows = []
    for s in svcs:
        row = MatrixRow(s.slug, s.name or s.slug)
        for e in envs:
            row.cells.append(live.get((s.id, e.id)))
            row.deploying.append(started.get((s.id, e.id)))
        for x, y in steps:
            a, b = live.get((s.id, x.id)), live.get((s.id, y.id))
            if a is None or b is None:
                row.ahead.append(Ahead(None))
            elif a["sha"] == b["sha"]:
                row.ahead.append(Ahead(0, same=True))
            else:
                row.ahead.append(counts[(s.id, x.id, y.id)])
        rows.append(row)
    return {"environments": envs, "rows": rows}
