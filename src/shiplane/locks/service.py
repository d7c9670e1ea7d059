"""Manual and automatic locks, taken now or scheduled ahead, and their edits.

A lock blocks in ``[starts_at, expires_at)`` (no ``expires_at``: until someone ends it). Its
``state`` is ``scheduled`` before ``starts_at``, ``active`` in that period, and ``ended`` once
it was ended or has expired. Manual locks on one scope may not overlap in time (409
``already_locked``); the check is serialised per environment (``_serialise``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection

from shiplane.catalog import service as catalog
from shiplane.clock import iso
from shiplane.errors import AlreadyLocked, Invalid, LockAlreadyEnded, NotFound
from shiplane.events import service as events
from shiplane.locks import watch
from shiplane.locks.wallclock import next_local_time
from shiplane.settings import parse_duration
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


def lock_state(row: Any, now: datetime) -> str:
    """``scheduled`` | ``active`` | ``ended`` (an expired lock is ended even before the worker says so)."""
    if row.ended_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return "ended"
    return "scheduled" if row.starts_at > now else "active"


def to_dict(row: Any, now: datetime) -> dict[str, Any]:
    current = lock_state(row, now)
    return {
        "id": row.id,
        "environment": row.environment_slug,
        "service": row.service_slug,
        "kind": row.kind,
        "reason": row.reason,
        "created_by": row.created_by,
        "created_at": iso(row.created_at),
        "starts_at": iso(row.starts_at),
        "expires_at": iso(row.expires_at),
        "ended_at": iso(row.ended_at),
        "ended_by": row.ended_by,
        "end_note": row.end_note,
        "deploy_id": row.deploy_id,
        "state": current,
        "active": current == "active",
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
        data={
            "reason": row.reason,
            "kind": row.kind,
            "note": note,
            "expired": note == "expired",
            "cancelled": row.started_at is None and at < row.starts_at,  # a scheduled lock ended before it started
        },
    )
    watch.mark_due(conn, row.environment_id, now)
    return True


def _serialise(conn: Connection, environment_id: int) -> None:
    """Take the environment's row lock (PostgreSQL) so that two overlap checks on it cannot interleave.

    SQLite needs nothing: its write transactions are ``BEGIN IMMEDIATE``, one at a time.
    """
    conn.execute(select(environments.c.id).where(environments.c.id == environment_id).with_for_update())


def _overlapping(
    conn: Connection, key: str, starts_at: datetime, expires_at: datetime | None, now: datetime, *, besides: int | None = None
) -> Any:
    """The first un-ended manual lock on scope ``key`` whose period meets ``[starts_at, expires_at)``."""
    query = joined().where(locks.c.scope_key == key, locks.c.kind == "manual", locks.c.ended_at.is_(None))
    query = query.where(or_(locks.c.expires_at.is_(None), locks.c.expires_at > max(starts_at, now)))
    if expires_at is not None:
        query = query.where(locks.c.starts_at < expires_at)
    if besides is not None:
        query = query.where(locks.c.id != besides)
    return conn.execute(query.order_by(locks.c.starts_at, locks.c.id).limit(1)).first()


def _already_locked(row: Any, environment: str, service: str | None, now: datetime) -> AlreadyLocked:
    scope = _scope_name(environment, service)
    if row.starts_at > now:
        text = f"{scope} has a lock by {row.created_by} scheduled from {iso(row.starts_at)} that overlaps"
    else:
        text = f"{scope} is already locked by {row.created_by}"
    return AlreadyLocked(text, lock=to_dict(row, now))


When = datetime | str  # an instant; "HH:MM" (next such local time in the environment's zone); or a duration


def resolve(value: When | None, field: str, tz: str, now: datetime, after: datetime | None = None) -> datetime | None:
    """An instant for ``value``: ``HH:MM`` is the next such time in ``tz`` after ``after`` (default now);
    a duration (``"4h"``) counts from ``after`` (default now)."""
    if value is None or isinstance(value, datetime):
        return value
    if ":" not in value:
        try:
            return (after or now) + parse_duration(value)
        except ValueError as exc:
            raise Invalid(field, f"{exc} (an ISO instant, HH:MM in {tz}, or a duration)") from None
    try:
        return next_local_time(value, tz, now, after)
    except ValueError as exc:
        raise Invalid(field, f"{exc} (an ISO instant, HH:MM in {tz}, or a duration)") from None


def check_period(starts_at: datetime | None, expires_at: datetime | None, now: datetime) -> None:
    """The 422s of a lock's period: a start in the past, an expiry not in the future or not after the start."""
    if starts_at is not None and starts_at < now:
        raise Invalid("starts_at", f"must not be in the past (got {iso(starts_at)}, now is {iso(now)})")
    if expires_at is not None and expires_at <= now:
        raise Invalid("expires_at", f"must be in the future (got {iso(expires_at)}, now is {iso(now)})")
    if starts_at is not None and expires_at is not None and expires_at <= starts_at:
        raise Invalid("expires_at", f"must be after starts_at (got {iso(expires_at)}, starts_at is {iso(starts_at)})")


