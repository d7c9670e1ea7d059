"""Reverts count as change failures (SPEC §8.7): the deploy that shipped a reverted change fails for DORA.

A revert (a merged pull request or a pushed commit) names the commits it undoes. In every
service and environment, the counted deploy that first shipped one of them — by its commit
list, or by its own sha — gets ``dora_failure = "reverted by …"`` (unless it already failed for
DORA) and a ``revert_detected`` event. Its health verdict is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from shiplane.events import service as events
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploy_commits, deploys

COUNTED = ("succeeded", "rolled_back")


def _matches(column, shas: list[str]):
    return or_(*(column == s if len(s) >= 40 else column.like(f"{s}%") for s in shas))


def mark_reverted(conn: Connection, shas: Iterable[str], *, origin: str, actor: str, now: datetime) -> list[int]:
    """Mark the first counted shipper of each reverted commit, per scope; returns the deploy ids marked."""
    wanted = sorted({s.lower() for s in shas if len(s) >= 7})
    if not wanted:
        return []
    shipped_in = select(deploy_commits.c.deploy_id).where(_matches(deploy_commits.c.sha, wanted))
    rows = conn.execute(
        select(deploys.c.id, deploys.c.service_id, deploys.c.environment_id, deploys.c.deployed_at, deploys.c.dora_failure,
               services.c.slug.label("service"), environments.c.slug.label("environment"))
        .join(services, services.c.id == deploys.c.service_id)
        .join(environments, environments.c.id == deploys.c.environment_id)
        .where(deploys.c.status.in_(COUNTED), or_(deploys.c.id.in_(shipped_in), _matches(deploys.c.sha, wanted)))
        .order_by(deploys.c.deployed_at, deploys.c.id)
    ).all()
    first: dict[tuple[int, int], object] = {}
    for r in rows:
        first.setdefault((r.service_id, r.environment_id), r)
    marked = []
    for r in first.values():
        if r.dora_failure is not None:
            continue  # already failed for DORA (a rollback, an earlier revert): one failure
        reason = f"reverted by {origin}"[:200]
        conn.execute(update(deploys).where(deploys.c.id == r.id).values(dora_failure=reason))
        events.record(conn, "revert_detected", now, actor=actor, environment=r.environment, service=r.service, deploy_id=r.id,
                      data={"reverted": wanted, "by": origin})
        marked.append(r.id)
    return marked
