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
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from shiplane.settings import DAYS, Config, FreezeConfig, HolidayConfig, WindowConfig

UTC = timezone.utc
_ONE_SECOND = timedelta(seconds=1)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=65536)
def local_to_utc(naive: datetime, tzname: str) -> datetime:
    """Resolve a local wall-clock time to a UTC instant (see the module docstring)."""
    tz = _zone(tzname)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 lands before the jump, fold=0 after it. Bisect to the jump.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    while hi - lo > _ONE_SECOND:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) < naive:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


def _hhmm(value: str) -> tuple[int, timedelta]:
    """'HH:MM' → (day offset, time of day); '24:00' is the next day's midnight."""
    if value == "24:00":
        return 1, timedelta(0)
    hours, minutes = value.split(":")
    return 0, timedelta(hours=int(hours), minutes=int(minutes))


def _local_date(at: datetime, tzname: str) -> date:
    return at.astimezone(_zone(tzname)).date()


def _midnight(day: date, tzname: str) -> datetime:
    return local_to_utc(datetime.combine(day, time()), tzname)


@dataclass(frozen=True)
class Interval:
    kind: str  # window | freeze | holiday
    reason: str
    start: datetime
    end: datetime
    rule: str


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Scope:
    environments: frozenset[str]
    services: frozenset[str]

    def applies(self, environment: str, service: str | None) -> bool:
        if self.environments and environment not in self.environments:
            return False
        if self.services:
            return service is not None and service in self.services
        return True


