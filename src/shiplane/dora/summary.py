"""Adding up DORA facts: tallies per bucket (or per day) and the report built from them.

`metrics.shipped` works out the facts of each counted deploy; a `Tally` adds
them up for a bucket, and tallies add up further (days into weeks, stored days
and fresh ones). `summarize` turns one tally per bucket into the report. Every
duration is kept, never binned, so a report assembled from tallies of days is
the report `metrics.compute` gives, to the last bit.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from shiplane.dora.bands import band

DAY = 86400.0


@dataclass(slots=True)
class Shipped:
    """What one counted deploy in range contributes, worked out from its neighbours."""

    id: int
    at: float  # deployed_at as a POSIX timestamp
    failed: bool
    rework: bool
    recovery: float | None  # seconds from the deploy to its recovery; None: not failed or not recovered
    service: str = ""
    leads: list[float] = field(default_factory=list)  # lead time of every change it first shipped
    unknown: int = 0  # changes it first shipped that have no date
    restored_by: int | None = None  # the deploy whose restore ended its failure (None: an incident's resolution, or open)
    rework_after: int | None = None  # a fix-forward: the failed deploy before it, still failing when it went out


@dataclass
class Tally:
    """The counted deploys of one bucket (or one day), ready to add up.

    Durations are kept as they are, not binned: tallies of days add up to a
    bucket or a year whose medians are exact. ``lead_parts`` and
    ``recovery_parts`` are lists of chunks (lists or float64 arrays) so that
    adding tallies never copies durations.
    """

    deploys: int = 0
    failed: int = 0
    rework: int = 0
    lead_parts: list[Any] = field(default_factory=list)
    recovery_parts: list[Any] = field(default_factory=list)
    unknown: int = 0  # changes without a date

    def add(self, other: Tally) -> None:
        self.deploys += other.deploys
        self.failed += other.failed
        self.rework += other.rework
        self.unknown += other.unknown
        self.lead_parts.extend(other.lead_parts)
        self.recovery_parts.extend(other.recovery_parts)

    def add_shipped(self, s: Shipped) -> None:
        self.deploys += 1
        self.failed += s.failed
        self.rework += s.rework
        self.unknown += s.unknown
        if s.leads:
            self.lead_parts.append(s.leads)
        if s.recovery is not None:
            self.recovery_parts.append((s.recovery,))

    def leads(self) -> np.ndarray:
        return _concat(self.lead_parts)

    def recoveries(self) -> np.ndarray:
        return _concat(self.recovery_parts)


def _concat(parts: list[Any]) -> np.ndarray:
    """All values of the parts in one array (order does not matter to percentiles)."""
    arrays = [p for p in parts if isinstance(p, np.ndarray)]
    flat = [x for p in parts if not isinstance(p, np.ndarray) for x in p]
    if flat:
        arrays.append(np.asarray(flat, dtype=np.float64))
    if not arrays:
        return np.empty(0, dtype=np.float64)
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _percentiles(xs: np.ndarray, qs: Sequence[float]) -> list[float | None]:
    """`percentile` of each q, by selecting the order statistics it needs (no full sort).

    The same two order statistics and the same arithmetic on Python floats as
    `percentile`, so the results are identical to the last bit.
    """
    for q in qs:
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be within 0..100, got {q}")
    n = len(xs)
    if n == 0:
        return [None for _ in qs]
    ranks = [(n - 1) * q / 100 for q in qs]
    picks = sorted({k for r in ranks for k in (math.floor(r), min(math.floor(r) + 1, n - 1))})
    part = np.partition(xs, picks) if n > 1 else xs
    out: list[float | None] = []
    for rank in ranks:
        lo = math.floor(rank)
        hi = min(lo + 1, n - 1)
        a, b = float(part[lo]), float(part[hi])
        out.append(float(a + (b - a) * (rank - lo)))
    return out


def tally(facts: Iterable[Shipped], starts: Sequence[datetime]) -> list[Tally]:
    """One `Tally` per bucket: a deploy goes to the last start at or before it."""
    start_ts = [s.timestamp() for s in starts]
    out = [Tally() for _ in starts]
    for s in facts:
        k = bisect_right(start_ts, s.at) - 1
        if k >= 0:
            out[k].add_shipped(s)
    return out


def summarize(buckets: Sequence[Tally], starts: Sequence[datetime], *, since: datetime, until: datetime) -> dict[str, Any]:
    """The report of `compute` from one `Tally` per bucket (the same numbers, bit for bit)."""
    total = Tally()
    for b in buckets:
        total.add(b)
    n = total.deploys
    per_day = n / ((until.timestamp() - since.timestamp()) / DAY)
    lead_median, lead_p90 = _percentiles(total.leads(), (50, 90))
    recoveries = total.recoveries()
    (recovery_median,) = _percentiles(recoveries, (50,))
    cfr = total.failed / n if n else None
    return {
        "deploy_frequency": {"count": n, "per_day": per_day, "band": band("deploy_frequency", per_day)},
        "lead_time": {
            "median_seconds": lead_median,
            "p90_seconds": lead_p90,
            "band": band("lead_time", lead_median),
            "unknown_commits": total.unknown,
        },
        "change_failure_rate": {
            "rate": cfr,
            "failed": total.failed,
            "total": n,
            "band": band("change_failure_rate", cfr),
        },
        "recovery_time": {
            "median_seconds": recovery_median,
            "band": band("recovery_time", recovery_median),
            # failures in range not recovered by the time of the query
            "open": total.failed - len(recoveries),
        },
        "rework_rate": {"rate": total.rework / n if n else None, "count": total.rework, "total": n},
        "series": [
            {
                "start": _iso_z(start),
                "deploys": b.deploys,
                "failed": b.failed,
                "median_lead_time_seconds": _percentiles(b.leads(), (50,))[0],
            }
            for start, b in zip(starts, buckets, strict=True)
        ],
    }




def _iso_z(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
