"""Keeping `dora_days` current: fold the marks in, or rebuild for new settings.

A refresh is planned on a read connection (`plan`: the slow part, in a thread)
and applied in one short write transaction (`apply`). The write first bumps
``dora_state.generation`` with a conditional update: of two refreshes planned
on the same generation only the first one writes, the other does nothing. It
deletes exactly the marks it read, so a write that lands while a refresh is
being planned leaves its mark for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from shiplane import clock
from shiplane.db import Database
from shiplane.dora import rows
from shiplane.dora.days import Grid, compact, from_row, to_row
from shiplane.dora.metrics import DEFAULT_FAILURE_STATES, Tally, _zone
from shiplane.dora.rollups import (
    ALL_SERVICES,
    STATE_ID,
    Scope,
    fresh_days,
    read_marks,
    read_state,
    settings_key,
    stale_days,
)
from shiplane.tables.deploys import deploys
from shiplane.tables.dora import dora_days, dora_marks, dora_state

log = logging.getLogger("shiplane.dora")

CHUNK = 500  # ids or rows per statement
BIG = 50_000  # deploys above which a rebuild never runs inside a request
EVERY = 60.0  # seconds between two refreshes by the worker (reports are exact either way; see docs/dora.md)


@dataclass
class Plan:
    generation: int
    mark_ids: list[int]
    days: dict[Scope, dict[date, Tally]]  # service rows to write; an empty tally deletes the row
    rebuild: tuple[str, str] | None = None  # (timezone, failure_states key): replace every row
    environment_days: dict[int, dict[date, Tally]] = field(default_factory=dict)  # rebuild only


def plan(conn: Connection, *, tz: str, failure_states: Sequence[str]) -> Plan | None:
    """What a refresh would write now; None when there is nothing to do."""
    state = read_state(conn)
    marks = read_marks(conn)
    if state is None or not state.serves(tz, failure_states):
        return plan_rebuild(conn, tz=tz, failure_states=failure_states, generation=state.generation if state else -1,
                            mark_ids=[m.id for m in marks])
    if not marks:
        return None
    zone = _zone(tz)
    stale: dict[int, dict[int, list[tuple[date, date]]]] = defaultdict(dict)
    for (eid, sid), spans in stale_days(conn, marks, failure_states, zone).items():
        stale[eid][sid] = spans
    days: dict[Scope, dict[date, Tally]] = defaultdict(dict)
    for eid, by_service in stale.items():
        first = min(spans[0][0] for spans in by_service.values())
        last = max(spans[-1][1] for spans in by_service.values())
        for day, tallies in fresh_days(conn, eid, by_service, Grid.spanning(first, last, zone), failure_states).items():
            for sid, t in tallies.items():
                days[(eid, sid)][day] = compact(t)
    return Plan(state.generation, [m.id for m in marks], days)


_ENVIRONMENTS = (
    select(deploys.c.environment_id, func.min(deploys.c.deployed_at), func.max(deploys.c.deployed_at))
    # ix_deploys_env_time: an index-only scan.
    .group_by(deploys.c.environment_id)
)
REBUILD_DAYS = 28  # days computed at once for a whole environment


def plan_rebuild(
    conn: Connection, *, tz: str, failure_states: Sequence[str], generation: int, mark_ids: list[int]
) -> Plan:
    """Every row, from every deploy, for the settings `tz` and `failure_states`.

    Four weeks of a whole environment at a time: deploys of a period sit close
    together in the tables, so this reads them in order where one service at
    a time would seek all over deploy_commits.
    """
    zone = _zone(tz)
    days: dict[Scope, dict[date, Tally]] = defaultdict(dict)
    environment_days: dict[int, dict[date, Tally]] = defaultdict(dict)
    for eid, first, last in conn.execute(_ENVIRONMENTS):
        grid = Grid.covering(first, last, zone)
        day, end = grid.day_of(first.timestamp()), grid.day_of(last.timestamp())
        while day <= end:
            block_end = min(end, day + timedelta(days=REBUILD_DAYS - 1))
            found = rows.facts(
                conn, environment_id=eid, service_id=None, lo=grid.start(day), hi=grid.end(block_end),
                failure_states=failure_states,
            )
            block: dict[Scope, dict[date, Tally]] = defaultdict(dict)
            for f in found:
                d = grid.day_of(f.at)
                tallies = block[(eid, int(f.service))]
                if d not in tallies:
                    tallies[d] = Tally()
                tallies[d].add_shipped(f)
            for scope, tallies in block.items():
                for d, t in tallies.items():
                    days[scope][d] = t = compact(t)
                    environment_days[eid].setdefault(d, Tally()).add(t)
            day = block_end + timedelta(days=1)
    return Plan(generation, mark_ids, days, rebuild=(tz, settings_key(failure_states)), environment_days=environment_days)


def apply(conn: Connection, p: Plan, now: datetime) -> bool:
    """Write a plan in the caller's transaction; False (nothing written) when another refresh won."""
    values: dict[str, Any] = {"generation": p.generation + 1}
    if p.rebuild:
        values |= {"timezone": p.rebuild[0], "failure_states": p.rebuild[1], "built_at": now}
    if p.generation < 0:
        # No state row yet (a database emptied by hand): create it, or lose to whoever did.
        if read_state(conn) is not None:
            return False
        conn.execute(insert(dora_state).values(id=STATE_ID, **values))
    elif conn.execute(
        update(dora_state).where(dora_state.c.id == STATE_ID, dora_state.c.generation == p.generation).values(**values)
    ).rowcount != 1:
        return False

    if p.rebuild:
        conn.execute(delete(dora_days))
    new_rows = []
    touched: dict[int, set[date]] = defaultdict(set)
    for (eid, sid), tallies in p.days.items():
        if not p.rebuild:
            for chunk in _chunks(sorted(tallies)):
                conn.execute(
                    delete(dora_days).where(
                        dora_days.c.environment_id == eid, dora_days.c.service_id == sid, dora_days.c.day.in_(chunk)
                    )
                )
        touched[eid].update(tallies)
        new_rows += [to_row(eid, sid, day, t) for day, t in tallies.items() if t.deploys]
    _insert(conn, new_rows)

    if p.rebuild:
        whole = p.environment_days
    else:
        whole = {eid: _environment_days(conn, eid, sorted(ds)) for eid, ds in touched.items()}
    _insert(conn, [to_row(eid, ALL_SERVICES, day, t) for eid, ts in whole.items() for day, t in ts.items() if t.deploys])

    for chunk in _chunks(p.mark_ids):
        conn.execute(delete(dora_marks).where(dora_marks.c.id.in_(chunk)))
    return True


