"""DORA queries: read the deploys and changes of a range, hand them to the pure maths."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from shiplane.catalog.models import environments, services
from shiplane.deploys.models import deploy_commits, deploys
from shiplane.dora import metrics
from shiplane.errors import Invalid, UnknownEnvironment, UnknownService
from shiplane.health.service import incidents_in

# How far around the range to read: the deploy before a fix-forward, and the
# recovery of a failure late in the range, lie outside it.
AROUND = timedelta(days=30)
MAX_RANGE = timedelta(days=3 * 366)
COUNTED = ("succeeded", "rolled_back")


def default_environment(conn: Connection) -> str:
    """The production environment: the one flagged production (ties: 'production', then the oldest)."""
    rows = conn.execute(
        select(environments.c.slug).where(environments.c.production.is_(True)).order_by(environments.c.id)
    ).scalars().all()
    if "production" in rows:
        return "production"
    return rows[0] if rows else "production"


def _ids(conn: Connection, environment: str, service: str | None) -> tuple[int, int | None]:
    env_id = conn.execute(select(environments.c.id).where(environments.c.slug == environment)).scalar()
    if env_id is None:
        raise UnknownEnvironment(f"unknown environment {environment!r}", environment=environment)
    svc_id = None
    if service:
        svc_id = conn.execute(select(services.c.id).where(services.c.slug == service)).scalar()
        if svc_id is None:
            raise UnknownService(f"unknown service {service!r}", service=service)
    return env_id, svc_id


_DEPLOYS = select(
    deploys.c.id,
    deploys.c.service_id,
    deploys.c.deployed_at,
    deploys.c.status,
    deploys.c.health_state,
    deploys.c.rollback_of,
).where(
    deploys.c.environment_id == bindparam("eid"),
    deploys.c.deployed_at >= bindparam("lo"),
    deploys.c.deployed_at < bindparam("hi"),
)

_CHANGES = (
    select(deploy_commits.c.deploy_id, deploy_commits.c.committed_at)
    .join(deploys, deploys.c.id == deploy_commits.c.deploy_id)
    .where(
        deploys.c.environment_id == bindparam("eid"),
        deploys.c.deployed_at >= bindparam("lo"),
        deploys.c.deployed_at < bindparam("hi"),
        deploys.c.status.in_(COUNTED),
        deploy_commits.c.committed_at.is_not(None),
    )
)


def report(
    conn: Connection,
    *,
    since: datetime,
    until: datetime,
    environment: str | None = None,
    service: str | None = None,
    bucket: str = "day",
    tz: str = "UTC",
    failure_states: tuple[str, ...] = ("unhealthy", "incident"),
) -> dict[str, Any]:
    if until <= since:
        raise Invalid("until", "must be after since")
    if until - since > MAX_RANGE:
        raise Invalid("since", "the range may span at most three years")
    environment = environment or default_environment(conn)
    env_id, svc_id = _ids(conn, environment, service)
    params: dict[str, Any] = {"eid": env_id, "lo": since - AROUND, "hi": until + AROUND}
    query, changes_query = _DEPLOYS, _CHANGES
    if svc_id is not None:
        query = query.where(deploys.c.service_id == svc_id)
        changes_query = changes_query.where(deploys.c.service_id == svc_id)
    rows = conn.execute(query, params).all()
    deploy_list = [
        metrics.Deploy(
            id=r.id,
            service=str(r.service_id),
            environment=environment,
            deployed_at=r.deployed_at,
            status=r.status,
            health=r.health_state,
            rollback=r.rollback_of is not None,
        )
        for r in rows
    ]
    change_list = [
        metrics.Change(deploy_id=r.deploy_id, committed_at=r.committed_at)
        for r in conn.execute(changes_query, {"eid": env_id, "lo": since, "hi": until}).all()
    ]
    incident_list = [
        metrics.Incident(deploy_id=r.deploy_id, started_at=r.started_at, resolved_at=r.resolved_at)
        for r in incidents_in(conn, environment, since - AROUND, until + AROUND)
    ]
    # A deploy that had an incident failed, even after the incident was
    # resolved and its health restored.
    had_incident = {i.deploy_id for i in incident_list}
    if had_incident:
        deploy_list = [replace(d, health="incident") if d.id in had_incident else d for d in deploy_list]
    out = metrics.compute(
        deploy_list,
        change_list,
        incident_list,
        since=since,
        until=until,
        bucket=bucket,
        tz=tz,
        failure_states=tuple(failure_states),
    )
    from shiplane.clock import iso

    return {"environment": environment, "service": service, "since": iso(since), "until": iso(until), "bucket": bucket} | out



