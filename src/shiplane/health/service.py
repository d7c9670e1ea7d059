"""Deploy health that people and other systems set: manual verdicts and incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from shiplane.clock import iso
from shiplane.deploys import service as deploys_service
from shiplane.errors import DomainError, Invalid
from shiplane.events import service as events
from shiplane.locks import service as locks_service
from shiplane.locks import watch
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys
from shiplane.tables.health import incidents
from shiplane.tables.locks import locks as lock_rows


def set_health(
    conn: Connection,
    deploy_id: int,
    state: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
    final: bool = True,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Change a deploy's health and say so (event), and let the gate look again."""
    row = deploys_service.get_row(conn, deploy_id)
    values: dict[str, Any] = {"health_state": state, "health_reason": reason, "health_final": final}
    if detail is not None:
        values["health_detail"] = detail
    conn.execute(update(deploys).where(deploys.c.id == deploy_id).values(**values))
    if row.health_state != state:
        events.record(
            conn,
            "deploy_health_changed",
            now,
            actor=actor,
            environment=row.environment_slug,
            service=row.service_slug,
            deploy_id=deploy_id,
            data={"from": row.health_state, "to": state, "reason": reason},
        )
        watch.mark_scope_due(conn, row.environment_id, row.service_id, now)
    return deploys_service.get(conn, deploy_id)


def reset_verdict(conn: Connection, deploy_id: int, *, actor: str, now: datetime) -> dict[str, Any]:
    """Drop a human verdict: the judge decides again at its next look (``reset`` in the sleuth CLI)."""
    row = deploys_service.get_row(conn, deploy_id)
    detail = {k: v for k, v in (row.health_detail or {}).items() if k != "manual"}
    return set_health(
        conn, deploy_id, "pending", reason=f"manual verdict reset by {actor}; the judge decides again",
        actor=actor, now=now, final=False, detail=detail,
    )


def manual_verdict(conn: Connection, deploy_id: int, state: str, note: str, *, actor: str, now: datetime) -> dict[str, Any]:
    """A human overrides the judge; the verdict is final and recorded."""
    reason = f"set {state} by {actor}" + (f": {note}" if note else "")
    detail = {"manual": {"state": state, "note": note, "by": actor, "at": iso(now)}}
    row = deploys_service.get_row(conn, deploy_id)
    detail = (row.health_detail or {}) | detail
    out = set_health(conn, deploy_id, state, reason=reason, actor=actor, now=now, detail=detail)
    if state == "healthy":
        # The person vouches for this deploy: the automatic locks it caused end, in their name.
        caused = conn.execute(
            select(lock_rows.c.id).where(
                lock_rows.c.deploy_id == deploy_id,
                lock_rows.c.kind == "auto",
                lock_rows.c.ended_at.is_(None),
            )
        ).scalars().all()
        for lock_id in caused:
            try:
                locks_service.end(conn, lock_id, actor=actor, note=f"deploy #{deploy_id} marked healthy by {actor}", now=now)
            except DomainError:  # expired meanwhile: nothing left to end
                continue
    return out


def _latest_before(conn: Connection, environment: str, service: str | None, at: datetime) -> Any:
    query = (
        select(deploys.c.id, deploys.c.health_state)
        .join(environments, environments.c.id == deploys.c.environment_id)
        # The latest *counted* deploy (SPEC §8.9): a failed or cancelled one never went live.
        .where(environments.c.slug == environment, deploys.c.deployed_at <= at, deploys.c.status.in_(("succeeded", "rolled_back")))
        .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
        .limit(1)
    )
    if service:
        query = query.join(services, services.c.id == deploys.c.service_id).where(services.c.slug == service)
    return conn.execute(query).first()


def incident_to_dict(row: Any) -> dict[str, Any]:
    return {
        "key": row.key,
        "environment": row.environment,
        "service": row.service,
        "state": "resolved" if row.resolved_at else "triggered",
        "title": row.title,
        "url": row.url,
        "started_at": iso(row.started_at),
        "resolved_at": iso(row.resolved_at),
        "deploy_id": row.deploy_id,
    }


def report_incident(
    conn: Connection,
    *,
    key: str,
    state: str,
    environment: str,
    service: str | None,
    at: datetime,
    title: str | None,
    url: str | None,
    actor: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Record an incident state; returns (incident, created). Idempotent on key + state."""
    row = conn.execute(select(incidents).where(incidents.c.key == key)).first()
    if state == "triggered":
        if row is not None:
            return incident_to_dict(row), False
        deploy = _latest_before(conn, environment, service, at)
        conn.execute(
            insert(incidents).values(
                key=key,
                environment=environment,
                service=service,
                title=title,
                url=url,
                started_at=at,
                deploy_id=deploy.id if deploy else None,
                previous_health=deploy.health_state if deploy else None,
            )
        )
        events.record(
            conn, "incident", now, actor=actor, environment=environment, service=service, deploy_id=deploy.id if deploy else None,
            data={"key": key, "state": "triggered", "title": title, "url": url},
        )
        if deploy is not None:
            set_health(conn, deploy.id, "incident", reason=f"incident {key}" + (f": {title}" if title else ""), actor=actor, now=now)
        row = conn.execute(select(incidents).where(incidents.c.key == key)).first()
        return incident_to_dict(row), True
    # resolved
    if row is None:
        # Resolution of an incident we never saw start: keep it, attached like a trigger would be.
        report_incident(conn, key=key, state="triggered", environment=environment, service=service, at=at,
                        title=title, url=url, actor=actor, now=now)
        row = conn.execute(select(incidents).where(incidents.c.key == key)).first()
    if row.resolved_at is not None:
        return incident_to_dict(row), False
    if at < row.started_at:
        raise Invalid("at", f"the resolution {iso(at)} is before incident {key} was triggered ({iso(row.started_at)})")
    conn.execute(update(incidents).where(incidents.c.id == row.id).values(resolved_at=at))
    events.record(
        conn, "incident", now, actor=actor, environment=row.environment, service=row.service, deploy_id=row.deploy_id,
        data={"key": key, "state": "resolved"},
    )
    if row.deploy_id is not None:
        current = deploys_service.get_row(conn, row.deploy_id)
        if current.health_state == "incident":
            set_health(conn, row.deploy_id, row.previous_health or "pending", reason=f"incident {key} resolved",
                       actor=actor, now=now, final=False)
    row = conn.execute(select(incidents).where(incidents.c.key == key)).first()
    return incident_to_dict(row), True


