"""Dashboard charts: pure functions from plain data to SVG strings.

No I/O and no clock: the view builds the series, these functions return markup
and the template embeds it (wrap it in ``markupsafe.Markup``; every string the
caller passes in is escaped here). Same input, same string, so the output can be
cached and compared in tests.

Elements carry classes (``baseline``, ``current``, ``band``, ``marker``, ...)
for the page stylesheet and presentation attributes so a chart also looks right
on its own. There are no ``style=`` attributes: the dashboard's
Content-Security-Policy (``style-src 'self'``) blocks those, but not
presentation attributes.

Naive datetimes are read as UTC. NaN, ±inf, None and magnitudes beyond
`MAX_ABS` are skipped as "no data".
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from xml.sax.saxutils import escape, quoteattr

# No real metric gets near this; staying far from the float limits keeps the
# tick maths exact (hi - lo cannot overflow, 10**k cannot either).
MAX_ABS = 1e100

BASELINE_COLOUR = "#6b7280"
CURRENT_COLOUR = "#2563eb"
BAND_COLOUR = "#16a34a"
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"

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
# Characters XML 1.0 forbids even when escaped; a title with one would make the page unparsable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Point = tuple[float, float]  # (seconds since the epoch, value)


# --- the maths -----------------------------------------------------------------


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


def _tick_labels(ticks: list[float]) -> list[str]:
    """Enough digits that neighbouring ticks never share a label (1M, 1.025M, ...)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = next(
        (d for d in range(3, 16) if all(abs(float(f"{t:.{d}g}") - t) <= step * 1e-6 for t in ticks)), 15
    )
    return [format_value(t, digits=digits) for t in ticks]


def _time_ticks(t0: float, t1: float, most: int = 5) -> list[tuple[float, str]]:
    """Up to `most` round instants in [t0, t1] (aligned to UTC) with labels."""
    for step in _TIME_STEPS if t1 > t0 else ():
        first, last = math.ceil(t0 / step), math.floor(t1 / step)
        if 2 <= last - first + 1 <= most:
            return [(i * step, _time_label(i * step, step, t1 - t0)) for i in range(first, last + 1)]
    # a single instant, a second or two, or months: the ends and the middle
    labels: dict[str, float] = {}
    for t in (t0, (t0 + t1) / 2, t1):
        labels.setdefault(_time_label(t, t1 - t0, t1 - t0), t)
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


def _epoch(moment: date | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH).total_seconds()
    return (datetime.combine(moment, time(), UTC) - _EPOCH).total_seconds()


def _value(value: float | None) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) and abs(v) <= MAX_ABS else None


def _series(points: Sequence[tuple[datetime, float]]) -> list[Point]:
    kept = ((_epoch(t), _value(v)) for t, v in points)
    return sorted(((t, v) for t, v in kept if v is not None), key=lambda p: p[0])


def _median(points: list[Point], unit: str) -> str:
    return f"median {format_value(statistics.median(v for _, v in points), unit)}" if points else "no data"


def _when(t: float) -> str:
    moment = _EPOCH + timedelta(seconds=t)
    if moment.time() == time():
        return f"{moment:%Y-%m-%d}"
    return f"{moment:%Y-%m-%d %H:%M} UTC"


# --- SVG assembly -------------------------------------------------------------


def _num(x: float) -> str:
    s = f"{x:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _el(tag: str, text: str | None = None, /, **attrs: object) -> str:
    """One element. Attribute names: trailing _ dropped, other _ become - (class_, stroke_width)."""
    parts = [f"<{tag}"]
    for key, value in attrs.items():
        if value is not None:
            shown = _num(value) if isinstance(value, float) else _clean(str(value))
            parts.append(f" {key.rstrip('_').replace('_', '-')}={quoteattr(shown)}")
    if text is None:
        return "".join(parts) + "/>"
    return "".join(parts) + f">{escape(_clean(text))}</{tag}>"


def _svg(kind: str, width: int, height: int, title: str, desc: str, body: list[str], **attrs: object) -> str:
    root = _el(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width="100%",
        preserveAspectRatio="xMidYMid meet",
        role="img",
        class_=f"chart {kind}",
        font_family=FONT,
        font_size=11,
        fill="currentColor",
        **attrs,
    )[:-2]
    head = [root + ">", _el("title", title or "chart"), _el("desc", desc)]
    return "".join(head + body) + "</svg>"


def _text_width(text: str, size: float = 11) -> float:
    return len(text) * size * 0.6  # rough, but deterministic and good enough for layout


def _fit(text: str, width: float, size: float = 11) -> str:
    room = max(int(width / (size * 0.6)), 1)
    return text if len(text) <= room else text[: room - 1] + "…"


