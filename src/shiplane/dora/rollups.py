"""Daily DORA roll-ups: read them, fold the marks in, rebuild them.

What a day row holds (`dora_days`): the counted deploys of one environment,
service and local day, their failures and rework, and every lead time and
recovery time as a float64 array. Adding rows is exact, so a report over
roll-ups equals the report computed from the deploys, to the last bit.

How rows stay true. Database triggers (migration 0008) write a mark (``dora_marks``:
environment, service, deploy time) in the same transaction as any write to
deploys, deploy_commits or incidents that DORA reads. A change to one deploy
can change the facts of other deploys, but only of

- the failures since the last restoring deploy before it (their recovery), and
- the next counted deploy after it (whether it is a fix-forward),

so a mark stands for the days from that restoring deploy to that next deploy
(`dirty`). Rows of those days are recomputed from the deploys: by a refresh
(`plan` + `apply`, which then deletes the marks it read) or, until one runs,
by every report in memory (`bucket_tallies`). A report is therefore never
stale, whether or not a refresh ran.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from shiplane.dora import metrics, rows
from shiplane.dora.days import Grid, from_row
from shiplane.dora.metrics import Tally, _zone
from shiplane.tables.deploys import deploys
from shiplane.tables.dora import dora_days, dora_marks, dora_state

STATE_ID = 1
ALL_SERVICES = 0  # service_id of the environment-wide rows
# Marks of one service further apart than this are expanded separately.
CLUSTER_GAP = timedelta(days=2)
# A stale day of at least this many services is recomputed for the whole environment.
WHOLE_ENVIRONMENT = 8

Scope = tuple[int, int]  # (environment_id, service_id)


@dataclass(frozen=True)
class State:
    generation: int
    timezone: str | None  # None: never built
    failure_states: str | None

    def serves(self, tz: str, failure_states: Iterable[str]) -> bool:
        return self.timezone == tz and self.failure_states == settings_key(failure_states)


def settings_key(failure_states: Iterable[str]) -> str:
    return ",".join(sorted(set(failure_states)))


def read_state(conn: Connection) -> State | None:
    row = conn.execute(select(dora_state).where(dora_state.c.id == STATE_ID)).first()
    return State(row.generation, row.timezone, row.failure_states) if row else None


# ---------------------------------------------------------------- marks


@dataclass(frozen=True)
class Mark:
    id: int
    environment_id: int
    service_id: int
    at: datetime


def read_marks(conn: Connection) -> list[Mark]:
    return [Mark(*r) for r in conn.execute(select(dora_marks).order_by(dora_marks.c.id))]


def _clusters(marks: Iterable[Mark]) -> dict[Scope, list[tuple[datetime, datetime]]]:
    times: dict[Scope, list[datetime]] = defaultdict(list)
    for m in marks:
        times[(m.environment_id, m.service_id)].append(m.at)
    out: dict[Scope, list[tuple[datetime, datetime]]] = {}
    for scope, ts in times.items():
        ts.sort()
        spans = [[ts[0], ts[0]]]
        for t in ts[1:]:
            if t - spans[-1][1] > CLUSTER_GAP:
                spans.append([t, t])
            else:
                spans[-1][1] = t
        out[scope] = [(a, b) for a, b in spans]
    return out


_d = deploys.alias("d")
_scope = (
    _d.c.environment_id == bindparam("eid"),
    _d.c.service_id == bindparam("sid"),
    _d.c.status.in_(rows.COUNTED),
)
_EXPAND: dict[str, Any] = {}


def _expand_statement(failure_states: Sequence[str]) -> Any:
    key = settings_key(failure_states)
    if key not in _EXPAND:

        def first(*where: Any, desc: bool = False) -> Any:
            order = (_d.c.deployed_at.desc(), _d.c.id.desc()) if desc else (_d.c.deployed_at, _d.c.id)
            return select(_d.c.deployed_at).where(*_scope, *where).order_by(*order).limit(1).scalar_subquery()

        _EXPAND[key] = select(
            # the last restoring deploy strictly before the earliest mark...
            first(_d.c.deployed_at < bindparam("lo"), rows.restoring(_d, sorted(set(failure_states))), desc=True),
            # ...else the scope's first counted deploy; and the first counted one after the latest mark
            first(),
            first(_d.c.deployed_at > bindparam("hi")),
        )
    return _EXPAND[key]


def dirty(conn: Connection, marks: Iterable[Mark], failure_states: Sequence[str]) -> dict[Scope, list[tuple[datetime, datetime]]]:
    """Per scope, the spans of deploy times whose facts the marked changes may have changed.

    A span runs from the last restoring deploy before the marks (or the
    scope's first deploy; under the incident rule, the earliest mark) to the
    first counted deploy after them; ties on the
    instant are inside. Computed on the data as it is now, which is enough:
    every deploy that differs from when the rows were built carries a mark.
    """
    statement = _expand_statement(failure_states)
    by_incident = metrics.BY_INCIDENT in failure_states
    out: dict[Scope, list[tuple[datetime, datetime]]] = {}
    for (eid, sid), spans in _clusters(marks).items():
        out[(eid, sid)] = []
        for lo, hi in spans:
            restored, first, after = conn.execute(statement, {"eid": eid, "sid": sid, "lo": lo, "hi": hi}).one()
            # Under the incident rule a deploy's recovery is its own: only the marked deploys and
            # the next one (a fix-forward?) can change, so the span starts at the marks.
            start = lo if by_incident else min(x for x in (restored or first, lo) if x is not None)
            out[(eid, sid)].append((start, after or hi))
    return out


def stale_days(
    conn: Connection, marks: Iterable[Mark], failure_states: Sequence[str], zone: tzinfo
) -> dict[Scope, list[tuple[date, date]]]:
    """Per scope, the local days (first, last), merged and in order, that `dirty` spans touch."""
    out: dict[Scope, list[tuple[date, date]]] = {}
    for scope, spans in dirty(conn, marks, failure_states).items():
        grid = Grid.covering(min(a for a, _ in spans), max(b for _, b in spans), zone)
        merged: list[tuple[date, date]] = []
        for a, b in sorted((grid.day_of(a.timestamp()), grid.day_of(b.timestamp())) for a, b in spans):
            if merged and a <= merged[-1][1] + timedelta(days=1):
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        out[scope] = merged
    return out


def fresh_days(
    conn: Connection, eid: int, stale: dict[int, list[tuple[date, date]]], grid: Grid, failure_states: Sequence[str]
) -> dict[date, dict[int, Tally]]:
    """Exact tallies of the stale days of each service (empty ones included), from the deploys.

    Days stale for many services (typically: today, for every service that
    deployed) are computed for the whole environment at once, a handful of
    statements instead of a handful per service; the rest service by service.
    """
    wanted: dict[date, set[int]] = defaultdict(set)
    for sid, spans in stale.items():
        for a, b in spans:
            day = a
            while day <= b:
                wanted[day].add(sid)
                day += timedelta(days=1)
    out: dict[date, dict[int, Tally]] = {day: {sid: Tally() for sid in sids} for day, sids in wanted.items()}

    def compute(sid: int | None, first: date, last: date) -> None:
        found = rows.facts(
            conn, environment_id=eid, service_id=sid, lo=grid.start(first), hi=grid.end(last), failure_states=failure_states
        )
        for s in found:
            day, service = grid.day_of(s.at), int(s.service)
            if service in out.get(day, ()):
                out[day][service].add_shipped(s)

    busy = sorted(day for day, sids in wanted.items() if len(sids) >= WHOLE_ENVIRONMENT)
    for first, last in _runs(busy):
        compute(None, first, last)
    done = set(busy)
    for sid in stale:
        for first, last in _runs(sorted(day for day, sids in wanted.items() if sid in sids and day not in done)):
            compute(sid, first, last)
    return out


def _runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) runs."""
    out: list[tuple[date, date]] = []
    for day in days:
        if out and day == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


# ---------------------------------------------------------------- reading


_SELECT_DAYS = select(
    dora_days.c.day, dora_days.c.deploys, dora_days.c.failed, dora_days.c.rework, dora_days.c.leads, dora_days.c.recoveries,
    dora_days.c.unknown_commits,
).where(
    dora_days.c.environment_id == bindparam("eid"),
    dora_days.c.service_id == bindparam("sid"),
    dora_days.c.day >= bindparam("d0"),
    dora_days.c.day <= bindparam("d1"),
)
_SERVICE_ROWS_OF_DAYS = select(
    dora_days.c.service_id,
    dora_days.c.day,
    dora_days.c.deploys,
    dora_days.c.failed,
    dora_days.c.rework,
    dora_days.c.unknown_commits,
    dora_days.c.leads,
    dora_days.c.recoveries,
).where(
    dora_days.c.environment_id == bindparam("eid"),
    dora_days.c.service_id != ALL_SERVICES,
    dora_days.c.day.in_(bindparam("days", expanding=True)),
)


def bucket_tallies(
    conn: Connection,
    *,
    environment_id: int,
    service_id: int | None,
    since: datetime,
    until: datetime,
    starts: Sequence[datetime],
    tz: str,
    failure_states: Sequence[str],
) -> list[Tally] | None:
    """One `Tally` per bucket from the roll-ups, exact; None when they were built for other settings.

    Whole local days come from `dora_days`; days that marks say may have
    changed, and the partial days at either end of the range, are computed
    from the deploys.
    """
    state = read_state(conn)
    if state is None or not state.serves(tz, failure_states):
        return None
    # Marks before rows: under READ COMMITTED a refresh may land in between,
    # and then the marks still name every day whose row we may read stale.
    marks = [
        m
        for m in read_marks(conn)
        if m.environment_id == environment_id and (service_id is None or m.service_id == service_id)
    ]
    zone = _zone(tz)
    bucket_ts = [s.timestamp() for s in starts]
    out = [Tally() for _ in starts]

    def put_facts(lo: datetime, hi: datetime) -> None:
        found = rows.facts(
            conn, environment_id=environment_id, service_id=service_id, lo=lo, hi=hi, failure_states=failure_states
        )
        for i, t in enumerate(metrics.tally(found, starts)):
            out[i].add(t)

    grid = Grid.covering(since, until, zone)
    whole = grid.whole_days(since, until)
    if whole is None:
        put_facts(since, until)
        return out
    d0, d1 = whole
    if since < grid.start(d0):
        put_facts(since, grid.start(d0))
    if grid.end(d1) < until:
        put_facts(grid.end(d1), until)

    sid = ALL_SERVICES if service_id is None else service_id
    per_day = {
        r.day: from_row(r) for r in conn.execute(_SELECT_DAYS, {"eid": environment_id, "sid": sid, "d0": d0, "d1": d1})
    }
    # Days that marks say may have changed: computed afresh, per service.
    stale: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for (_, s), spans in stale_days(conn, marks, failure_states, zone).items():
        for a, b in spans:
            a, b = max(a, d0), min(b, d1)
            if a <= b:
                stale[s].append((a, b))
    fresh = fresh_days(conn, environment_id, stale, grid, failure_states)
    if fresh and service_id is None:
        # The environment row of a stale day is the other services' rows plus the fresh ones.
        for r in conn.execute(_SERVICE_ROWS_OF_DAYS, {"eid": environment_id, "days": sorted(fresh)}):
            fresh[r.day].setdefault(r.service_id, from_row(r))
    for day, tallies in fresh.items():
        per_day[day] = merged = Tally()
        for t in tallies.values():
            merged.add(t)

    for day, t in per_day.items():
        out[_bucket(bucket_ts, grid.start(day).timestamp())].add(t)
    return out


def _bucket(bucket_ts: Sequence[float], at: float) -> int:
    return bisect_right(bucket_ts, at) - 1
