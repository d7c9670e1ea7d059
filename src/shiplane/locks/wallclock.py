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
