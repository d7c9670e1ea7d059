"""The one place request and worker code reads the clock.

Decisions (gate, schedules, judge, DORA) take ``now`` as an argument; callers
read it here once per request or worker tick, so tests can pass any instant.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def monotonic() -> float:
    """Seconds on a clock that never jumps: for intervals, never for instants."""
    return time.monotonic()


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive timestamps from clients (and SQLite) are read as UTC."""
    if value.tzinfo is UTC:  # what the database layer returns: nothing to convert
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:59-12:00: no such UTC instant
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from None


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """The inverse of ``iso``: an ISO-8601 instant (``Z`` or an offset; naive read as UTC).

    The one parser of instants. Raises ``ValueError`` for anything that is not
    one, including instants that do not exist in UTC (year 0 or 10000 after the offset).
    """
    return as_utc(datetime.fromisoformat(value))
