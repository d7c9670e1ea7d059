"""The schedule's rules: deploy windows, one-off and cron freezes, holidays.

Each rule is pure: given an instant (or a range) it says which ``Interval``s
close the gate and when that next changes. ``Scope`` says which environments
and services a rule applies to. The conventions (half-open intervals, DST,
windows across midnight): the module docstring of ``shiplane.locks.calendar``,
which compiles these rules into a schedule.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import holidays
from cronsim import CronSim

from shiplane.locks.wallclock import (
    ONE_SECOND,
    UTC,
    local_date,
    local_to_utc,
    midnight,
    zone,
)
from shiplane.settings import DAYS


@functools.lru_cache(maxsize=1024)
def _hhmm(value: str) -> tuple[int, timedelta]:
    """'HH:MM' → (day offset, time of day); '24:00' is the next day's midnight."""
    if value == "24:00":
        return 1, timedelta(0)
    hours, minutes = value.split(":")
    return 0, timedelta(hours=int(hours), minutes=int(minutes))


@dataclass(frozen=True)
class Interval:
    kind: str  # window | freeze | holiday
    reason: str
    start: datetime
    end: datetime
    rule: str


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
        today = local_date(at, self.tz)
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
        local = fire.astimezone(zone(self.tz)).replace(tzinfo=None)
        return local_to_utc(local + self.duration, self.tz)

    def _recent(self, at: datetime) -> list[tuple[datetime, datetime]]:
        """Occurrences that started at or before ``at`` and may still be running."""
        horizon = at - self.duration - timedelta(days=1)
        out = []
        it = CronSim(self.cron, (at + ONE_SECOND).astimezone(zone(self.tz)), reverse=True)
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
        out = [Interval("freeze", self.reason, s, e, self.rule) for s, e in self._recent(g0) if e > g0]
        for fire in CronSim(self.cron, g0.astimezone(zone(self.tz))):
            fire = fire.astimezone(UTC)
            if fire >= g1:
                break
            if fire > g0:
                out.append(Interval("freeze", self.reason, fire, self._end(fire), self.rule))
        return out

    def next_boundary(self, at: datetime) -> datetime | None:
        nxt = next(CronSim(self.cron, at.astimezone(zone(self.tz))), None)
        candidates = [e for s, e in self._recent(at) if e > at]
        if nxt is not None:
            candidates.append(nxt.astimezone(UTC))
        return min((c for c in candidates if c > at), default=None)


@functools.lru_cache(maxsize=256)
def _closed_days(country: str, subdiv: str, eve: bool, year: int) -> tuple[tuple[date, ...], tuple[str, ...]]:
    """Sorted closed local dates around ``year`` with the reason for each."""
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
        day = local_date(at, self.tz)
        days, reasons = self._table(day)
        i = bisect.bisect_left(days, day)
        if i < len(days) and days[i] == day:
            start = midnight(day, self.tz)
            end = midnight(day + timedelta(days=1), self.tz)
            return [Interval("holiday", reasons[i], start, end, self.rule)]
        return []

    def next_boundary(self, at: datetime) -> datetime | None:
        day = local_date(at, self.tz)
        days, _ = self._table(day)
        if self.active(at):
            return midnight(day + timedelta(days=1), self.tz)
        i = bisect.bisect_right(days, day)
        return midnight(days[i], self.tz) if i < len(days) else None

    def intervals(self, g0: datetime, g1: datetime) -> list[Interval]:
        first, last = local_date(g0, self.tz), local_date(g1, self.tz)
        days, reasons = self._table(first)
        if last.year != first.year:
            later = self._table(last)
            merged = dict(zip(days, reasons)) | dict(zip(*later))
            days, reasons = tuple(sorted(merged)), tuple(merged[d] for d in sorted(merged))
        out = []
        for i in range(bisect.bisect_left(days, first), bisect.bisect_right(days, last)):
            start = midnight(days[i], self.tz)
            out.append(Interval("holiday", reasons[i], start, midnight(days[i] + timedelta(days=1), self.tz), self.rule))
        return out