def _no_data(kind: str, width: int, height: int, title: str, desc: str, show_title: bool, **attrs: object) -> str:
    body = [_el("rect", class_="plot", x=0.5, y=0.5, width=width - 1, height=height - 1, fill="none",
                stroke="currentColor", stroke_opacity="0.2")]
    if show_title:
        body.append(_el("text", _fit(title, width - 8), class_="title", x=4, y=14, font_weight=600))
    body.append(_el("text", "no data", class_="no-data", x=width / 2, y=height / 2 + 4,
                    text_anchor="middle", fill_opacity="0.6"))
    return _svg(kind, width, height, title, desc, body, **attrs)


def _line(points: list[tuple[float, float]], cls: str, colour: str, **style: object) -> str:
    if len(points) == 1:
        (x, y), = points
        return _el("circle", class_=cls, cx=x, cy=y, r=2.5, fill=colour)
    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return _el("polyline", class_=cls, points=coords, fill="none", stroke=colour,
               stroke_linejoin="round", **style)


def _check_size(width: int, height: int, min_width: int, min_height: int) -> None:
    if width < min_width or height < min_height:
        raise ValueError(f"a chart this small is unreadable: {width}×{height} (minimum {min_width}×{min_height})")


# --- the charts ---------------------------------------------------------------


