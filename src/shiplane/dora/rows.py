"""Exact DORA facts of a range, read from deploys, deploy_commits and incidents.

`facts()` reads the counted deploys of ``[lo, hi)`` and exactly the neighbours
the definitions need, wherever they lie (no look-around window):

- per service, the last counted deploy before ``lo`` (is the first deploy in
  range a fix-forward?), with its incidents;
- per service whose range ends on an unrecovered failure, the first restoring
  deploy at or after ``hi`` (a recovery after the range still counts);
- the incidents attached to the deploys in range, whenever they started.

and hands them to the pure `metrics.shipped`. Both the report (for ranges the
roll-ups do not cover) and the roll-ups themselves are built from it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, false, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from shiplane.dora import metrics
from shiplane.tables.catalog import services
from shiplane.tables.deploys import deploy_commits, deploys
from shiplane.tables.health import incidents

COUNTED = tuple(sorted(metrics.COUNTED_STATUSES))
BY_ID = 2000  # deploys in range up to which their incidents are looked up by id

_DEPLOY_COLUMNS = (
    deploys.c.id,
    deploys.c.service_id,
    deploys.c.deployed_at,
    deploys.c.status,
    deploys.c.health_state,
    deploys.c.rollback_of,
    deploys.c.dora_failure,
)


def _in_range(svc: bool) -> list[ColumnElement[bool]]:
    where = [
        deploys.c.environment_id == bindparam("eid"),
        deploys.c.deployed_at >= bindparam("lo"),
        deploys.c.deployed_at < bindparam("hi"),
        deploys.c.status.in_(COUNTED),
    ]
    if svc:
        where.append(deploys.c.service_id == bindparam("sid"))
    return where


# Statements are built once per shape: building a select costs more than running it.
_RANGE = {s: select(*_DEPLOY_COLUMNS).where(*_in_range(s)) for s in (False, True)}
_RANGE_INCIDENTS = {
    s: select(incidents.c.deploy_id, incidents.c.started_at, incidents.c.resolved_at)
    .join(deploys, deploys.c.id == incidents.c.deploy_id)
    .where(*_in_range(s))
    for s in (False, True)
}
_other = deploy_commits.alias("other")
_shipper = deploys.alias("shipper")
# A commit counts for the counted deploy of its scope that shipped it first (by deploy
# time, then id): none of its other shippers there is earlier (ix_deploy_commits_sha).
FIRST_SHIPPED = ~exists().where(
    _other.c.sha == deploy_commits.c.sha,
    _other.c.deploy_id != deploy_commits.c.deploy_id,
    _shipper.c.id == _other.c.deploy_id,
    _shipper.c.service_id == deploys.c.service_id,
    _shipper.c.environment_id == deploys.c.environment_id,
    _shipper.c.status.in_(COUNTED),
    or_(
        _shipper.c.deployed_at < deploys.c.deployed_at,
        and_(_shipper.c.deployed_at == deploys.c.deployed_at, _shipper.c.id < deploys.c.id),
    ),
)
_RANGE_CHANGES = {
    s: select(deploy_commits.c.deploy_id, deploy_commits.c.committed_at, deploy_commits.c.sha)
    .join(deploys, deploys.c.id == deploy_commits.c.deploy_id)
    .where(*_in_range(s), FIRST_SHIPPED)
    for s in (False, True)
}
_INCIDENTS_OF = select(incidents.c.deploy_id, incidents.c.started_at, incidents.c.resolved_at).where(
    incidents.c.deploy_id.in_(bindparam("ids", expanding=True))
)

_near = deploys.alias("near")
_near_scope = and_(
    _near.c.service_id == services.c.id,
    _near.c.environment_id == bindparam("eid"),
    _near.c.status.in_(COUNTED),
)
# One index seek per service (ix_deploys_scope_time), in one round trip.
_PREVIOUS = select(*_DEPLOY_COLUMNS).where(
    deploys.c.id.in_(
        select(
            select(_near.c.id)
            .where(_near_scope, _near.c.deployed_at < bindparam("lo"))
            .order_by(_near.c.deployed_at.desc(), _near.c.id.desc())
            .limit(1)
            .scalar_subquery()
        ).where(services.c.id.in_(bindparam("sids", expanding=True)))
    )
)


def restoring(table: Any, failing: Sequence[str]) -> ColumnElement[bool]:
    """SQL for "a restoring deploy" (metrics: succeeded, health settled and not failing).

    A deploy with an incident attached counts with health ``incident`` (see `facts`).
    Under the incident rule no deploy restores (`metrics.restores`).
    """
    if metrics.BY_INCIDENT in failing:
        return false()
    bad = sorted({*failing, "pending"})
    had_incident = exists().where(incidents.c.deploy_id == table.c.id)
    settled = table.c.health_state.not_in(bad)
    health = and_(not_(had_incident), settled) if "incident" in bad else or_(had_incident, settled)
    return and_(table.c.status == "succeeded", table.c.dora_failure.is_(None), health)


def failed(table: Any, failing: Sequence[str]) -> ColumnElement[bool]:
    """SQL for "a failed deploy" (`metrics.fails` on the deploy as `facts` builds it): an attached
    incident counts as health ``incident``; under the incident rule nothing else fails a deploy."""
    had_incident = exists().where(incidents.c.deploy_id == table.c.id)
    if metrics.BY_INCIDENT in failing:
        return had_incident
    by_health = and_(not_(had_incident), table.c.health_state.in_(sorted(failing)))
    by_incident = [had_incident] if "incident" in failing else []
    return or_(table.c.dora_failure.is_not(None), by_health, *by_incident)


def _next_restoring(failing: Sequence[str]) -> Any:
    return select(*_DEPLOY_COLUMNS).where(
        deploys.c.id.in_(
            select(
                select(_near.c.id)
                .where(_near_scope, _near.c.deployed_at >= bindparam("hi"), restoring(_near, failing))
                .order_by(_near.c.deployed_at, _near.c.id)
                .limit(1)
                .scalar_subquery()
            ).where(services.c.id.in_(bindparam("sids", expanding=True)))
        )
    )


_NEXT: dict[tuple[str, ...], Any] = {}


def facts(
    conn: Connection,
    *,
    environment_id: int,
    service_id: int | None,
    lo: datetime,
    hi: datetime,
    failure_states: Sequence[str],
    with_changes: bool = True,
) -> list[metrics.Shipped]:
    """`metrics.Shipped` of every counted deploy of the scope in ``[lo, hi)``, exactly.

    ``with_changes=False`` leaves lead times out (no commit is read): for callers that
    need only the other facts (the drill-down of failures, recoveries, rework).
    """
    one = service_id is not None
    params: dict[str, Any] = {"eid": environment_id, "lo": lo, "hi": hi}
    if one:
        params["sid"] = service_id
    in_range = conn.execute(_RANGE[one], params).all()
    if not in_range:
        return []
    sids = sorted({r.service_id for r in in_range})
    previous = conn.execute(_PREVIOUS, {"eid": environment_id, "lo": lo, "sids": sids}).all()
    if len(in_range) <= BY_ID:
        # By id through ix_incidents_deploy; SQLite would rather scan incidents for the join.
        incident_rows = list(conn.execute(_INCIDENTS_OF, {"ids": [r.id for r in [*previous, *in_range]]}).all())
    else:
        incident_rows = list(conn.execute(_RANGE_INCIDENTS[one], params).all())
        if previous:
            incident_rows += conn.execute(_INCIDENTS_OF, {"ids": [r.id for r in previous]}).all()
    had_incident = {r.deploy_id for r in incident_rows}
    failing = frozenset(failure_states)
    by_incident = metrics.BY_INCIDENT in failing
    known = [_deploy(r, had_incident, by_incident) for r in [*previous, *in_range]]

    # A recovery after the range comes from a later restoring deploy; under the incident rule there is none.
    open_ends = [] if by_incident else _ending_unrecovered(known, failing)
    if open_ends:
        key = tuple(sorted(failing))
        if key not in _NEXT:
            _NEXT[key] = _next_restoring(key)
        after = conn.execute(_NEXT[key], {"eid": environment_id, "hi": hi, "sids": open_ends}).all()
        if after:
            # Restoring as SQL saw it, incidents included (they may count as a settled health).
            attached = {r.deploy_id for r in conn.execute(_INCIDENTS_OF, {"ids": [r.id for r in after]})}
            known += [_deploy(r, attached, by_incident) for r in after]

    changes = (
        [metrics.Change(r.deploy_id, r.committed_at, r.sha) for r in conn.execute(_RANGE_CHANGES[one], params)]
        if with_changes
        else []
    )
    found = [metrics.Incident(r.deploy_id, r.started_at, r.resolved_at) for r in incident_rows]
    return metrics.shipped(known, changes, found, since=lo, until=hi, failure_states=failing)


def _deploy(row: Any, had_incident: set[int], by_incident: bool) -> metrics.Deploy:
    d = metrics.Deploy(
        id=row.id,
        service=str(row.service_id),
        environment="",
        deployed_at=row.deployed_at,
        status=row.status,
        health=row.health_state,
        rollback=row.rollback_of is not None,
        failure=row.dora_failure,
    )
    # A deploy that had an incident failed, even after the incident was
    # resolved and its health restored.
    if row.id in had_incident:
        return replace(d, health="incident")
    if by_incident and d.health == "incident":
        # A person's "incident" verdict with no incident behind it: under the incident rule a
        # verdict fails nothing, and there would be no resolution to recover it.
        return replace(d, health="unhealthy")
    return d


def _ending_unrecovered(known: Iterable[metrics.Deploy], failing: frozenset[str]) -> list[int]:
    """Services whose last failure among `known` has no restoring deploy after it there."""
    by_service: dict[str, list[metrics.Deploy]] = defaultdict(list)
    for d in known:
        by_service[d.service].append(d)
    out = []
    for service, scope in by_service.items():
        scope.sort(key=lambda d: (d.deployed_at, d.id))
        for d in reversed(scope):
            if metrics.restores(d, failing):
                break  # restoring: every failure before it is recovered within range
            if metrics.fails(d, failing):
                out.append(int(service))
                break
    return out
