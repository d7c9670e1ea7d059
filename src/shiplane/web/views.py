"""What each dashboard page shows, read from the database in as few statements as possible.

Plain functions of a connection and ``now``; the routes render what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.engine import Connection

from shiplane.clock import parse_iso
from shiplane.deploys import service as deploys_service
from shiplane.locks import gate as gate_mod
from shiplane.locks import inputs as gate_inputs
from shiplane.locks import service as locks_service
from shiplane.locks.calendar import Schedule
from shiplane.tables.catalog import environments, services
from shiplane.tables.deploys import deploys
from shiplane.tables.events import events
from shiplane.tables.locks import locks
from shiplane.web.charts import impact_chart, trend_chart

LANE_ROWS = 12  # latest deploys shown per lane on the overview; ?environment= shows all


@dataclass
class Lane:
    slug: str
    name: str
    production: bool
    gate: gate_mod.Gate
    locks: list[dict[str, Any]] = field(default_factory=list)
    in_progress: list[dict[str, Any]] = field(default_factory=list)
    deploys: list[dict[str, Any]] = field(default_factory=list)
    hidden: int = 0  # services with deploys that did not fit
    zone: str | None = None  # the time zone of the lane's deploy window, if it has one

    @property
    def state(self) -> str:
        """open | locked | closed (outside a window, a freeze or a holiday)."""
        if self.gate.allowed:
            return "open"
        return "locked" if any(b.kind == "lock" for b in self.gate.blockers) else "closed"


def _ordered_environments(conn: Connection) -> list[Any]:
    # staging → production: non-production first, then configured position, then name.
    rows = conn.execute(select(environments)).all()
    return sorted(rows, key=lambda e: (bool(e.production), e.position if e.position is not None else 1 << 30, e.slug))


# The latest deploy of every (service, environment) pair: one index seek per pair
# on ix_deploys_scope_time, whatever the number of deploys.
_LATEST_IDS = select(
    select(deploys.c.id)
    .where(deploys.c.service_id == services.c.id, deploys.c.environment_id == environments.c.id)
    .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
    .limit(1)
    .correlate(services, environments)
    .scalar_subquery()
).select_from(services.join(environments, true()))
_LATEST = select(deploys.c.id, deploys.c.environment_id, deploys.c.deployed_at).where(deploys.c.id.in_(_LATEST_IDS))
# PostgreSQL runs the same seeks once per pair with LATERAL (the IN form above evaluates
# the subquery twice per pair there); SQLite has no LATERAL.
_newest = (
    select(deploys.c.id, deploys.c.environment_id, deploys.c.deployed_at)
    .where(deploys.c.service_id == services.c.id, deploys.c.environment_id == environments.c.id)
    .order_by(deploys.c.deployed_at.desc(), deploys.c.id.desc())
    .limit(1)
    .lateral("newest")
)
_LATEST_LATERAL = select(_newest.c.id, _newest.c.environment_id, _newest.c.deployed_at).select_from(
    services.join(environments, true()).join(_newest, true())
)


def _row_dict(row: Any, now: datetime) -> dict[str, Any]:
    out = deploys_service.to_dict(row)
    out["age_seconds"] = max(0.0, (now - row.deployed_at).total_seconds())
    out["commit_count"] = row.commit_count
    out["health"]["reason"] = row.health_reason
    return out


def overview(conn: Connection, schedule: Schedule, now: datetime, *, environment: str | None = None) -> list[Lane]:
    envs = _ordered_environments(conn)
    if environment is not None:
        envs = [e for e in envs if e.slug == environment]
    wanted = {e.id for e in envs}
    # Rank the latest deploys on three narrow columns, then read whole rows only for those shown.
    by_env: dict[int, list[Any]] = {}
    for r in conn.execute(_LATEST_LATERAL if conn.dialect.name == "postgresql" else _LATEST):
        if r.environment_id in wanted:
            by_env.setdefault(r.environment_id, []).append(r)
    shown: dict[int, list[int]] = {}
    hidden: dict[int, int] = {}
    for env_id, items in by_env.items():
        items.sort(key=lambda r: (r.deployed_at, r.id), reverse=True)
        limit = len(items) if environment is not None else LANE_ROWS
        shown[env_id] = [r.id for r in items[:limit]]
        hidden[env_id] = len(items) - len(shown[env_id])
    show_ids = [i for ids in shown.values() for i in ids]
    rows = {r.id: r for r in conn.execute(deploys_service.joined().where(deploys.c.id.in_(show_ids)))} if show_ids else {}
    started = conn.execute(
        deploys_service.joined().where(deploys.c.status == "started").order_by(deploys.c.started_at)
    ).all()
    active_locks: dict[int, list[Any]] = {}
    for r in conn.execute(locks_service.joined().where(locks.c.ended_at.is_(None))):
        active_locks.setdefault(r.environment_id, []).append(r)
    lanes = []
    for env in envs:
        env_locks = active_locks.get(env.id, [])
        inputs = gate_mod.GateInputs(
            env.slug, None, schedule.for_scope(env.slug, None), gate_inputs.lock_infos(env_locks, None)
        )
        lane = Lane(env.slug, env.name or env.slug, bool(env.production), gate_mod.evaluate(inputs, now))
        lane.zone = inputs.schedule.windows[0].tz if inputs.schedule.windows else None
        lane.locks = [lock for lock in (locks_service.to_dict(r, now) for r in env_locks) if lock["active"]]
        lane.in_progress = [_row_dict(r, now) for r in started if r.environment_id == env.id]
        lane.deploys = [_row_dict(rows[i], now) for i in shown.get(env.id, [])]
        lane.hidden = hidden.get(env.id, 0)
        lanes.append(lane)
    return lanes


def deploy_page(conn: Connection, deploy_id: int) -> dict[str, Any]:
    """The deploy with changes and health detail (as the API gives it), plus its timeline."""
    out = deploys_service.get(conn, deploy_id)
    row = deploys_service.get_row(conn, deploy_id)
    out["health_detail"] = row.health_detail or {}
    out["commit_count"] = row.commit_count
    out["timeline"] = [
        {"at": e.at, "kind": e.kind, "actor": e.actor, "data": e.data or {}}
        for e in conn.execute(
            select(events).where(events.c.deploy_id == deploy_id).order_by(events.c.at, events.c.id).limit(200)
        )
    ]
    return out


def locks_page(conn: Connection, now: datetime, *, limit: int = 100) -> dict[str, Any]:
    return {
        "active": locks_service.list_locks(conn, now=now, active=True, limit=1000),
        "past": locks_service.list_locks(conn, now=now, active=False, limit=limit),
    } | catalog(conn)


def catalog(conn: Connection) -> dict[str, list[str]]:
    return {
        "environments": [e.slug for e in _ordered_environments(conn)],
        "services": [s for (s,) in conn.execute(select(services.c.slug).order_by(services.c.slug))],
    }



def _points(raw: list[Any]) -> list[tuple[datetime, float]]:
    out = []
    for item in raw or []:
        try:
            at, value = item
            out.append((parse_iso(str(at)), float(value)))
        except (TypeError, ValueError):
            continue
    return out


def impact_charts(deploy: dict[str, Any], metric_configs: dict[str, Any]) -> dict[str, str]:
    """One SVG per judged metric from the series stored with the verdict (none stored: no chart)."""
    deployed_at = parse_iso(deploy["deployed_at"])
    out = {}
    for m in deploy["health"].get("metrics", []):
        series = m.get("series") or {}
        baseline, current = _points(series.get("baseline")), _points(series.get("current"))
        band = None
        center = m.get("baseline_center")
        cfg = metric_configs.get(m["name"])
        if isinstance(center, (int, float)) and cfg is not None:
            # The healthy range: from the baseline's centre to where "ailing" begins.
            hi = center * cfg.ailing_ratio if center >= 0 else center / cfg.ailing_ratio
            lo = center / cfg.ailing_ratio if center >= 0 else center * cfg.ailing_ratio
            band = {"increase": (min(lo, center), hi), "decrease": (lo, max(hi, center))}.get(cfg.regression, (lo, hi))
        out[m["name"]] = impact_chart(
            baseline=baseline, current=current, deploy_at=deployed_at, band=band, title=m["name"],
            unit=getattr(cfg, "unit", "") or "", verdict=m.get("health"),
        )
    return out


def trend_charts(report: dict[str, Any]) -> dict[str, str]:
    series = report.get("series", [])
    starts = [date.fromisoformat(s["start"][:10]) for s in series]
    lead = [s["median_lead_time_seconds"] for s in series]
    return {
        "deploys": trend_chart(points=list(zip(starts, [float(s["deploys"]) for s in series])), title="Deploys per bucket"),
        "failed": trend_chart(
            # In percent, like the headline ("3.2%", not "0.032"): one unit per metric.
            points=list(zip(starts, [100 * s["failed"] / s["deploys"] if s["deploys"] else None for s in series])),
            title="Failure rate per bucket",
            unit="%",
        ),
        "lead": trend_chart(
            points=list(zip(starts, [v / 3600 if v is not None else None for v in lead])), title="Median lead time", unit="h"
        ),
    }
