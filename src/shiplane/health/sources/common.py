"""What the HTTP sources share: the vendor's own words for a failure, and the judge's time grid."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shiplane.health.sources.base import Point, SourceError


def failure(exc: Exception, *, setting: str = "") -> SourceError:
    """A failed call (from ``shiplane.http.send``) as a SourceError that reads like the vendor's answer.

    ``http.check`` words an HTTP error as ``"<what>: HTTP <status>: <body>"``; the
    body of a 4xx usually is JSON naming the problem (a bad query, a bad token), so
    that is what the deploy page shows: ``HTTP 400: Invalid query``.
    """
    text = str(exc)
    _, sep, rest = text.partition(": HTTP ")
    if not sep:
        return SourceError(text, setting=setting)  # timeouts and connection errors are already plain words
    status, _, body = rest.partition(": ")
    return SourceError(f"HTTP {status}: {vendor_reason(body) or body or 'no body'}", setting=setting)


def vendor_reason(body: str) -> str:
    """The message in a JSON error body (Sentry ``detail``, Datadog and SignalFx ``errors``), or ''."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return _reason(data)


def _reason(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(r for r in (_reason(d) for d in data) if r)
    if isinstance(data, dict):
        for key in ("detail", "errors", "error", "message"):
            found = _reason(data.get(key))
            if found:
                return found
    return ""


def json_body(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        # A proxy's HTML login page, a captive portal: never read as "no errors".
        snippet = response.text.strip().replace("\n", " ")[:200]
        raise SourceError(f"{what} answered with something that is not JSON: {snippet!r}") from exc


def sum_series(series: Iterable[Iterable[Any]], unit: float = 1000.0) -> list[Point]:
    """Several series of ``[timestamp, value]`` pairs summed per timestamp (``unit`` per second).

    A query that does not aggregate (one series per host) still gives one number per
    instant. Null and NaN values mean "no data there" and are skipped, never zero.
    """
    totals: dict[float, float] = defaultdict(float)
    for pairs in series:
        for ts, value in pairs or []:
            if ts is None or value is None:
                continue
            v = float(value)
            if not math.isnan(v):
                totals[float(ts)] += v
    return [Point(datetime.fromtimestamp(ts / unit, UTC), v) for ts, v in sorted(totals.items())]


def spacing(points: list[Point]) -> float:
    """The source's own resolution: the median gap between its points, in seconds (0 with fewer than 2)."""
    gaps = sorted(g for a, b in zip(points, points[1:]) if (g := (b.at - a.at).total_seconds()) > 0)
    return gaps[len(gaps) // 2] if gaps else 0.0


def per_step(points: list[Point], start: datetime, end: datetime, step: float) -> list[Point]:
    """Points on the judge's grid: the mean of each ``step``-wide bucket of ``[start, end)``.

    Vendors pick their own resolution (Datadog from the range, SignalFx from a fixed
    set, synthetic checks every ``interval``, pushed samples whenever they come); the
    judge reads one point per step (``health.step``, or the source's own resolution when
    that is coarser). A bucket without points is left out (no data is not zero); NaN is
    dropped; points outside the window are dropped.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    sums: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for p in points:
        if not start <= p.at < end or math.isnan(p.value):
            continue
        k = int((p.at - start).total_seconds() // step)
        sums[k] += p.value
        counts[k] += 1
    return [Point(start + timedelta(seconds=k * step), sums[k] / counts[k]) for k in sorted(sums)]
