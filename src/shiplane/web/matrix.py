"""/services: what is live where, services × environments, and how far each environment is ahead of the next.

A fixed number of statements whatever the number of services: the live deploy of
every pair, the deploys in progress, and the commits of each pair's last ``WINDOW``
succeeded deploys (``commits ahead`` is worked out in Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.web.overview import LIVE, STARTED, card, ordered_environments, ordered_services

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


Shipped = list[tuple[int, str, str | None]]  # (rank by deploy time, deploy sha, commit sha or None)


def _shipped(conn: Connection, service_ids: list[int]) -> dict[tuple[int, int], Shipped]:
    """(service, environment) → its last WINDOW succeeded deploys (ranked oldest 1 … newest) with their commits.

    Ranks instead of instants: the window function orders by (deployed_at, id) in
    the database, and Python compares small integers instead of parsing ~25,000 datetimes.
    """
    order = (deploys.c.deployed_at.desc(), deploys.c.id.desc())
    ranked = (
        select(deploys.c.id, deploys.c.service_id, deploys.c.environment_id, deploys.c.sha,
               func.row_number().over(partition_by=(deploys.c.service_id, deploys.c.environment_id), order_by=order).label("back"))
        .where(deploys.c.status == "succeeded", deploys.c.service_id.in_(service_ids))
        .subquery()
    )
    query = (
        select(ranked.c.service_id, ranked.c.environment_id, ranked.c.back, ranked.c.sha, deploy_commits.c.sha.label("commit"))
        .select_from(ranked.outerjoin(deploy_commits, deploy_commits.c.deploy_id == ranked.c.id))
        .where(ranked.c.back <= WINDOW)
    )
    out: dict[tuple[int, int], Shipped] = {}
    for service_id, environment_id, back, deploy_sha, commit in conn.execute(query):
        out.setdefault((service_id, environment_id), []).append((WINDOW + 1 - back, deploy_sha, commit))
    return out


def ahead(earlier: dict[str, Any] | None, later: dict[str, Any] | None, mine: Shipped, theirs: Shipped) -> Ahead:
    """The commits the earlier environment shipped up to its live deploy, since it last ran what the later
    one runs now (or, within the window, its oldest deploy), that the later one has not shipped."""
    if earlier is None or later is None:
        return Ahead(None)
    if earlier["sha"] == later["sha"]:
        return Ahead(0, same=True)
    ran_theirs = [rank for rank, deploy_sha, _ in mine if deploy_sha == later["sha"]]
    anchor = max(ran_theirs) if ran_theirs else 0
    commits = {c for rank, _, c in mine if rank > anchor and c is not None}
    if not commits:
        return Ahead(None)  # no changes recorded for those deploys: not known
    shipped = {c for _, _, c in theirs if c is not None} | {later["sha"]}
    return Ahead(len(commits - shipped), at_least=not ran_theirs and len({r for r, _, _ in mine}) >= WINDOW)


def services_matrix(conn: Connection, now: datetime, *, config_order: list[str], query: str = "") -> dict[str, Any]:
    envs = ordered_environments(conn)
    svcs = ordered_services(conn, config_order)
    if query:
        q = query.lower()
        svcs = [s for s in svcs if q in s.slug.lower() or q in (s.name or "").lower()]
    live: dict[tuple[int, int], dict[str, Any]] = {}
    for r in conn.execute(LIVE):
        live[(r.service_id, r.environment_id)] = card(r, now)
    started = {(r.service_id, r.environment_id): card(r, now) for r in conn.execute(STARTED)}
    # Only services whose consecutive environments run different shas have commits to count.
    differ = [
        s.id for s in svcs
        if any((a := live.get((s.id, x.id))) and (b := live.get((s.id, y.id))) and a["sha"] != b["sha"]
               for x, y in zip(envs, envs[1:], strict=False))
    ]
    shipped = _shipped(conn, differ) if differ else {}
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
