"""Deploy windows, freezes and holidays as pure functions of ``(rules, at)``.

Conventions (also in docs/locks.md):

* Every interval is half-open ``[start, end)`` in UTC.
* A local time that does not exist (the hour skipped when clocks spring
  forward) resolves to the instant the clock jumps, i.e. the first moment the
  wall clock shows a later time; this is also what ``cronsim`` does for cron
  freezes. A local time that happens twice (clocks fall back) resolves to its
  first occurrence.
* A window whose ``end`` is earlier than its ``start`` crosses midnight: it is
  one window that starts on each listed day and ends the next day.
* A cron freeze lasts ``duration`` in wall-clock time: "Fri 18:00 + 63h" ends
  on Monday at 09:00 local time even across a DST change.
* Holidays close the whole local day (midnight to midnight) in the rule's
  time zone; ``eve`` also closes the day before.

This module compiles the configuration into a ``Schedule`` and answers, per
scope, what closes the gate at an instant and when that next changes. The
rules themselves are in ``shiplane.locks.rules``; resolving wall-clock times
to UTC in ``shiplane.locks.wallclock``.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from shiplane.locks.rules import (
    CronFreeze,
    Holidays,
    Interval,
    OneOffFreeze,
    Scope,
    Window,
)
from shiplane.locks.wallclock import UTC, local_to_utc
from shiplane.settings import DAYS, Config, FreezeConfig, HolidayConfig, WindowConfig


@dataclass(frozen=True)
class Timeline:
    """The scope's schedule precomputed as a piecewise-constant function of time.

    ``edges`` are the sorted instants where the set of active intervals
    changes; ``active[i]`` holds for ``edges[i-1] <= t < edges[i]``. Valid for
    queries in ``[start, end)``; answers beyond that fall back to direct
    computation.
    """

    start: datetime
    end: datetime
    edges: tuple[datetime, ...]
    active: tuple[tuple[Interval, ...], ...]

    def covers(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def closed_by(self, t: datetime) -> list[Interval]:
        return list(self.active[bisect.bisect_right(self.edges, t)])

    def next_boundary(self, t: datetime) -> datetime | None:
        """The next edge, or None when it lies beyond what this timeline knows."""
        i = bisect.bisect_right(self.edges, t)
        if i < len(self.edges) and self.edges[i] < self.end:
            return self.edges[i]
        return None


def _same(rule: object) -> tuple:
    """What a rule's periods depend on: everything but its name and scope."""
    return (type(rule), *(getattr(rule, f.name) for f in dataclasses.fields(rule) if f.name not in ("rule", "scope")))  # type: ignore[arg-type]


_TIMELINE_DAYS = 14
_WINDOW_LOOKAROUND = timedelta(days=10)