def _environment_days(conn: Connection, eid: int, days: list[date]) -> dict[date, Tally]:
    """The environment rows of `days` rebuilt from the service rows (deleting the old ones)."""
    out: dict[date, Tally] = {day: Tally() for day in days}
    for chunk in _chunks(days):
        where = and_(dora_days.c.environment_id == eid, dora_days.c.day.in_(chunk))
        for r in conn.execute(select(dora_days).where(where, dora_days.c.service_id != ALL_SERVICES)):
            out[r.day].add(from_row(r))
        conn.execute(delete(dora_days).where(where, dora_days.c.service_id == ALL_SERVICES))
    return out


def _insert(conn: Connection, new_rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(new_rows), CHUNK):
        conn.execute(insert(dora_days), new_rows[i : i + CHUNK])


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def rebuild(
    conn: Connection, *, tz: str = "UTC", failure_states: Sequence[str] = DEFAULT_FAILURE_STATES, now: datetime | None = None
) -> None:
    """Rebuild every row in the caller's transaction (benchmarks, tests, operators)."""
    state = read_state(conn)
    p = plan_rebuild(
        conn,
        tz=tz,
        failure_states=failure_states,
        generation=state.generation if state else -1,
        mark_ids=[m.id for m in read_marks(conn)],
    )
    if not apply(conn, p, now or clock.now()):
        raise RuntimeError("another refresh of the DORA roll-ups won the race; try again")


