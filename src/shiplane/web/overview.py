"""The overview: one lane per environment, one row per service, each row with its own gate.

Every row's gate is worked out from the same inputs as ``GET /api/v1/gate``
(``locks.inputs``: the environment's locks, ``scope_deploys``, the scope's schedule)
and ``locks.gate.evaluate``, so ``data-gate`` can never disagree with the API.
Gates are read for the rows shown (``LANE_ROWS``; all with ``?environment=``). One shortcut: when the environment's own gate is
closed, every service in it is closed too (a service's scope holds every
environment-wide lock and rule), so those rows need no further reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.engine import Connection

from shiplane.deploys import service as deploys_service
from shiplane.locks import gate as gate_mod
from shiplane.locks import inputs as gate_inputs
from shiplane.locks import service as locks_service
from shiplane.locks.calendar import Schedule
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys
from shiplane.tables.locks import locks

LANE_ROWS = 14  # service rows per lane on the overview; ?environment= shows all


@dataclass
class Row:
    service: str
    name: str
    gate: gate_mod.Gate | None  # None: closed by the environment's own gate (see the module docstring)
    live: dict[str, Any] | None = None  # the latest succeeded deploy
    in_progress: dict[str, Any] | None = None
    latest: dict[str, Any] | None = None  # the latest finished deploy when it is not the live one (failed, …)

    @property
    def allowed(self) -> bool:
        return self.gate is not None and self.gate.allowed


@dataclass
class Lane:
    slug: str
    name: str
    production: bool
    gate: gate_mod.Gate
    locks: list[dict[str, Any]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    total: int = 0  # services with a deploy here (rows beyond LANE_ROWS are counted, not shown)
    open_count: int = 0  # among the rows shown
    zone: str | None = None  # the time zone of the lane's deploy window, if it has one

    @property
    def state(self) -> str:
        """open | locked | closed (outside a window, a freeze or a holiday)."""
        if self.gate.allowed:
            return "open"
        return "locked" if any(b.kind == "lock" for b in self.gate.blockers) else "closed"

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)


def ordered_environments(conn: Connection) -> list[Any]:
    """Config order (``position``), then the rest by slug; the production ones last among equals."""
    rows = conn.execute(select(environments)).all()
    return sorted(rows, key=lambda e: (e.position if e.position is not None else 1 << 30, bool(e.production), e.slug))


def ordered_services(conn: Connection, config_order: list[str]) -> list[Any]:
    """Config order, then the rest by slug: the same rows in the same order on every page."""
    rank = {slug: i for i, slug in enumerate(config_order)}
    rows = conn.execute(select(services.c.id, services.c.slug, services.c.name)).all()
    return sorted(rows, key=lambda s: (rank.get(s.slug, len(rank)), s.slug))


def latest_ids(*conditions: Any) -> Any:
    """The newest deploy id of every (service, environment) pair matching ``conditions``."""
    newest = (
        select(deploys.c.id)
        .where(deploys.c.service_id == services.c.id, deploys.c.environment_id == environments.c.id, *conditions)
        .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
        .limit(1)
        .correlate(services, environments)
        .scalar_subquery()
    )
    return select(newest).select_from(services.join(environments, true()))


# What a row shows: the columns of deploys_service.to_dict and a few more, not the health
# detail (a JSON document per deploy) or the change notes.
_COLUMNS = [deploys.c[name] for name in (
    "id", "service_id", "environment_id", "sha", "status", "health_state", "health_score", "health_final", "health_reason",
    "registered_at", "started_at", "finished_at", "deployed_at", "author", "email", "version", "tags", "url", "during_lock",
    "override_reason", "override_by", "rollback_of", "registered_by", "commit_count",
)]
_NARROW = (deploys.c.id, deploys.c.service_id, deploys.c.environment_id)
_LIVE_IDS = select(*_NARROW).where(deploys.c.id.in_(latest_ids(deploys.c.status == "succeeded")))
_FINISHED_IDS = select(*_NARROW).where(deploys.c.id.in_(latest_ids(deploys.c.status != "started")))
_STARTED_IDS = select(*_NARROW).where(deploys.c.status == "started")
_ROWS = deploys_service.joined(*_COLUMNS)


def card(row: Any, now: datetime) -> dict[str, Any]:
    out = deploys_service.to_dict(row)
    out["age_seconds"] = max(0.0, (now - row.deployed_at).total_seconds())
    out["commit_count"] = row.commit_count
    out["health"]["reason"] = row.health_reason
    out["judged"] = is_judged(row.health_state, row.health_reason)
    return out


def is_judged(state: str, reason: str | None) -> bool:
    """Quiet by default: a deploy no metric applies to has no health to show."""
    return not (state == "no_data" and (reason or "").startswith("no metrics configured"))


def env_gate(env: Any, env_locks: list[Any], schedule: Schedule, now: datetime) -> tuple[gate_mod.Gate, str | None]:
    inputs = gate_mod.GateInputs(env.slug, None, schedule.for_scope(env.slug, None), gate_inputs.lock_infos(env_locks, None))
    zone = inputs.schedule.windows[0].tz if inputs.schedule.windows else None
    return gate_mod.evaluate(inputs, now), zone


def overview(
    conn: Connection, schedule: Schedule, now: datetime, *, config_order: list[str], environment: str | None = None
) -> list[Lane]:
    envs = ordered_environments(conn)
    if environment is not None:
        envs = [e for e in envs if e.slug == environment]
    wanted = {e.id for e in envs}
    svcs = ordered_services(conn, config_order)
    # (environment id, service id) → deploy row; three statements whatever the number of deploys.
    # Rows become cards only when they are shown.
    live: dict[tuple[int, int], int] = {}
    latest: dict[tuple[int, int], int] = {}
    started: dict[tuple[int, int], int] = {}
    # Which pairs have a live, latest or in-progress deploy: three narrow reads (an index seek per pair);
    # whole rows only for the rows shown, below.
    for target, query in ((live, _LIVE_IDS), (latest, _FINISHED_IDS), (started, _STARTED_IDS)):
        for r in conn.execute(query):
            if r.environment_id in wanted:
                target[(r.environment_id, r.service_id)] = r.id
    active_locks: dict[int, list[Any]] = {}
    for r in conn.execute(locks_service.joined().where(locks.c.ended_at.is_(None))):
        active_locks.setdefault(r.environment_id, []).append(r)
    lanes = []
    for env in envs:
        env_locks = active_locks.get(env.id, [])
        gate, zone = env_gate(env, env_locks, schedule, now)
        lane = Lane(env.slug, env.name or env.slug, bool(env.production), gate, zone=zone)
        lane.locks = [lock for lock in (locks_service.to_dict(r, now) for r in env_locks) if lock["active"]]
        locked_services = {r.service_id for r in env_locks if r.service_id is not None}
        present = [
            s for s in svcs
            if (env.id, s.id) in latest or (env.id, s.id) in started or s.id in locked_services
        ]
        lane.total = len(present)
        limit = len(present) if environment is not None else LANE_ROWS
        shown_ids = [i for s in present[:limit] for i in (live.get((env.id, s.id)), started.get((env.id, s.id)),
                                                        latest.get((env.id, s.id))) if i is not None]
        full = {r.id: r for r in conn.execute(_ROWS.where(deploys.c.id.in_(shown_ids)))} if shown_ids else {}
        for s in present[:limit]:
            key = (env.id, s.id)
            row_gate = None
            if gate.allowed:
                # What load_by_ids reads for this scope, from the rows and locks already in hand: only a
                # scope whose latest finished deploy never went live needs its latest counted one read.
                started_row, latest_row = full.get(started.get(key)), full.get(latest.get(key))
                live_row = (gate_inputs.latest_counted(conn, env.id, s.id) if gate_inputs.needs_live(latest_row)
                            else latest_row)
                scoped = gate_mod.GateInputs(
                    env.slug, s.slug, schedule.for_scope(env.slug, s.slug), gate_inputs.lock_infos(env_locks, s.id),
                    *gate_inputs.scope_deploys(schedule, env.slug, started_row, latest_row, live_row),
                )
                row_gate = gate_mod.evaluate(scoped, now)
            shown = [card(full[i], now) if i is not None else None for i in (live.get(key), started.get(key), latest.get(key))]
            row = Row(s.slug, s.name or s.slug, row_gate, *shown)
            if row.latest is not None and row.live is not None and row.latest["id"] == row.live["id"]:
                row.latest = None
            lane.open_count += row.allowed
            lane.rows.append(row)
        lanes.append(lane)
    return lanes


def ask(conn: Connection, schedule: Schedule, now: datetime, environment: str, service: str) -> gate_mod.Gate:
    """The "Can I deploy…?" answer: exactly what ``GET /api/v1/gate`` says for that scope."""
    return gate_mod.evaluate(gate_inputs.load(conn, schedule, environment, service, auto_create=False), now)