@dataclass(frozen=True)
class ScopedSchedule:
    """The rules that apply to one (environment, service) scope.

    Answers come from a ``Timeline`` built once per scope and day, so a gate
    evaluation costs a few bisections instead of re-deriving every rule.
    """

    windows: tuple[Window, ...] = ()
    closures: tuple[OneOffFreeze | CronFreeze | Holidays, ...] = ()
    _timelines: dict[date, Timeline] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def _window_reason(self) -> str:
        # Several rules may describe the same window: name each once.
        return "outside deploy window (" + " or ".join(dict.fromkeys(w.describe() for w in self.windows)) + ")"

    def timeline(self, at: datetime) -> Timeline:
        day = at.astimezone(UTC).date()
        tl = self._timelines.get(day)
        if tl is None:
            if len(self._timelines) > 8:
                self._timelines.clear()
            tl = self._timelines[day] = self._build(day)
        return tl

    def intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """Every closed interval meeting ``[start, end)``, each with its true start and end."""
        intervals: list[Interval] = []
        # Rules that differ only in name and scope close the same periods: work each out once.
        done: dict[tuple, list[Interval]] = {}
        for rule in self.closures:
            key = _same(rule)
            if key in done:
                intervals.extend(dataclasses.replace(i, rule=rule.rule) for i in done[key])
            else:
                done[key] = rule.intervals(start, end)
                intervals.extend(done[key])
        if self.windows:
            # Closed between open windows; look well around the range so every
            # closed stretch has its true start ("since") and end ("until").
            g0, g1 = start - _WINDOW_LOOKAROUND, end + _WINDOW_LOOKAROUND
            distinct = {(w.days, w.start, w.end, w.tz): w for w in self.windows}.values()
            opens = sorted(o for w in distinct for o in w.open_between(g0, g1))
            reason, rules = self._window_reason(), ",".join(w.rule for w in self.windows)
            cursor = g0
            for s_, e_ in opens + [(g1, g1)]:
                if s_ > cursor and s_ > start and cursor < end and cursor > g0:
                    intervals.append(Interval("window", reason, cursor, s_, rules))
                cursor = max(cursor, e_)
        return intervals

    def _build(self, day: date) -> Timeline:
        start = datetime.combine(day, time(), UTC) - timedelta(days=1)
        end = start + timedelta(days=_TIMELINE_DAYS)
        intervals = self.intervals(start, end)
        # Window blockers first, then rules in configuration order, as closed_by_direct lists them.
        order = {rule.rule: n for n, rule in enumerate(self.closures)}
        intervals.sort(key=lambda i: (i.kind != "window", order.get(i.rule, -1), i.start))
        edges = sorted({t for i in intervals for t in (i.start, i.end)})
        active: list[tuple[Interval, ...]] = [()]
        for edge in edges:  # the segment starting at each edge
            active.append(tuple(i for i in intervals if i.start <= edge < i.end))
        return Timeline(start, end, tuple(edges), tuple(active))

    def closed_by(self, at: datetime) -> list[Interval]:
        tl = self.timeline(at)
        if tl.covers(at):
            return tl.closed_by(at)
        return self.closed_by_direct(at)

    def next_boundary(self, at: datetime) -> datetime | None:
        tl = self.timeline(at)
        if tl.covers(at):
            edge = tl.next_boundary(at)
            if edge is not None:
                return edge
        return self.next_boundary_direct(at)

    def closed_by_direct(self, at: datetime) -> list[Interval]:
        out: list[Interval] = []
        if self.windows and not any(w.contains(at) for w in self.windows):
            since = max((t for w in self.windows if (t := w.last_close(at))), default=None)
            until = min((t for w in self.windows if (t := w.next_open(at))), default=None)
            out.append(
                Interval("window", self._window_reason(), since or at, until or at, ",".join(w.rule for w in self.windows))
            )
        for rule in self.closures:
            out.extend(rule.active(at))
        return out

    def next_boundary_direct(self, at: datetime) -> datetime | None:
        edges = [w.next_boundary(at) for w in self.windows] + [r.next_boundary(at) for r in self.closures]
        return min((e for e in edges if e is not None and e > at), default=None)


@dataclass
class Schedule:
    """All configured rules, compiled once per configuration."""

    windows: Sequence[Window] = ()
    closures: Sequence[OneOffFreeze | CronFreeze | Holidays] = ()
    cooldowns: dict[str, timedelta] = field(default_factory=dict)  # environment slug → cooldown
    timezones: dict[str, str] = field(default_factory=dict)  # environment slug → IANA zone (default UTC)
    _scoped: dict[tuple[str, str | None], ScopedSchedule] = field(default_factory=dict)

    def cooldown(self, environment: str) -> timedelta | None:
        return self.cooldowns.get(environment)

    def timezone(self, environment: str) -> str:
        return self.timezones.get(environment, "UTC")

    def for_scope(self, environment: str, service: str | None) -> ScopedSchedule:
        key = (environment, service)
        scoped = self._scoped.get(key)
        if scoped is None:
            scoped = ScopedSchedule(
                tuple(w for w in self.windows if w.scope.applies(environment, service)),
                tuple(r for r in self.closures if r.scope.applies(environment, service)),
            )
            if len(self._scoped) < 100_000:
                self._scoped[key] = scoped
        return scoped



def _scope(rule: WindowConfig | FreezeConfig | HolidayConfig) -> Scope:
    return Scope(frozenset(rule.environments), frozenset(rule.services))


def _freeze(i: int, f: FreezeConfig) -> OneOffFreeze | CronFreeze:
    rule = f"freezes[{i}]"
    if f.cron:
        assert f.duration is not None
        return CronFreeze(rule, _scope(f), f.cron, f.duration, f.timezone, f.reason)
    assert f.start is not None and f.end is not None

    def resolve(value: datetime) -> datetime:
        if value.tzinfo is not None:
            return value.astimezone(UTC)
        return local_to_utc(value, f.timezone)

    return OneOffFreeze(rule, _scope(f), resolve(f.start), resolve(f.end), f.reason)


def compile_schedule(config: Config) -> Schedule:
    windows = [
        Window(f"windows[{i}]", _scope(w), frozenset(DAYS.index(d) for d in w.days), w.start, w.end, w.timezone)
        for i, w in enumerate(config.windows)
    ]
    closures: list[OneOffFreeze | CronFreeze | Holidays] = [_freeze(i, f) for i, f in enumerate(config.freezes)]
    closures += [
        Holidays(f"holidays[{i}]", _scope(h), h.country, h.subdiv, h.eve, h.timezone)
        for i, h in enumerate(config.holidays)
    ]
    return Schedule(
        windows,
        closures,
        cooldowns={e.slug: e.cooldown for e in config.environments if e.cooldown is not None},
        timezones={e.slug: e.timezone for e in config.environments},
    )
