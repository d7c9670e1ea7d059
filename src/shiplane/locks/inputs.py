"""Reading what the gate needs from the database (the I/O edge of gate.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from shiplane.errors import UnknownEnvironment, UnknownService
from shiplane.locks import service as locks_service
from shiplane.locks.calendar import Schedule
from shiplane.locks.gate import GATE_BLOCKING_HEALTH, Cooldown, DeployInfo, GateInputs, LockInfo
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys

# Built once (see deploys.service): the gate reads these on every intake and cache miss.
_ACTIVE_LOCKS = locks_service.joined().where(
    locks_service.locks.c.environment_id == bindparam("eid"), locks_service.locks.c.ended_at.is_(None)
)


def _unhealthy(latest: Any) -> DeployInfo | None:
    if latest is None or latest.health_state not in GATE_BLOCKING_HEALTH:
        return None
    reason = f"latest deploy #{latest.id} is {latest.health_state}"
    if latest.health_reason:
        reason += f": {latest.health_reason}"
    return DeployInfo(latest.id, latest.sha, latest.deployed_at, None, reason)


def _cooldown(schedule: Schedule, environment: str, latest: Any) -> Cooldown | None:
    """The environment's cooldown after the latest finished deploy (``latest``: not started)."""
    length = schedule.cooldown(environment)
    if length is None or latest is None or latest.status not in COOLING:
        return None
    finished = latest.finished_at or latest.deployed_at
    return Cooldown(latest.id, finished, finished + length, latest.registered_by)


# A deploy that went out (or tried to) starts the cooldown; a cancelled one did not.
COOLING = ("succeeded", "failed", "rolled_back")
# The deploys that went live: health (the unhealthy blocker) belongs to them (SPEC §8.9).
COUNTED = ("succeeded", "rolled_back")


def for_intake(conn: Connection, schedule: Schedule, env: Any, svc: Any, live: Any, latest: Any) -> GateInputs:
    """Gate inputs for a registration, reusing the rows it already read: the latest counted deploy
    (``live``: health, SPEC §8.9) and the scope's latest deploy (``latest``: the cooldown)."""
    if live is not None and live.status not in COUNTED:
        live = None  # health belongs to deploys that went live
    if latest is not None and latest.status == "started":
        latest = None  # a cooldown follows finished deploys
    return GateInputs(
        env.slug,
        svc.slug,
        schedule.for_scope(env.slug, svc.slug),
        _lock_infos(conn, env.id, svc.id),
        None,
        _unhealthy(live),
        _cooldown(schedule, env.slug, latest),
    )


def lock_infos(rows: Iterable[Any], service_id: int | None) -> tuple[LockInfo, ...]:
    """The locks among ``rows`` (one environment's) that apply to ``service_id`` (None: the environment)."""
    return tuple(
        LockInfo(row.id, row.kind, row.reason, row.created_by, row.created_at, row.expires_at, row.service_slug, row.starts_at)
        for row in rows
        # An environment-wide lock blocks every service; a service lock only its service.
        if row.service_id is None or row.service_id == service_id
    )


def _lock_infos(conn: Connection, environment_id: int, service_id: int | None) -> tuple[LockInfo, ...]:
    return lock_infos(conn.execute(_ACTIVE_LOCKS, {"eid": environment_id}), service_id)


_STARTED = (
    select(deploys.c.id, deploys.c.sha, deploys.c.started_at, deploys.c.registered_at, deploys.c.registered_by)
    .where(deploys.c.service_id == bindparam("sid"), deploys.c.environment_id == bindparam("eid"), deploys.c.status == "started")
    .limit(1)
)
_LATEST_COLUMNS = (
    deploys.c.id, deploys.c.sha, deploys.c.status, deploys.c.deployed_at, deploys.c.finished_at,
    deploys.c.registered_by, deploys.c.health_state, deploys.c.health_reason,
)
_SCOPE = (deploys.c.service_id == bindparam("sid"), deploys.c.environment_id == bindparam("eid"))
_NEWEST = (deploys.c.deployed_at.desc(), deploys.c.id.desc())
# The latest finished deploy: its end starts the cooldown.
_LATEST_FINISHED = select(*_LATEST_COLUMNS).where(*_SCOPE, deploys.c.status != "started").order_by(*_NEWEST).limit(1)
# The latest *counted* deploy (SPEC §8.9): a failed or cancelled one never went live.
_LATEST_COUNTED = select(*_LATEST_COLUMNS).where(*_SCOPE, deploys.c.status.in_(COUNTED)).order_by(*_NEWEST).limit(1)


