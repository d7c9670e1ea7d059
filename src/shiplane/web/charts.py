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

This module holds the two charts. Ticks, scales, labels and reading the series
are in ``shiplane.web.scales``; elements, escaping and the SVG root in
``shiplane.web.svg``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, tzinfo

from shiplane.web.scales import (
    MAX_ABS,
    day_labels,
    epoch_seconds,
    format_value,
    instant_text,
    median_text,
    nice_ticks,
    plottable,
    scale,
    series_points,
    tick_labels,
    time_ticks,
    zone_name,
)
from shiplane.web.svg import (
    check_size,
    data_line,
    document,
    element,
    fit,
    no_data_chart,
    text_width,
    with_tooltip,
)

BASELINE_COLOUR = "#6b7280"
CURRENT_COLOUR = "#2563eb"
BAND_COLOUR = "#16a34a"
FAR_FROM_ZERO = 0.02  # a spread under 2% of the values' size: zero would flatten the line


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
    tz: tzinfo = UTC,
) -> str:
    """One metric around a deploy: baseline (dashed grey) before, current (solid blue) after.

    `band` is a (low, high) range in value units shaded behind the lines (e.g. the
    healthy range); an infinite end runs to the edge of the plot, NaN drops it.
    The time axis reads in `tz` (the page's zone). The y-axis starts at zero (so
    ordinary noise looks ordinary) unless the data is far from zero: its spread is
    under `FAR_FROM_ZERO` of its size, where zero would flatten it into one line.
    """
    check_size(width, height, 300, 100)
    base, cur = series_points(baseline), series_points(current)
    deploy_t = epoch_seconds(deploy_at)
    if band is not None and any(math.isnan(b) for b in band):
        band = None
    band = (min(band), max(band)) if band is not None else None

    desc = f"{title}: " if title else ""
    desc += f"baseline {median_text(base, unit)}, after deploy {median_text(cur, unit)}"
    desc += f", verdict {verdict}" if verdict else ""
    if band is not None:
        desc += f"; band {format_value(band[0], unit)} to {format_value(band[1], unit)}"
    desc += f"; deploy at {instant_text(deploy_t)}"
    if not base and not cur:
        return no_data_chart("impact-chart", width, height, title, desc, show_title=True, data_verdict=verdict)

    values = [v for _, v in base + cur] + [b for b in band or () if math.isfinite(b) and abs(b) <= MAX_ABS]
    lo, hi = min(values), max(values)
    size = max(abs(lo), abs(hi))
    from_zero = (lo >= 0 or hi <= 0) and not (size > 0 and (hi - lo) < FAR_FROM_ZERO * size)
    if from_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    else:
        desc += "; the y-axis does not start at zero"
    ticks = nice_ticks(lo, hi, 5)
    labels = tick_labels(ticks)
    y_dom = (min(ticks[0], *values), max(ticks[-1], *values))
    times = [t for t, _ in base + cur] + [deploy_t]
    x_dom = (min(times), max(times))

    left = min(max(36, math.ceil(text_width(max(labels, key=len))) + 10), width // 2)
    top, right, bottom = 36, 12, 26
    pw, ph = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return scale(t, x_dom, (left, left + pw))

    def y(v: float) -> float:
        return scale(min(max(v, y_dom[0]), y_dom[1]), y_dom, (top + ph, top))

    body = [element("rect", class_="plot", x=left, y=top, width=pw, height=ph, fill="none",
                    stroke="currentColor", stroke_opacity="0.25")]
    if band is not None:
        y_hi, y_lo = round(y(band[1]), 1), round(y(band[0]), 1)
        body.append(element("rect", class_="band", x=left, y=y_hi, width=pw, height=round(y_lo - y_hi, 1),
                            fill=BAND_COLOUR, fill_opacity="0.12"))
    for tick, label in zip(ticks, labels, strict=True):
        ty = y(tick)
        body.append(element("line", class_="grid", x1=left, x2=left + pw, y1=ty, y2=ty,
                            stroke="currentColor", stroke_opacity="0.1"))
        body.append(element("text", label, class_="tick y", x=left - 6, y=ty + 4, text_anchor="end"))
    if unit:
        body.append(element("text", fit(unit, left - 6), class_="unit", x=left - 6, y=top - 10, text_anchor="end",
                            font_size=10, fill_opacity="0.7"))
    x_ticks = time_ticks(*x_dom, most=max(2, min(5, pw // 80)), tz=tz)
    x_ticks[-1] = (x_ticks[-1][0], x_ticks[-1][1] + " " + zone_name(x_ticks[-1][0], tz))
    for t, label in x_ticks:
        half = text_width(label) / 2
        tx = min(max(x(t), half + 2), width - half - 2)  # keep edge labels on the canvas
        body.append(element("line", class_="tick x", x1=x(t), x2=x(t), y1=top + ph, y2=top + ph + 4,
                            stroke="currentColor", stroke_opacity="0.4"))
        body.append(element("text", label, class_="tick x", x=tx, y=top + ph + 18, text_anchor="middle"))

    xd = x(deploy_t)
    body.append(element("line", class_="marker", x1=xd, x2=xd, y1=top, y2=top + ph,
                        stroke="currentColor", stroke_width=1.5, stroke_dasharray="2 3"))
    half = text_width("deploy", 10) / 2  # labelled above the plot, where it cannot hide data
    body.append(element("text", "deploy", class_="marker", x=min(max(xd, left + half), left + pw - half), y=top - 4,
                        text_anchor="middle", font_size=10))
    if base:
        body.append(data_line([(x(t), y(v)) for t, v in base], "baseline", BASELINE_COLOUR,
                              stroke_width=1.5, stroke_dasharray="5 3"))
    if cur:
        body.append(data_line([(x(t), y(v)) for t, v in cur], "current", CURRENT_COLOUR, stroke_width=2))

    # legend, laid out from the right edge; the title gets whatever room is left
    lx = width - right
    for label, cls, colour, dash in (("after deploy", "current", CURRENT_COLOUR, None),
                                     ("baseline", "baseline", BASELINE_COLOUR, "5 3")):
        lx -= text_width(label)
        body.append(element("text", label, class_=f"legend {cls}", x=lx, y=14))
        body.append(element("line", class_=f"legend {cls}", x1=lx - 22, x2=lx - 4, y1=10, y2=10, stroke=colour,
                            stroke_width=2, stroke_dasharray=dash))
        lx -= 22 + 14
    if band is not None:
        label = "healthy range"
        lx -= text_width(label)
        body.append(element("text", label, class_="legend healthy", x=lx, y=14))
        body.append(element("rect", class_="legend healthy", x=lx - 20, y=5, width=16, height=10,
                            fill=BAND_COLOUR, fill_opacity="0.25"))
        lx -= 20 + 14
    body.append(element("text", fit(title, lx - 4), class_="title", x=4, y=14, font_weight=600))
    return document("impact-chart", width, height, title, desc, body, data_verdict=verdict)


def trend_chart(
    *,
    points: Sequence[tuple[date | datetime, float | None]],
    title: str,
    unit: str = "",
    width: int = 320,
    height: int = 96,
    band_lines: Sequence[tuple[float, str]] = (),
    bucket: str = "",
) -> str:
    """A sparkline of a bucketed series; a None (or NaN) bucket is a gap in the line.

    Each point is a bucket's start (a day: pass the local date of the bucket's
    start) and its value in `unit`. Every bucket gets a hover region whose
    ``<title>`` tooltip names its start and value ("Week of 2026-11-02: 1.43 a day";
    `bucket` is the word for the bucket, e.g. "week"). The x-axis labels bucket
    starts, as many as fit without overlapping, always including the newest.
    `band_lines` are (value, label) reference lines, drawn when they fall inside
    the data's (rounded-out) range so they never flatten the trend itself.
    """
    check_size(width, height, 80, 60)
    buckets = sorted(((epoch_seconds(t), plottable(v)) for t, v in points), key=lambda p: p[0])
    known = [(t, v) for t, v in buckets if v is not None]
    lines = [(v, label) for value, label in band_lines if (v := plottable(value)) is not None]
    refs = ", ".join(f"{label} at {format_value(v, unit)}" for v, label in lines)

    if not known:
        desc = (f"{title}: " if title else "") + "no data" + (f"; reference lines: {refs}" if refs else "")
        return no_data_chart("trend-chart", width, height, title, desc, show_title=False)
    values = [v for _, v in known]
    last = values[-1]
    lo, hi = min(values), max(values)
    summary = f"last {format_value(last, unit)} · min {format_value(lo, unit)} · max {format_value(hi, unit)}"
    desc = (f"{title}: " if title else "") + (
        f"{len(buckets)} buckets from {instant_text(buckets[0][0])} to {instant_text(buckets[-1][0])}, "
        f"{len(buckets) - len(known)} without data; {summary.replace(' ·', ',')}"
    ) + (f"; reference lines: {refs}" if refs else "")

    ticks = nice_ticks(lo, hi, 3)
    y_dom = (min(ticks[0], lo), max(ticks[-1], hi))
    left, right, top, bottom = 4, 4, 6, 30
    pw, ph = width - left - right, height - top - bottom

    inset = 16  # the first and last points sit inside the plot, so their dates can centre under them

    def x(t: float) -> float:
        return scale(t, (buckets[0][0], buckets[-1][0]), (left + inset, left + pw - inset))

    def y(v: float) -> float:
        return scale(v, y_dom, (top + ph, top))

    body = [element("rect", class_="plot", x=left, y=top, width=pw, height=ph, fill="none",
                    stroke="currentColor", stroke_opacity="0.1")]
    for value, label in lines:
        if y_dom[0] <= value <= y_dom[1]:
            ly = y(value)
            body.append(element("line", class_="band-line", x1=left, x2=left + pw, y1=ly, y2=ly,
                                stroke="currentColor", stroke_opacity="0.35", stroke_dasharray="3 3"))
            # labelled at the left: the newest buckets, at the right, matter most
            body.append(element("text", fit(label, pw / 2, 9), class_="band-line", x=left + 2, y=max(ly - 2, 9),
                                font_size=9, fill_opacity="0.7"))
    segment: list[tuple[float, float]] = []
    for t, v in [*buckets, (math.nan, None)]:  # the sentinel closes the last segment
        if v is not None:
            segment.append((x(t), y(v)))
        elif segment:
            body.append(data_line(segment, "trend", CURRENT_COLOUR, stroke_width=1.5))
            segment = []
    body.append(element("circle", class_="last", cx=x(known[-1][0]), cy=y(last), r=2.5, fill=CURRENT_COLOUR))
    for t, label in _bucket_ticks([t for t, _ in buckets], x, width):
        half = text_width(label, 9) / 2
        body.append(element("line", class_="tick x", x1=x(t), x2=x(t), y1=top + ph, y2=top + ph + 3,
                            stroke="currentColor", stroke_opacity="0.4"))
        body.append(element("text", label, class_="tick x", x=min(max(x(t), half + 1), width - half - 1),
                            y=top + ph + 12, text_anchor="middle", font_size=9))
    # hover regions last, so they sit on top: each bucket from halfway to its neighbours
    xs = [x(t) for t, _ in buckets]
    edges = [left, *((a + b) / 2 for a, b in itertools.pairwise(xs)), left + pw]
    word = f"{bucket.capitalize()} of " if bucket and bucket != "day" else ""  # a day is its date
    for (t, v), x0, x1 in zip(buckets, edges, edges[1:], strict=False):
        shown = format_value(v, unit) if v is not None else "no data"
        body.append(with_tooltip("rect", f"{word}{instant_text(t)}: {shown}", class_="bucket", x=x0, y=top,
                                 width=max(x1 - x0, 0.0), height=ph, fill="currentColor", fill_opacity="0"))
    body.append(element("text", fit(summary, width - 8, 10), class_="summary", x=left, y=height - 5, font_size=10))
    return document("trend-chart", width, height, title, desc, body)


def _bucket_ticks(starts: list[float], x: Callable[[float], float], width: int) -> list[tuple[float, str]]:
    """Bucket starts to label on the x-axis: every k-th counted back from the newest, with
    the smallest k whose labels (kept on the canvas) leave a gap between neighbours."""
    unique = sorted(set(starts))
    for k in range(1, len(unique) + 1):
        chosen = unique[::-1][::k][::-1]
        labels = day_labels([datetime.fromtimestamp(t, UTC).date() for t in chosen])
        spans = []
        for t, label in zip(chosen, labels, strict=True):
            half = text_width(label, 9) / 2
            mid = min(max(x(t), half + 1), width - half - 1)
            spans.append((mid - half, mid + half))
        if all(b[0] - a[1] >= 6 for a, b in itertools.pairwise(spans)):
            return list(zip(chosen, labels, strict=True))
    return []
