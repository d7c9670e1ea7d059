"""Axes and data for the dashboard charts: pure maths, no markup.

Round ticks (``nice_ticks``), a linear ``scale``, short value labels
(``format_value``), round instants for a time axis, and series read as
plottable points: naive datetimes are UTC; NaN, ±inf, None and magnitudes
beyond ``MAX_ABS`` are "no data". The charts themselves: ``shiplane.web.charts``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# No real metric gets near this; staying far from the float limits keeps the
# tick maths exact (hi - lo cannot overflow, 10**k cannot either).
MAX_ABS = 1e100

_NICE = (1.0, 2.0, 2.5, 5.0)
_SUFFIXES = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_TIME_STEPS = (
    *(1, 2, 5, 10, 15, 30),
    *(m * _MINUTE for m in (1, 2, 5, 10, 15, 30)),
    *(h * _HOUR for h in (1, 2, 3, 6, 12)),
    *(d * _DAY for d in (1, 2, 7, 14, 28)),
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Point = tuple[float, float]  # (seconds since the epoch, value)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """At most `count` evenly spaced round numbers, the first ≤ lo and the last ≥ hi
    (to within a billionth of a step).

    The step is 1, 2, 2.5 or 5 × 10^k. With count 4 or 5 there are at least 3
    ticks. An empty range (a constant series) is padded so it still gets an axis.
    """
    if count < 2:
        raise ValueError("count must be at least 2")
    if not all(math.isfinite(x) and abs(x) <= MAX_ABS for x in (lo, hi)):
        raise ValueError(f"lo and hi must be finite and within ±{MAX_ABS:g} (got {lo!r}, {hi!r})")
    lo, hi = _pad(min(lo, hi), max(lo, hi))
    exponent = math.floor(math.log10((hi - lo) / (count - 1)))
    while True:  # the first nice step ≥ (hi - lo) / (count - 1) that fits; at most a few rounds
        for m in _NICE:
            step = m * 10.0**exponent
            # the tolerance keeps 0.30000000000000004 / 0.1 from costing an extra tick
            first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            if last - first + 1 <= count:
                return [_round(i * step) for i in range(first, last + 1)]
        exponent += 1


def scale(value: float, domain: tuple[float, float], range_: tuple[float, float]) -> float:
    """Map `value` linearly from `domain` onto `range_`; an empty domain maps to the middle."""
    (d0, d1), (r0, r1) = domain, range_
    if d1 == d0:
        return (r0 + r1) / 2
    return r0 + (value - d0) * (r1 - r0) / (d1 - d0)


def format_value(value: float, unit: str = "", digits: int = 3) -> str:
    """A short label: `digits` significant digits, SI suffixes (1.2k, 3.4M), then the unit.

    Plain text, not escaped. Units that start with % or / attach without a space.
    """
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        number = "∞" if value > 0 else "-∞"
    else:
        rounded = float(f"{value:.{digits}g}") + 0.0  # + 0.0 turns -0.0 into 0.0
        factor, suffix = next(((f, s) for f, s in _SUFFIXES if abs(rounded) >= f), (1.0, ""))
        if abs(rounded) >= 1e21:  # past exa: 1.2e+21 reads better than 1200E
            factor, suffix = 1.0, ""
        number = f"{rounded / factor:.{digits}g}{suffix}"
    if not unit:
        return number
    return number + ("" if unit[0] in "%/" else " ") + unit


def _pad(lo: float, hi: float) -> tuple[float, float]:
    size = max(abs(lo), abs(hi))
    if size < 1e-100:  # all (near) zero
        return min(lo, 0.0), max(hi, 1.0)
    if hi - lo > size * 1e-9:
        return lo, hi
    mid = (lo + hi) / 2
    return mid - abs(mid) / 10, mid + abs(mid) / 10


def _round(x: float) -> float:
    return float(f"{x:.12g}") + 0.0


def tick_labels(ticks: list[float]) -> list[str]:
    """Enough digits that neighbouring ticks never share a label (1M, 1.025M, ...)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = next(
        (d for d in range(3, 16) if all(abs(float(f"{t:.{d}g}") - t) <= step * 1e-6 for t in ticks)), 15
    )
    return [format_value(t, digits=digits) for t in ticks]


def time_ticks(t0: float, t1: float, most: int = 5, tz: tzinfo = UTC) -> list[tuple[float, str]]:
    """Up to `most` round instants in [t0, t1] (round on the wall clock of `tz`) with labels in `tz`."""
    # Round in local time: shift by the zone's offset (read once, at t0: a chart spans hours), tick, shift back.
    shift = (_EPOCH + timedelta(seconds=t0)).astimezone(tz).utcoffset() or timedelta()
    s = shift.total_seconds()
    a, b = t0 + s, t1 + s
    for step in _TIME_STEPS if b > a else ():
        first, last = math.ceil(a / step), math.floor(b / step)
        if 2 <= last - first + 1 <= most:
            return [(i * step - s, _time_label(i * step, step, b - a)) for i in range(first, last + 1)]
    # a single instant, a second or two, or months: the ends and the middle
    labels: dict[str, float] = {}
    for t in (a, (a + b) / 2, b):
        labels.setdefault(_time_label(t, b - a, b - a), t - s)
    return [(t, label) for label, t in labels.items()]


def _time_label(t: float, step: float, span: float) -> str:
    moment = _EPOCH + timedelta(seconds=t)
    day = f"{_MONTHS[moment.month - 1]} {moment.day}"
    if step > 120 * _DAY:
        return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    if step >= _DAY:
        return day
    clock = f"{moment:%H:%M:%S}" if 0 < step < _MINUTE else f"{moment:%H:%M}"
    return clock if span < _DAY else f"{day} {clock}"


def day_labels(days: Sequence[date]) -> list[str]:
    """Short axis labels for bucket start days, in order: "Nov 2", or "Nov" when every
    day is the 1st and they are 28 days or more apart (month buckets). A label in a
    different year from the one before carries the year ("Jan 4 2027", "Jan 2027"), so
    an axis that crosses New Year's Day stays unambiguous; the page states the range's
    first date in full.
    """
    monthly = len(days) > 1 and all(d.day == 1 for d in days) and (days[1] - days[0]).days >= 28
    out: list[str] = []
    for i, d in enumerate(days):
        label = _MONTHS[d.month - 1] + ("" if monthly else f" {d.day}")
        out.append(f"{label} {d.year}" if i and d.year != days[i - 1].year else label)
    return out


def zone_name(t: float, tz: tzinfo) -> str:
    """The zone's abbreviation at `t` ("CET", "UTC"), or its offset when it has none ("+04")."""
    return (_EPOCH + timedelta(seconds=t)).astimezone(tz).tzname() or "UTC"


def epoch_seconds(moment: date | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH).total_seconds()
    return (datetime.combine(moment, time(), UTC) - _EPOCH).total_seconds()


def plottable(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) and abs(v) <= MAX_ABS else None


def series_points(points: Sequence[tuple[datetime, float]]) -> list[Point]:
    kept = ((epoch_seconds(t), plottable(v)) for t, v in points)
    return sorted(((t, v) for t, v in kept if v is not None), key=lambda p: p[0])


def median_text(points: list[Point], unit: str) -> str:
    return f"median {format_value(statistics.median(v for _, v in points), unit)}" if points else "no data"


def instant_text(t: float) -> str:
    moment = _EPOCH + timedelta(seconds=t)
    if moment.time() == time():
        return f"{moment:%Y-%m-%d}"
    return f"{moment:%Y-%m-%d %H:%M} UTC"

