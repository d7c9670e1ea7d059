"""Local days of the DORA time zone, and what the roll-ups store for each.

A roll-up day is ``[start(D), start(D + 1))`` with ``start`` built like
`metrics.bucket_starts` (local midnight through zoneinfo), and a deploy
belongs to the day whose span holds it, found by bisection. Never by
``astimezone().date()``: where a zone falls back across midnight that would
put an instant in another day than the day bucket of `metrics.compute`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import numpy as np

from shiplane.dora import metrics

F64 = np.dtype("<f8")


@dataclass(frozen=True)
class Grid:
    """Consecutive local days from `first`; ``starts[k]`` opens day ``first + k``."""

    first: date
    starts: list[datetime]
    ts: list[float]

    @classmethod
    def covering(cls, lo: datetime, hi: datetime, zone: tzinfo) -> Grid:
        """Days that cover [lo, hi], with a spare day on each side."""
        first = lo.astimezone(zone).date() - timedelta(days=1)
        last = hi.astimezone(zone).date() + timedelta(days=1)
        starts = metrics.day_starts(first, last, zone)
        return cls(first, starts, [s.timestamp() for s in starts])

    @classmethod
    def spanning(cls, first: date, last: date, zone: tzinfo) -> Grid:
        """The days first..last, with a spare day on each side."""
        first -= timedelta(days=1)
        starts = metrics.day_starts(first, last + timedelta(days=1), zone)
        return cls(first, starts, [s.timestamp() for s in starts])

    def day_of(self, at: float) -> date:
        return self.first + timedelta(days=bisect_right(self.ts, at) - 1)

    def start(self, day: date) -> datetime:
        return self.starts[(day - self.first).days]

    def end(self, day: date) -> datetime:
        return self.starts[(day - self.first).days + 1]

    def whole_days(self, since: datetime, until: datetime) -> tuple[date, date] | None:
        """The first and last local day lying wholly inside [since, until), or None."""
        k0 = bisect_left(self.ts, since.timestamp())
        k1 = bisect_right(self.ts, until.timestamp()) - 2
        if k0 > k1:
            return None
        return self.first + timedelta(days=k0), self.first + timedelta(days=k1)


def compact(t: metrics.Tally) -> metrics.Tally:
    """The same tally with its durations in one float64 array each."""
    leads, recoveries = t.leads(), t.recoveries()
    return metrics.Tally(
        t.deploys, t.failed, t.rework, [leads] if len(leads) else [], [recoveries] if len(recoveries) else [], t.unknown
    )


def encode(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype=F64).tobytes()


def decode(blob: bytes | memoryview | None) -> np.ndarray:
    return np.frombuffer(blob, dtype=F64) if blob else np.empty(0, dtype=F64)


def from_row(row: object) -> metrics.Tally:
    leads, recoveries = decode(row.leads), decode(row.recoveries)  # type: ignore[attr-defined]
    return metrics.Tally(
        row.deploys,  # type: ignore[attr-defined]
        row.failed,  # type: ignore[attr-defined]
        row.rework,  # type: ignore[attr-defined]
        [leads] if len(leads) else [],
        [recoveries] if len(recoveries) else [],
        row.unknown_commits,  # type: ignore[attr-defined]
    )


def to_row(environment_id: int, service_id: int, day: date, t: metrics.Tally) -> dict[str, object]:
    return {
        "environment_id": environment_id,
        "service_id": service_id,
        "day": day,
        "deploys": t.deploys,
        "failed": t.failed,
        "rework": t.rework,
        "unknown_commits": t.unknown,
        # Sorted: one canonical row for one set of durations, however it was assembled.
        "leads": encode(np.sort(t.leads())),
        "recoveries": encode(np.sort(t.recoveries())),
    }
