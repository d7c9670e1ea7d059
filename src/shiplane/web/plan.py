"""The locks page's look ahead: scheduled locks (edit, cancel), the calendar feed URL, and a
14-day strip of closed periods per environment.

The strip is SVG drawn with attributes only (the page's Content-Security-Policy allows no inline
styles): one row per environment, one column per UTC day, a rectangle per closed period from
``locks.ics.closed_periods``, the same periods the calendar feed serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from shiplane.locks import ics
from shiplane.locks import inputs as gate_inputs
from shiplane.locks import service as locks_service
from shiplane.locks.calendar import Schedule
from shiplane.locks.gate import GateInputs
from shiplane.locks.wallclock import local_to_utc
from shiplane.tables.locks import locks
from shiplane.web import views

STRIP_DAYS = 14
DAY_WIDTH = 100  # SVG units per day
ROW_HEIGHT = 22
KIND_FILL = {"lock": "#c0392b", "window": "#7f8c8d", "freeze": "#2e86c1", "holiday": "#8e44ad"}


@dataclass(frozen=True)
class Bar:
    kind: str
    title: str
    x: float
    width: float
    fill: str


@dataclass(frozen=True)
class Strip:
    environment: str
    zone: str
    bars: tuple[Bar, ...]


def strips(conn: Connection, schedule: Schedule, envs: list[str], now: datetime) -> tuple[datetime, list[Strip]]:
    start = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    end = start + timedelta(days=STRIP_DAYS)
    span = (end - start).total_seconds()
    rows = conn.execute(locks_service.joined().where(locks.c.ended_at.is_(None))).all()
    out = []
    for env in envs:
        env_rows = [r for r in rows if r.environment_slug == env]
        inputs = GateInputs(env, None, schedule.for_scope(env, None), gate_inputs.lock_infos(env_rows, None))
        bars = []
        for p in ics.closed_periods(inputs, start, STRIP_DAYS):
            s, e = max(p.start, start), min(p.end, end)
            if e <= s:
                continue
            x = (s - start).total_seconds() / span * STRIP_DAYS * DAY_WIDTH
            w = (e - s).total_seconds() / span * STRIP_DAYS * DAY_WIDTH
            title = f"{p.summary}: {p.start:%Y-%m-%d %H:%M} – {p.end:%Y-%m-%d %H:%M} UTC"
            bars.append(Bar(p.kind, title, round(x, 2), round(max(w, 0.5), 2), KIND_FILL.get(p.kind, "#555")))
        # Locks on top of schedule periods, so a lock inside a closed window still shows.
        bars.sort(key=lambda b: b.kind == "lock")
        out.append(Strip(env, schedule.timezone(env), tuple(bars)))
    return start, out


def locks_page(conn: Connection, now: datetime, schedule: Schedule) -> dict[str, Any]:
    """``views.locks_page`` plus what this module adds (the partial ``_locks_plan.html`` shows it)."""
    data = views.locks_page(conn, now)
    strip_start, rows = strips(conn, schedule, data["environments"], now)
    return data | {
        "scheduled": locks_service.list_locks(conn, now=now, state="scheduled", limit=1000),
        "zones": {env: schedule.timezone(env) for env in data["environments"]},
        "strips": rows,
        "strip_start": strip_start,
        "strip_days": [strip_start + timedelta(days=i) for i in range(STRIP_DAYS)],
        "strip_width": STRIP_DAYS * DAY_WIDTH,
        "row_height": ROW_HEIGHT,
        "kind_fill": KIND_FILL,
    }


def wall_time(value: str, zone: str) -> datetime:
    """A ``datetime-local`` form value, read as wall-clock time in the environment's zone."""
    naive = datetime.fromisoformat(value)
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return local_to_utc(naive, zone)