def create(
    conn: Connection,
    *,
    environment: str,
    service: str | None,
    reason: str,
    actor: str,
    now: datetime,
    expires_at: When | None = None,
    starts_at: When | None = None,
    kind: str = "manual",
    deploy_id: int | None = None,
    auto_create: bool = True,
    cache: catalog.Cache | None = None,
    timezones: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Take a lock now, or schedule it (``starts_at``). Times may be ``HH:MM`` in the environment's ``timezones`` entry."""
    if not reason.strip():
        raise Invalid("reason", "must not be blank")
    tz = (timezones or {}).get(environment, "UTC")
    starts_at = resolve(starts_at, "starts_at", tz, now)
    expires_at = resolve(expires_at, "expires_at", tz, now, after=starts_at)
    check_period(starts_at, expires_at, now)
    start = max(starts_at or now, now)
    env = catalog.environment(conn, environment, auto_create=auto_create, now=now, cache=cache)
    svc = catalog.service(conn, service, auto_create=auto_create, now=now, cache=cache) if service else None
    key = scope_key(env.id, svc.id if svc else None)

    if kind == "manual":
        _serialise(conn, env.id)
        existing = _overlapping(conn, key, start, expires_at, now)
        if existing is not None:
            raise _already_locked(existing, environment, service, now)
    values = dict(
        environment_id=env.id,
        service_id=svc.id if svc else None,
        scope_key=key,
        kind=kind,
        reason=reason.strip(),
        created_by=actor,
        created_at=now,
        starts_at=start,
        started_at=now if start <= now else None,
        expires_at=expires_at,
        deploy_id=deploy_id,
    )
    lock_id = conn.execute(insert(locks).values(**values).returning(locks.c.id)).scalar_one()
    events.record(
        conn,
        "lock_created",
        now,
        actor=actor,
        environment=env.slug,
        service=svc.slug if svc else None,
        lock_id=lock_id,
        data={
            "reason": values["reason"],
            "kind": kind,
            "starts_at": iso(start),
            "expires_at": iso(expires_at),
            "deploy_id": deploy_id,
        },
    )
    watch.ensure(conn, env.id, svc.id if svc else None, now)
    watch.mark_due(conn, env.id, now)
    return to_dict(get_row(conn, lock_id), now)


_UNSET: Any = object()


def update_lock(
    conn: Connection,
    lock_id: int,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    starts_at: When | None = _UNSET,
    expires_at: When | None = _UNSET,
    timezones: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Edit a scheduled or active lock: its reason, its expiry (``None``: none) and, while scheduled, its start.

    Records ``lock_updated`` with the old and new value of each field that changed.
    """
    row = get_row(conn, lock_id)
    tz = (timezones or {}).get(row.environment_slug, "UTC")
    if starts_at is not _UNSET:
        starts_at = resolve(starts_at, "starts_at", tz, now)
    if expires_at is not _UNSET:
        base = starts_at if starts_at is not _UNSET and starts_at is not None else max(row.starts_at, now)
        expires_at = resolve(expires_at, "expires_at", tz, now, after=base)
    current = lock_state(row, now)
    if current == "ended":
        raise LockAlreadyEnded(f"lock {lock_id} has ended; an ended lock cannot be edited", lock=to_dict(row, now))
    if starts_at is None:
        raise Invalid("starts_at", "must be an instant (a lock always has a start)")
    if starts_at is not _UNSET and current == "active":
        raise Invalid("starts_at", f"lock {lock_id} is already active (since {iso(row.starts_at)}); only a scheduled lock's start can move")
    if reason is not None and not reason.strip():
        raise Invalid("reason", "must not be blank")
    new_start = row.starts_at if starts_at is _UNSET else starts_at
    new_expiry = row.expires_at if expires_at is _UNSET else expires_at
    check_period(None if starts_at is _UNSET else starts_at, None if expires_at is _UNSET else expires_at, now)
    if new_expiry is not None and new_expiry <= new_start:
        raise Invalid("expires_at", f"must be after starts_at (got {iso(new_expiry)}, starts_at is {iso(new_start)})")
    new = {"reason": row.reason if reason is None else reason.strip(), "starts_at": new_start, "expires_at": new_expiry}
    old = {"reason": row.reason, "starts_at": row.starts_at, "expires_at": row.expires_at}
    changed = {k: v for k, v in new.items() if v != old[k]}
    if not changed:
        return to_dict(row, now)
    if row.kind == "manual" and ("starts_at" in changed or "expires_at" in changed):
        _serialise(conn, row.environment_id)
        clash = _overlapping(conn, row.scope_key, max(new_start, now), new_expiry, now, besides=row.id)
        if clash is not None:
            raise _already_locked(clash, row.environment_slug, row.service_slug, now)
    result = conn.execute(update(locks).where(locks.c.id == row.id, locks.c.ended_at.is_(None)).values(**changed))
    if result.rowcount != 1:
        raise LockAlreadyEnded(f"lock {lock_id} has ended; an ended lock cannot be edited", lock=to_dict(row, now))

    def shown(value: Any) -> Any:
        return iso(value) if isinstance(value, datetime) else value

    events.record(
        conn,
        "lock_updated",
        now,
        actor=actor,
        environment=row.environment_slug,
        service=row.service_slug,
        lock_id=row.id,
        data={"kind": row.kind, "changes": {k: {"old": shown(old[k]), "new": shown(v)} for k, v in changed.items()}},
    )
    watch.mark_due(conn, row.environment_id, now)
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


def start_due(conn: Connection, now: datetime) -> int:
    """Record ``lock_started`` once for every scheduled lock whose start has come. Returns how many."""
    rows = conn.execute(
        joined().where(locks.c.ended_at.is_(None), locks.c.started_at.is_(None), locks.c.starts_at <= now)
    ).all()
    started = 0
    for row in rows:
        done = conn.execute(
            update(locks).where(locks.c.id == row.id, locks.c.started_at.is_(None)).values(started_at=now)
        )
        if done.rowcount != 1:
            continue
        if row.expires_at is not None and row.expires_at <= now:
            continue  # its whole period passed while nobody was looking: lock_ended says so
        events.record(
            conn,
            "lock_started",
            now,
            actor=SYSTEM,
            environment=row.environment_slug,
            service=row.service_slug,
            lock_id=row.id,
            data={
                "reason": row.reason,
                "kind": row.kind,
                "by": row.created_by,
                "starts_at": iso(row.starts_at),
                "expires_at": iso(row.expires_at),
            },
        )
        watch.mark_due(conn, row.environment_id, now)
        started += 1
    return started


def next_lock_edge(conn: Connection) -> datetime | None:
    """The next instant the worker has lock work: a scheduled start or an expiry."""
    from sqlalchemy import func

    expiry = conn.execute(
        select(func.min(locks.c.expires_at)).where(locks.c.ended_at.is_(None), locks.c.expires_at.is_not(None))
    ).scalar()
    start = conn.execute(
        select(func.min(locks.c.starts_at)).where(locks.c.ended_at.is_(None), locks.c.started_at.is_(None))
    ).scalar()
    return min((t for t in (expiry, start) if t is not None), default=None)


def list_locks(
    conn: Connection,
    *,
    now: datetime,
    active: bool | None = None,
    state: str | None = None,
    environment: str | None = None,
    service: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """``active=true`` is the locks blocking now; ``false`` the past (ended or expired) ones, so a
    scheduled lock is in neither. ``state`` picks one of the three."""
    query = joined().order_by(locks.c.created_at.desc(), locks.c.id.desc()).limit(limit)
    live = and_(locks.c.ended_at.is_(None), or_(locks.c.expires_at.is_(None), locks.c.expires_at > now))
    started = locks.c.starts_at <= now
    if active is True:
        query = query.where(live, started)
    elif active is False:
        query = query.where(~live)
    if state == "scheduled":
        query = query.where(live, ~started)
    elif state == "active":
        query = query.where(live, started)
    elif state == "ended":
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


