"""/services: what is live where, services × environments, and how far each environment is ahead of the next.

A fixed number of statements whatever the number of services: the live deploy of
every pair, the deploys in progress, and the commits shipped since the oldest
live deploy of the later environments (``commits ahead`` is worked out in Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.web.overview import LIVE, STARTED, card, ordered_environments, ordered_services

LOOKBACK = timedelta(days=90)


@dataclass
class Ahead:
    """How many commits the earlier environment has live that the later one has not shipped."""

    count: int | None  # None: not known (no changes recorded, or nothing live in one of them)
    same: bool = False  # both run the same sha


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


Shipped = list[tuple[tuple[datetime, int], str, str]]  # ((deployed_at, deploy id), deploy sha, commit sha)


def _shipped(conn: Connection, since: datetime | None) -> dict[tuple[int, int], Shipped]:
    """(service, environment) → the commits of its succeeded deploys since ``since``."""
    query = (
        select(deploys.c.service_id, deploys.c.environment_id, deploys.c.deployed_at, deploys.c.id, deploys.c.sha,
               deploy_commits.c.sha.label("commit_sha"))
        .join(deploy_commits, deploy_commits.c.deploy_id == deploys.c.id)
        .where(deploys.c.status == "succeeded")
    )
    if since is not None:
        query = query.where(deploys.c.deployed_at >= since)
    out: dict[tuple[int, int], Shipped] = {}
    for r in conn.execute(query):
        out.setdefault((r.service_id, r.environment_id), []).append(((r.deployed_at, r.id), r.sha, r.commit_sha))
    return out


def ahead(earlier: dict[str, Any] | None, later: dict[str, Any] | None, mine: Shipped, theirs: Shipped) -> Ahead:
    """The commits the earlier environment shipped up to its live deploy, since it last ran what the later
    one runs now (or, if it never did, since the later one's live deploy), that the later one has not shipped."""
    if earlier is None or later is None:
        return Ahead(None)
    if earlier["sha"] == later["sha"]:
        return Ahead(0, same=True)
    top, their_top = (earlier["_at"], earlier["id"]), (later["_at"], later["id"])
    ran_theirs = [key for key, deploy_sha, _ in mine if deploy_sha == later["sha"] and key <= top]
    anchor = max(ran_theirs) if ran_theirs else their_top
    commits = {c for key, _, c in mine if anchor < key <= top}
    if not commits:
        return Ahead(None)  # no changes recorded for those deploys: not known
    shipped = {c for key, _, c in theirs if key <= their_top} | {later["sha"]}
    return Ahead(len(commits - shipped))


def services_matrix(conn: Connection, now: datetime, *, config_order: list[str], query: str = "") -> dict[str, Any]:
    envs = ordered_environments(conn)
    svcs = ordered_services(conn, config_order)
    if query:
        q = query.lower()
        svcs = [s for s in svcs if q in s.slug.lower() or q in (s.name or "").lower()]
    live: dict[tuple[int, int], dict[str, Any]] = {}
    for r in conn.execute(LIVE):
        c = card(r, now)
        c["_at"] = r.deployed_at
        live[(r.service_id, r.environment_id)] = c
    started = {(r.service_id, r.environment_id): card(r, now) for r in conn.execute(STARTED)}
    # Commits are read from LOOKBACK before the oldest live deploy of a later environment: an earlier
    # environment that ran that sha longer ago than that is counted from the later one's deploy instead.
    later_times = [c["_at"] for (_, env_id), c in live.items() if env_id != envs[0].id] if envs else []
    shipped = _shipped(conn, min(later_times) - LOOKBACK) if later_times else {}
    rows = []
    for s in svcs:
        row = MatrixRow(s.slug, s.name or s.slug)
        for e in envs:
            row.cells.append(live.get((s.id, e.id)))
            row.deploying.append(started.get((s.id, e.id)))
        for a, b in zip(envs, envs[1:], strict=False):
            row.ahead.append(
                ahead(live.get((s.id, a.id)), live.get((s.id, b.id)), shipped.get((s.id, a.id), []), shipped.get((s.id, b.id), []))
            )
        rows.append(row)
    return {"environments": envs, "rows": rows}
