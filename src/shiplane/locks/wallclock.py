"""Wall-clock times in a rule's time zone, resolved to UTC instants.

The DST traps live here: a local time that does not exist (clocks spring
forward) resolves to the instant the clock jumps; one that happens twice
(clocks fall back) to its first occurrence. The conventions in full: the
module docstring of ``shiplane.locks.calendar``.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

UTC = UTC
ONE_SECOND = timedelta(seconds=1)


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=65536)
def local_to_utc(naive: datetime, tzname: str) -> datetime:
    """Resolve a local wall-clock time to a UTC instant (see the module docstring)."""
    tz = zone(tzname)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 lands before the jump, fold=0 after it. Bisect to the jump.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    while hi - lo > ONE_SECOND:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) < naive:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


def local_date(at: datetime, tzname: str) -> date:
    return at.astimezone(zone(tzname)).date()


def midnight(day: date, tzname: str) -> datetime:
    return local_to_utc(datetime.combine(day, time()), tzname)


def next_local_time(hhmm: str, tzname: str, now: datetime, after: datetime | None = None) -> datetime:
    """The next instant after ``after`` (default ``now``) when the clock in ``tzname`` shows ``HH:MM``.

    ``"18:00"`` at 17:00 local is today at 18:00; at 19:00 it is tomorrow at 18:00. Raises
    ``ValueError`` for anything that is not a time of day.
    """
    hours, sep, minutes = hhmm.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and 1 <= len(hours) <= 2):
        raise ValueError(f"not a time of day HH:MM: {hhmm!r}")
    wanted = time(int(hours), int(minutes))  # ValueError beyond 23:59
    after = after or now
    day = local_date(after, tzname)
    for offset in range(3):
        candidate = local_to_utc(datetime.combine(day + timedelta(days=offset), wanted), tzname)
        if candidate > after:
            return candidate
    raise ValueError(f"no {hhmm} after {after.isoformat()} in {tzname}")  # pragma: no cover - three days always hold one