def impact_chart(
    *,
    baseline: Sequence[tuple[datetime, float]],
    current: Sequence[tuple[datetime, float]],
    deploy_at: datetime,
    band: tuple[float, float] | None,
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 200,
    verdict: str | None = None,
) -> str:
    """One metric around a deploy: baseline (dashed grey) before, current (solid blue) after.

    `band` is a (low, high) range in value units shaded behind the lines (e.g. the
    healthy range); an infinite end runs to the edge of the plot, NaN drops it.
    """
    _check_size(width, height, 300, 100)
    base, cur = _series(baseline), _series(current)
    deploy_t = _epoch(deploy_at)
    if band is not None and any(math.isnan(b) for b in band):
        band = None
    band = (min(band), max(band)) if band is not None else None

    desc = f"{title}: " if title else ""
    desc += f"baseline {_median(base, unit)}, after deploy {_median(cur, unit)}"
    desc += f", verdict {verdict}" if verdict else ""
    if band is not None:
        desc += f"; band {format_value(band[0], unit)} to {format_value(band[1], unit)}"
    desc += f"; deploy at {_when(deploy_t)}"
    if not base and not cur:
        return _no_data("impact-chart", width, height, title, desc, show_title=True, data_verdict=verdict)

    values = [v for _, v in base + cur] + [b for b in band or () if math.isfinite(b) and abs(b) <= MAX_ABS]
    ticks = nice_ticks(min(values), max(values), 5)
    labels = _tick_labels(ticks)
    y_dom = (min(ticks[0], *values), max(ticks[-1], *values))
    times = [t for t, _ in base + cur] + [deploy_t]
    x_dom = (min(times), max(times))

    left = min(max(36, math.ceil(_text_width(max(labels, key=len))) + 10), width // 2)
    top, right, bottom = 36, 12, 26
    pw, ph = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return scale(t, x_dom, (left, left + pw))

    def y(v: float) -> float:
        return scale(min(max(v, y_dom[0]), y_dom[1]), y_dom, (top + ph, top))

    body = [_el("rect", class_="plot", x=left, y=top, width=pw, height=ph, fill="none",
                stroke="currentColor", stroke_opacity="0.25")]
    if band is not None:
        y_hi, y_lo = round(y(band[1]), 1), round(y(band[0]), 1)
        body.append(_el("rect", class_="band", x=left, y=y_hi, width=pw, height=round(y_lo - y_hi, 1),
                        fill=BAND_COLOUR, fill_opacity="0.12"))
    for tick, label in zip(ticks, labels, strict=True):
        ty = y(tick)
        body.append(_el("line", class_="grid", x1=left, x2=left + pw, y1=ty, y2=ty,
                        stroke="currentColor", stroke_opacity="0.1"))
        body.append(_el("text", label, class_="tick y", x=left - 6, y=ty + 4, text_anchor="end"))
    if unit:
        body.append(_el("text", _fit(unit, left - 6), class_="unit", x=left - 6, y=top - 10, text_anchor="end",
                        font_size=10, fill_opacity="0.7"))
    x_ticks = _time_ticks(*x_dom, most=max(2, min(5, pw // 80)))
    x_ticks[-1] = (x_ticks[-1][0], x_ticks[-1][1] + " UTC")
    for t, label in x_ticks:
        half = _text_width(label) / 2
        tx = min(max(x(t), half + 2), width - half - 2)  # keep edge labels on the canvas
        body.append(_el("line", class_="tick x", x1=x(t), x2=x(t), y1=top + ph, y2=top + ph + 4,
                        stroke="currentColor", stroke_opacity="0.4"))
        body.append(_el("text", label, class_="tick x", x=tx, y=top + ph + 18, text_anchor="middle"))

    xd = x(deploy_t)
    body.append(_el("line", class_="marker", x1=xd, x2=xd, y1=top, y2=top + ph,
                    stroke="currentColor", stroke_width=1.5, stroke_dasharray="2 3"))
    half = _text_width("deploy", 10) / 2  # labelled above the plot, where it cannot hide data
    body.append(_el("text", "deploy", class_="marker", x=min(max(xd, left + half), left + pw - half), y=top - 4,
                    text_anchor="middle", font_size=10))
    if base:
        body.append(_line([(x(t), y(v)) for t, v in base], "baseline", BASELINE_COLOUR,
                          stroke_width=1.5, stroke_dasharray="5 3"))
    if cur:
        body.append(_line([(x(t), y(v)) for t, v in cur], "current", CURRENT_COLOUR, stroke_width=2))

    # legend, laid out from the right edge; the title gets whatever room is left
    lx = width - right
    for label, cls, colour, dash in (("after deploy", "current", CURRENT_COLOUR, None),
                                     ("baseline", "baseline", BASELINE_COLOUR, "5 3")):
        lx -= _text_width(label)
        body.append(_el("text", label, class_=f"legend {cls}", x=lx, y=14))
        body.append(_el("line", class_=f"legend {cls}", x1=lx - 22, x2=lx - 4, y1=10, y2=10, stroke=colour,
                        stroke_width=2, stroke_dasharray=dash))
        lx -= 22 + 14
    body.append(_el("text", _fit(title, lx - 4), class_="title", x=4, y=14, font_weight=600))
    return _svg("impact-chart", width, height, title, desc, body, data_verdict=verdict)


def trend_chart(
    *,
    points: Sequence[tuple[date | datetime, float | None]],
    title: str,
    unit: str = "",
    width: int = 320,
    height: int = 80,
    band_lines: Sequence[tuple[float, str]] = (),
) -> str:
    """A sparkline of a bucketed series; a None (or NaN) bucket is a gap in the line.

    `band_lines` are (value, label) reference lines, drawn when they fall inside
    the data's (rounded-out) range so they never flatten the trend itself.
    """
    _check_size(width, height, 80, 40)
    buckets = sorted(((_epoch(t), _value(v)) for t, v in points), key=lambda p: p[0])
    known = [(t, v) for t, v in buckets if v is not None]
    lines = [(v, label) for value, label in band_lines if (v := _value(value)) is not None]
    refs = ", ".join(f"{label} at {format_value(v, unit)}" for v, label in lines)

    if not known:
        desc = (f"{title}: " if title else "") + "no data" + (f"; reference lines: {refs}" if refs else "")
        return _no_data("trend-chart", width, height, title, desc, show_title=False)
    values = [v for _, v in known]
    last = values[-1]
    lo, hi = min(values), max(values)
    summary = f"last {format_value(last, unit)} · min {format_value(lo, unit)} · max {format_value(hi, unit)}"
    desc = (f"{title}: " if title else "") + (
        f"{len(buckets)} buckets from {_when(buckets[0][0])} to {_when(buckets[-1][0])}, "
        f"{len(buckets) - len(known)} without data; {summary.replace(' ·', ',')}"
    ) + (f"; reference lines: {refs}" if refs else "")

    ticks = nice_ticks(lo, hi, 3)
    y_dom = (min(ticks[0], lo), max(ticks[-1], hi))
    left, right, top, bottom = 4, 4, 6, 18
    pw, ph = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return scale(t, (buckets[0][0], buckets[-1][0]), (left, left + pw))

    def y(v: float) -> float:
        return scale(v, y_dom, (top + ph, top))

    body = [_el("rect", class_="plot", x=left, y=top, width=pw, height=ph, fill="none",
                stroke="currentColor", stroke_opacity="0.1")]
    for value, label in lines:
        if y_dom[0] <= value <= y_dom[1]:
            ly = y(value)
            body.append(_el("line", class_="band-line", x1=left, x2=left + pw, y1=ly, y2=ly,
                            stroke="currentColor", stroke_opacity="0.35", stroke_dasharray="3 3"))
            # labelled at the left: the newest buckets, at the right, matter most
            body.append(_el("text", _fit(label, pw / 2, 9), class_="band-line", x=left + 2, y=max(ly - 2, 9),
                            font_size=9, fill_opacity="0.7"))
    segment: list[tuple[float, float]] = []
    for t, v in [*buckets, (math.nan, None)]:  # the sentinel closes the last segment
        if v is not None:
            segment.append((x(t), y(v)))
        elif segment:
            body.append(_line(segment, "trend", CURRENT_COLOUR, stroke_width=1.5))
            segment = []
    body.append(_el("circle", class_="last", cx=x(known[-1][0]), cy=y(last), r=2.5, fill=CURRENT_COLOUR))
    body.append(_el("text", _fit(summary, width - 8, 10), class_="summary", x=left, y=height - 5, font_size=10))
    return _svg("trend-chart", width, height, title, desc, body)
