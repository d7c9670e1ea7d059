"""DORA performance bands: one table for the whole product (see docs/dora.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BANDS", "Threshold", "band", "bands"]

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class Threshold:
    """A value gets `band` when ``value <op> limit`` holds; the catch-all has neither."""

    band: str
    op: str | None  # ">=", "<" or "<="; None for the catch-all
    limit: float | None
    label: str


# The DORA 2024 performance clusters (Accelerate State of DevOps Report 2024), one
# table for the whole product; docs/dora.md#bands cites the source of every row
# (medium recovery time keeps the 2023 report's "one week": the 2024 medium cluster
# has no threshold of its own). Within a metric the first matching row wins, so
# rows go from elite down to a catch-all.
BANDS: dict[str, tuple[Threshold, ...]] = {
    # per_day: deploys per day over the range.
    "deploy_frequency": (
        Threshold("elite", ">=", 1.0, "on demand (at least once per day)"),
        Threshold("high", ">=", 1 / 7, "between once per day and once per week"),
        Threshold("medium", ">=", 1 / 30, "between once per week and once per month"),
        Threshold("low", None, None, "less than once per month"),
    ),
    # median_seconds of change lead time.
    "lead_time": (
        Threshold("elite", "<", DAY, "less than one day"),
        Threshold("high", "<=", 7 * DAY, "between one day and one week"),
        Threshold("medium", "<=", 30 * DAY, "between one week and one month"),
        Threshold("low", None, None, "more than one month"),
    ),
    # rate of failed counted deploys. The 2024 clusters report elite 5%, high
    # 20%, medium 10% and low 40%: on this one metric the medium cluster did
    # better than the high one. Those figures cannot be thresholds (medium,
    # "at most 10%", would never match because high already takes everything
    # up to 20%), so we keep the elite figure and use the two middle figures in
    # increasing order: a worse rate never earns a better band.
    "change_failure_rate": (
        Threshold("elite", "<=", 0.05, "at most 5%"),
        Threshold("high", "<=", 0.10, "at most 10%"),
        Threshold("medium", "<=", 0.20, "at most 20%"),
        Threshold("low", None, None, "more than 20%"),
    ),
    # median_seconds of failed deployment recovery time.
    "recovery_time": (
        Threshold("elite", "<", HOUR, "less than one hour"),
        Threshold("high", "<", DAY, "less than one day"),
        Threshold("medium", "<=", 7 * DAY, "between one day and one week"),
        Threshold("low", None, None, "more than one week"),
    ),
}

_UNITS = {
    "deploy_frequency": "deploys per day",
    "lead_time": "seconds (median)",
    "change_failure_rate": "ratio of failed deploys",
    "recovery_time": "seconds (median)",
}

_OPS = {
    ">=": lambda v, limit: v >= limit,
    "<": lambda v, limit: v < limit,
    "<=": lambda v, limit: v <= limit,
}


def band(metric: str, value: float | None) -> str | None:
    """The band of `value` for `metric` (a key of `BANDS`); None for None."""
    if value is None:
        return None
    for row in BANDS[metric]:
        if row.op is None or _OPS[row.op](value, row.limit):
            return row.band
    raise AssertionError(f"no catch-all band for {metric}")  # pragma: no cover


def bands() -> dict[str, Any]:
    """The band table as fresh JSON-friendly data, for docs and the API."""
    return {
        metric: {
            "unit": _UNITS[metric],
            "thresholds": [
                {"band": r.band, "op": r.op, "limit": r.limit, "label": r.label}
                for r in rows
            ],
        }
        for metric, rows in BANDS.items()
    }