ScopeDeploys = tuple[DeployInfo | None, DeployInfo | None, Cooldown | None]


def scope_deploys(schedule: Schedule, environment: str, started: Any, latest: Any, live: Any) -> ScopeDeploys:
    """The deploy in progress, the unhealthy blocker and the cooldown of one scope, from its rows: the
    deploy in progress (``started``), the latest finished one (``latest``) and the latest counted one
    (``live``). Pure: `_deploys` reads the rows; the dashboard's overview passes rows it already holds."""
    in_progress = (
        DeployInfo(started.id, started.sha, started.started_at or started.registered_at, started.registered_by)
        if started
        else None
    )
    return in_progress, _unhealthy(live), _cooldown(schedule, environment, latest)


def needs_live(latest: Any) -> bool:
    """Whether the latest counted deploy must be read apart: the latest finished one did not go live."""
    return latest is not None and latest.status not in COUNTED


def latest_counted(conn: Connection, environment_id: int, service_id: int) -> Any:
    return conn.execute(_LATEST_COUNTED, {"sid": service_id, "eid": environment_id}).first()


def _deploys(conn: Connection, schedule: Schedule, environment: str, environment_id: int, service_id: int) -> ScopeDeploys:
    ids = {"sid": service_id, "eid": environment_id}
    started = conn.execute(_STARTED, ids).first()
    latest = conn.execute(_LATEST_FINISHED, ids).first()
    live = latest_counted(conn, environment_id, service_id) if needs_live(latest) else latest
    return scope_deploys(schedule, environment, started, latest, live)


def load(
    conn: Connection,
    schedule: Schedule,
    environment: str,
    service: str | None,
    *,
    auto_create: bool,
) -> GateInputs:
    scoped = schedule.for_scope(environment, service)
    env_id = conn.execute(select(environments.c.id).where(environments.c.slug == environment)).scalar()
    svc_id = None
    if service is not None:
        svc_id = conn.execute(select(services.c.id).where(services.c.slug == service)).scalar()
        if svc_id is None and not auto_create:
            raise UnknownService(f"unknown service {service!r}", service=service)
    if env_id is None:
        if not auto_create:
            raise UnknownEnvironment(f"unknown environment {environment!r}", environment=environment)
        return GateInputs(environment, service, scoped)
    in_progress = unhealthy = cooldown = None
    if svc_id is not None:
        in_progress, unhealthy, cooldown = _deploys(conn, schedule, environment, env_id, svc_id)
    return GateInputs(environment, service, scoped, _lock_infos(conn, env_id, svc_id), in_progress, unhealthy, cooldown)


def load_by_ids(conn: Connection, schedule: Schedule, environment_id: int, service_id: int | None) -> GateInputs:
    env = conn.execute(select(environments.c.slug).where(environments.c.id == environment_id)).scalar_one()
    svc = None
    if service_id is not None:
        svc = conn.execute(select(services.c.slug).where(services.c.id == service_id)).scalar_one()
    scoped = schedule.for_scope(env, svc)
    in_progress = unhealthy = cooldown = None
    if service_id is not None:
        in_progress, unhealthy, cooldown = _deploys(conn, schedule, env, environment_id, service_id)
    return GateInputs(env, svc, scoped, _lock_infos(conn, environment_id, service_id), in_progress, unhealthy, cooldown)