def refresh(conn: Connection, *, tz: str, failure_states: Sequence[str], now: datetime | None = None) -> bool:
    """Plan and apply in the caller's transaction; True when something was written."""
    p = plan(conn, tz=tz, failure_states=failure_states)
    return p is not None and apply(conn, p, now or clock.now())


class Refresher:
    """Refreshes the roll-ups of one database: from the worker (`tick`) and before a DORA report.

    A rebuild of a large database (new settings, or a database upgraded to
    0008) is planned in a thread and never waited for by a request: the
    report reads the deploys meanwhile. Its write holds SQLite's write lock
    for about as long as inserting the rows takes (see docs/performance.md).
    """

    def __init__(self, db: Database, tz: str, failure_states: Sequence[str]) -> None:
        self.db, self.tz, self.failure_states = db, tz, tuple(failure_states)
        self._last = 0.0
        self._rebuild: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """For the worker's periodic tasks: at most every `EVERY` seconds; never asks to run again at once."""
        if time.monotonic() - self._last >= EVERY:
            self._last = time.monotonic()
            await self.refresh()
        return 0

    async def before_report(self) -> None:
        """Fold the marks in before a report reads the roll-ups. Never fails the report:
        it recomputes the days of any marks left."""
        try:
            await self.refresh()
        except Exception:  # noqa: BLE001 - e.g. a concurrent refresh created the state row first
            log.warning("refreshing the DORA roll-ups failed", exc_info=True)

    async def refresh(self) -> None:
        """Fold the marks in; start a large rebuild in the background (neither the worker nor a request waits for it)."""
        if self._rebuild is not None and not self._rebuild.done():
            return
        if await self.db.run_read(self._needs_big_rebuild):
            self._rebuild = asyncio.get_running_loop().create_task(self._rebuild_now())
            return
        p = await self.db.run_long_read(plan, tz=self.tz, failure_states=self.failure_states)
        if p is not None:
            await self.db.run_write(apply, p, clock.now())

    def _needs_big_rebuild(self, conn: Connection) -> bool:
        state = read_state(conn)
        if state is not None and state.serves(self.tz, self.failure_states):
            return False
        return (conn.execute(select(func.max(deploys.c.id))).scalar() or 0) > BIG

    async def _rebuild_now(self) -> None:
        started = time.monotonic()
        log.info("rebuilding the DORA roll-ups for timezone %s, failure states %s", self.tz, self.failure_states)
        try:
            p = await self.db.run_long_read(plan, tz=self.tz, failure_states=self.failure_states)
            if p is not None:
                # In a thread even on SQLite: inserting every row takes a while.
                await asyncio.to_thread(self._apply_alone, p)
        except Exception:  # noqa: BLE001 - reports fall back to the deploys; the next refresh retries
            log.exception("rebuilding the DORA roll-ups failed")
            return
        log.info("rebuilt the DORA roll-ups in %.1f s", time.monotonic() - started)

    def _apply_alone(self, p: Plan) -> None:
        with self.db.write() as conn:
            apply(conn, p, clock.now())


_REFRESHERS: weakref.WeakKeyDictionary[Database, dict[tuple[str, tuple[str, ...]], Refresher]] = (
    weakref.WeakKeyDictionary()
)


def refresher(db: Database, tz: str, failure_states: Sequence[str]) -> Refresher:
    """The process's refresher of `db` for these settings (one, so rebuilds never run twice at once)."""
    mine = _REFRESHERS.setdefault(db, {})
    key = (tz, tuple(sorted(set(failure_states))))
    if key not in mine:
        mine[key] = Refresher(db, tz, failure_states)
    return mine[key]
