"""Manual and automatic locks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from shiplane.catalog import service as catalog
from shiplane.clock import iso
from shiplane.errors import AlreadyLocked, Invalid, LockAlreadyEnded, NotFound
from shiplane.events import service as events
from shiplane.locks import watch
from shiplane.tables.catalog import environments, services
from shiplane.tables.locks import locks

SYSTEM = "system"


def scope_key(environment_id: int, service_id: int | None) -> str:
    return f"{environment_id}:{service_id if service_id is not None else '*'}"


def joined():
    return (
        select(locks, environments.c.slug.label("environment_slug"), services.c.slug.label("service_slug"))
        .join(environments, environments.c.id == locks.c.environment_id)
        .outerjoin(services, services.c.id == locks.c.service_id)
    )


def to_dict(row: Any, now: datetime | None = None) -> dict[str, Any]:
    active = row.ended_at is None and (row.expires_at is None or now is None or row.expires_at > now)
    return {
        "id": row.id,
        "environment": row.environment_slug,
        "service": row.service_slug,
        "kind": row.kind,
        "reason": row.reason,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "ended_at": iso(row.ended_at),
        "ended_by": row.ended_by,
        "end_note": row.end_note,
        "deploy_id": row.deploy_id,
        "active": active,
    }


def get_row(conn: Connection, lock_id: int) -> Any:
    row = conn.execute(joined().where(locks.c.id == lock_id)).first()
    if row is None:
        raise NotFound(f"no lock with id {lock_id}", lock_id=lock_id)
    return row


def _end(conn: Connection, row: Any, *, at: datetime, by: str, note: str | None, now: datetime) -> bool:
    """End a lock once: the conditional update makes a second ender (another worker) a no-op."""
    result = conn.execute(
        update(locks)
        .where(locks.c.id == row.id, locks.c.ended_at.is_(None))
        .values(ended_at=at, ended_by=by, end_note=note)
    )
    if result.rowcount != 1:
        return False
    events.record(
        conn,
        "lock_ended",
        now,
        actor=by,
        environment=row.environment_slug,
        service=row.service_slug,
        lock_id=row.id,
        data={"reason": row.reason, "kind": row.kind, "note": note, "expired": note == "expired"},
    )
    watch.mark_due(conn, row.environment_id, now)
    return True


def create(
    conn: Connection,
    *,
    environment: str,
    service: str | None,
    reason: str,
    actor: str,
    now: datetime,
    expires_at: datetime | None = None,
    kind: str = "manual",
    deploy_id: int | None = None,
    auto_create: bool = True,
    cache: catalog.Cache | None = None,
) -> dict[str, Any]:
    if not reason.strip():
        raise Invalid("reason", "must not be blank")
    if expires_at is not None and expires_at <= now:
        raise Invalid("expires_at", f"must be in the future (got {iso(expires_at)}, now is {iso(now)})")
    env = catalog.environment(conn, environment, auto_create=auto_create, now=now, cache=cache)
    svc = catalog.service(conn, service, auto_create=auto_create, now=now, cache=cache) if service else None
    key = scope_key(env.id, svc.id if svc else None)

    if kind == "manual":
        existing = conn.execute(
            joined().where(locks.c.scope_key == key, locks.c.kind == "manual", locks.c.ended_at.is_(None))
        ).first()
        if existing is not None:
            if existing.expires_at is not None and existing.expires_at <= now:
                _end(conn, existing, at=existing.expires_at, by=SYSTEM, note="expired", now=now)
            else:
                raise AlreadyLocked(
                    f"{_scope_name(environment, service)} is already locked by {existing.created_by}",
                    lock=to_dict(existing, now),
                )
    values = dict(
        environment_id=env.id,
        service_id=svc.id if svc else None,
        scope_key=key,
        kind=kind,
        reason=reason.strip(),
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
        deploy_id=deploy_id,
    )
    try:
        with conn.begin_nested():
            lock_id = conn.execute(insert(locks).values(**values).returning(locks.c.id)).scalar_one()
    except IntegrityError:
        # Lost a race with another request locking the same scope.
        winner = conn.execute(
            joined().where(locks.c.scope_key == key, locks.c.kind == "manual", locks.c.ended_at.is_(None))
        ).first()
        if winner is None:
            raise
        raise AlreadyLocked(
            f"{_scope_name(environment, service)} is already locked by {winner.created_by}", lock=to_dict(winner, now)
        ) from None
    events.record(
        conn,
        "lock_created",
        now,
        actor=actor,
        environment=env.slug,
        service=svc.slug if svc else None,
        lock_id=lock_id,
        data={"reason": values["reason"], "kind": kind, "expires_at": iso(expires_at), "deploy_id": deploy_id},
    )
    watch.ensure(conn, env.id, svc.id if svc else None, now)
    watch.mark_due(conn, env.id, now)
    return to_dict(get_row(conn, lock_id), now)


def _scope_name(environment: str, service: str | None) -> str:
    return f"{environment}/{service}" if service else environment


def end(conn: Connection, lock_id: int, *, actor: str, note: str | None, now: datetime) -> dict[str, Any]:
    row = get_row(conn, lock_id)
    if row.ended_at is not None:
        raise LockAlreadyEnded(
            f"lock {lock_id} already ended at {iso(row.ended_at)} by {row.ended_by}", lock=to_dict(row, now)
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise LockAlreadyEnded(f"lock {lock_id} expired at {iso(row.expires_at)}", lock=to_dict(row, now))
    _end(conn, row, at=now, by=actor, note=note, now=now)
    return to_dict(get_row(conn, lock_id), now)


def expire_due(conn: Connection, now: datetime) -> int:
    """End every lock whose expiry has passed. Returns how many this call ended."""
    rows = conn.execute(
        joined().where(locks.c.ended_at.is_(None), locks.c.expires_at.is_not(None), locks.c.expires_at <= now)
    ).all()
    return sum(_end(conn, row, at=row.expires_at, by=SYSTEM, note="expired", now=now) for row in rows)


def next_expiry(conn: Connection) -> datetime | None:
    from sqlalchemy import func

    return conn.execute(
        select(func.min(locks.c.expires_at)).where(locks.c.ended_at.is_(None), locks.c.expires_at.is_not(None))
    ).scalar()


def list_locks(
    conn: Connection,
    *,
    now: datetime,
    active: bool | None = None,
    environment: str | None = None,
    service: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    query = joined().order_by(locks.c.created_at.desc(), locks.c.id.desc()).limit(limit)
    live = and_(locks.c.ended_at.is_(None), or_(locks.c.expires_at.is_(None), locks.c.expires_at > now))
    if active is True:
        query = query.where(live)
    elif active is False:
        query = query.where(~live)
    if environment:
        query = query.where(environments.c.slug == environment)
    if service:
        query = query.where(services.c.slug == service)
    return [to_dict(row, now) for row in conn.execute(query)]


# ---------------------------------------------------------------- automatic locks (health)


def create_auto(
    conn: Connection, *, environment: str, service: str | None, reason: str, deploy_id: int | None, now: datetime
) -> dict[str, Any]:
    """The entry point health uses to lock an environment when a deploy turns unhealthy."""
    return create(
        conn,
        environment=environment,
        service=service,
        reason=reason,
        actor=SYSTEM,
        now=now,
        kind="auto",
        deploy_id=deploy_id,
    )