@dataclass(frozen=True)
class Window:
    """An allowed deploy window: the gate is closed outside it."""

    rule: str
    scope: Scope
    days: frozenset[int]  # 0 = Monday
    start: str
    end: str
    tz: str

    def describe(self) -> str:
        days = ",".join(DAYS[d].capitalize() for d in sorted(self.days))
        return f"{days} {self.start}–{self.end} {self.tz}"

    def occurrence(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days:
            return None
        s_off, s_time = _hhmm(self.start)
        e_off, e_time = _hhmm(self.end)
        base = datetime.combine(day, time())
        start_naive = base + timedelta(days=s_off) + s_time
        end_naive = base + timedelta(days=e_off) + e_time
        if end_naive <= start_naive:  # crosses midnight: ends the next day
            end_naive += timedelta(days=1)
        return local_to_utc(start_naive, self.tz), local_to_utc(end_naive, self.tz)

    def occurrences(self, at: datetime, before: int, after: int) -> Iterable[tuple[datetime, datetime]]:
        today = _local_date(at, self.tz)
        for delta in range(-before, after + 1):
            occ = self.occurrence(today + timedelta(days=delta))
            if occ is not None:
                yield occ

    def contains(self, at: datetime) -> bool:
        return any(s <= at < e for s, e in self.occurrences(at, 2, 0))

    def next_boundary(self, at: datetime) -> datetime | None:
        edges = [t for occ in self.occurrences(at, 2, 8) for t in occ if t > at]
        return min(edges, default=None)

    def next_open(self, at: datetime) -> datetime | None:
        return min((s for s, _ in self.occurrences(at, 0, 8) if s > at), default=None)

    def last_close(self, at: datetime) -> datetime | None:
        return max((e for _, e in self.occurrences(at, 9, 0) if e <= at), default=None)

    def open_between(self, g0: datetime, g1: datetime) -> list[tuple[datetime, datetime]]:
        days = (g1 - g0).days + 4
        return [o for o in self.occurrences(g0, 2, days) if o[1] > g0 and o[0] < g1]


@dataclass(frozen=True)
class OneOffFreeze:
    rule: str
    scope: Scope
    start: datetime
    end: datetime
    reason: str

    def active(self, at: datetime) -> list[Interval]:
        if self.start <= at < self.end:
            return [Interval("freeze", self.reason, self.start, self.end, self.rule)]
        return []

    def next_boundary(self, at: datetime) -> datetime | None:
        return min((t for t in (self.start, self.end) if t > at), default=None)

    def intervals(self, g0: datetime, g1: datetime) -> list[Interval]:
        if self.end > g0 and self.start < g1:
            return [Interval("freeze", self.reason, self.start, self.end, self.rule)]
        return []


@dataclass(frozen=True)
class CronFreeze:
    rule: str
    scope: Scope
    cron: str
    duration: timedelta
    tz: str
    reason: str

    def _end(self, fire: datetime) -> datetime:
        local = fire.astimezone(_zone(self.tz)).replace(tzinfo=None)
        return local_to_utc(local + self.duration, self.tz)

    def _recent(self, at: datetime) -> list[tuple[datetime, datetime]]:
        """Occurrences that started at or before ``at`` and may still be running."""
        from cronsim import CronSim

        horizon = at - self.duration - timedelta(days=1)
        out = []
        it = CronSim(self.cron, (at + _ONE_SECOND).astimezone(_zone(self.tz)), reverse=True)
        for _ in range(10000):
            fire = next(it, None)
            if fire is None:
                break
            fire = fire.astimezone(UTC)
            if fire < horizon:
                break
            if fire <= at:
                out.append((fire, self._end(fire)))
        return out

    def active(self, at: datetime) -> list[Interval]:
        return sorted(
            (Interval("freeze", self.reason, s, e, self.rule) for s, e in self._recent(at) if at < e),
            key=lambda i: i.start,
        )

    def intervals(self, g0: datetime, g1: datetime) -> list[Interval]:
        from cronsim import CronSim

        out = [Interval("freeze", self.reason, s, e, self.rule) for s, e in self._recent(g0) if e > g0]
        for fire in CronSim(self.cron, g0.astimezone(_zone(self.tz))):
            fire = fire.astimezone(UTC)
            if fire >= g1:
                break
            if fire > g0:
                out.append(Interval("freeze", self.reason, fire, self._end(fire), self.rule))
        return out

    def next_boundary(self, at: datetime) -> datetime | None:
        from cronsim import CronSim

        nxt = next(CronSim(self.cron, at.astimezone(_zone(self.tz))), None)
        candidates = [e for s, e in self._recent(at) if e > at]
        if nxt is not None:
            candidates.append(nxt.astimezone(UTC))
        return min((c for c in candidates if c > at), default=None)


@functools.lru_cache(maxsize=256)
def _closed_days(country: str, subdiv: str, eve: bool, year: int) -> tuple[tuple[date, ...], tuple[str, ...]]:
    """Sorted closed local dates around ``year`` with the reason for each."""
    import holidays

    cal = holidays.country_holidays(country, subdiv=subdiv or None, years=range(year - 1, year + 3))
    closed: dict[date, str] = {}
    for day, name in cal.items():
        closed[day] = name
    if eve:
        for day, name in cal.items():
            closed.setdefault(day - timedelta(days=1), f"Eve of {name}")
    days = tuple(sorted(closed))
    return days, tuple(closed[d] for d in days)


@dataclass(frozen=True)
class Holidays:
    rule: str
    scope: Scope
    country: str
    subdiv: str
    eve: bool
    tz: str

    def _table(self, day: date) -> tuple[tuple[date, ...], tuple[str, ...]]:
        return _closed_days(self.country, self.subdiv, self.eve, day.year)

    def active(self, at: datetime) -> list[Interval]:
        day = _local_date(at, self.tz)
        days, reasons = self._table(day)
        i = bisect.bisect_left(days, day)
        if i < len(days) and days[i] == day:
            start = _midnight(day, self.tz)
            end = _midnight(day + timedelta(days=1), self.tz)
            return [Interval("holiday", reasons[i], start, end, self.rule)]
        return []

    def next_boundary(self, at: datetime) -> datetime | None:
        day = _local_date(at, self.tz)
        days, _ = self._table(day)
        if self.active(at):
            return _midnight(day + timedelta(days=1), self.tz)
        i = bisect.bisect_right(days, day)
        return _midnight(days[i], self.tz) if i < len(days) else None

    def intervals(self, g0: datetime, g1: datetime) -> list[Interval]:
        first, last = _local_date(g0, self.tz), _local_date(g1, self.tz)
        days, reasons = self._table(first)
        if last.year != first.year:
            later = self._table(last)
            merged = dict(zip(days, reasons)) | dict(zip(*later))
            days, reasons = tuple(sorted(merged)), tuple(merged[d] for d in sorted(merged))
        out = []
        for i in range(bisect.bisect_left(days, first), bisect.bisect_right(days, last)):
            start = _midnight(days[i], self.tz)
            out.append(Interval("holiday", reasons[i], start, _midnight(days[i] + timedelta(days=1), self.tz), self.rule))
        return out


# ---------------------------------------------------------------- a schedule


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
        return "outside deploy window (" + " or ".join(w.describe() for w in self.windows) + ")"

    def timeline(self, at: datetime) -> Timeline:
        day = at.astimezone(UTC).date()
        tl = self._timelines.get(day)
        if tl is None:
            if len(self._timelines) > 8:
                self._timelines.clear()
            tl = self._timelines[day] = self._build(day)
        return tl

    def _build(self, day: date) -> Timeline:
        start = datetime.combine(day, time(), UTC) - timedelta(days=1)
        end = start + timedelta(days=_TIMELINE_DAYS)
        intervals: list[Interval] = []
        for rule in self.closures:
            intervals.extend(rule.intervals(start, end))
        if self.windows:
            # Closed between open windows; look well around the range so every
            # closed stretch has its true start ("since") and end ("until").
            g0, g1 = start - _WINDOW_LOOKAROUND, end + _WINDOW_LOOKAROUND
            opens = sorted(o for w in self.windows for o in w.open_between(g0, g1))
            reason, rules = self._window_reason(), ",".join(w.rule for w in self.windows)
            cursor = g0
            for s_, e_ in opens + [(g1, g1)]:
                if s_ > cursor and s_ > start and cursor < end and cursor > g0:
                    intervals.append(Interval("window", reason, cursor, s_, rules))
                cursor = max(cursor, e_)
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
    _scoped: dict[tuple[str, str | None], ScopedSchedule] = field(default_factory=dict)

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
    return Schedule(windows, closures)
