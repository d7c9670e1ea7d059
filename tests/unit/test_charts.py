"""The dashboard's SVG charts: parsed back with ElementTree, no browser."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shiplane.web.charts import MAX_ABS, format_value, impact_chart, nice_ticks, scale, trend_chart
from shiplane.web.scales import day_labels

NS = "{http://www.w3.org/2000/svg}"
NAN, INF = float("nan"), float("inf")
T0 = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)
DEPLOY = T0 + timedelta(minutes=60)


def minutes(start, values, every=5):
    return [(start + timedelta(minutes=every * i), v) for i, v in enumerate(values)]


BASE = minutes(T0, [12, 13, 11, 12, 14, 12, 12, 13, 11, 12, 12, 13])  # 12:00 .. 12:55
CURRENT = minutes(DEPLOY, [30, 31, 29, 30, 32, 30])  # 13:00 .. 13:25


def impact(**kw):
    args = {"baseline": BASE, "current": CURRENT, "deploy_at": DEPLOY, "band": None, "title": "p95 latency"}
    return impact_chart(**(args | kw))


def trend(points, **kw):
    return trend_chart(points=points, title=kw.pop("title", "deploys per day"), **kw)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises if not well-formed
    assert root.tag == f"{NS}svg"
    return root


def find(root, tag, cls=None):
    return [e for e in root.iter(f"{NS}{tag}") if cls is None or cls in e.get("class", "").split()]


def one(root, tag, cls=None):
    (element,) = find(root, tag, cls)
    return element


def coords(element):
    if element.tag == f"{NS}circle":
        return [(float(element.get("cx")), float(element.get("cy")))]
    return [tuple(map(float, pair.split(","))) for pair in element.get("points").split()]


def plot_area(root):
    r = one(root, "rect", "plot")
    x, y, w, h = (float(r.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


SVG_TAGS = {"svg", "title", "desc", "rect", "line", "polyline", "circle", "text"}


def tags(root):
    return {e.tag.removeprefix(NS) for e in root.iter()}


def texts(root, cls):
    return [e.text for e in find(root, "text", cls)]


def is_nice(step):
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m, rel_tol=1e-9) for m in (1, 2, 2.5, 5, 10))


# --- the maths -----------------------------------------------------------------


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0, 100, [0, 25, 50, 75, 100]),
        (11, 32, [10, 20, 30, 40]),
        (-3, 7, [-5, 0, 5, 10]),
        (0, 1e6, [0, 250e3, 500e3, 750e3, 1e6]),
        (0.001, 0.0013, [0.001, 0.0011, 0.0012, 0.0013]),
        (0, 0, [0, 0.25, 0.5, 0.75, 1]),  # constant zero: padded up
        (12, 12, [10, 11, 12, 13, 14]),  # constant: padded by 10% either side
        (-5, -5, [-5.5, -5.25, -5, -4.75, -4.5]),
        (100, 0, [0, 25, 50, 75, 100]),  # reversed
    ],
)
def test_it_picks_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi, 5) == pytest.approx(expected)


@given(
    st.floats(-MAX_ABS, MAX_ABS, allow_nan=False),
    st.floats(-MAX_ABS, MAX_ABS, allow_nan=False),
    st.sampled_from([4, 5]),
)
def test_nice_ticks_are_round_and_cover_the_range(a, b, count):
    lo, hi = min(a, b), max(a, b)
    ticks = nice_ticks(lo, hi, count)
    assert 3 <= len(ticks) <= count
    step = ticks[1] - ticks[0]
    assert ticks[0] <= lo + step * 1e-9 and ticks[-1] >= hi - step * 1e-9
    assert step > 0 and is_nice(step)
    assert all(math.isclose(t / step, round(t / step), abs_tol=1e-6) for t in ticks)


def test_nice_ticks_refuses_what_it_cannot_place():
    for lo, hi in ((NAN, 1), (0, INF), (0, 1e300)):
        with pytest.raises(ValueError):
            nice_ticks(lo, hi)
    with pytest.raises(ValueError):
        nice_ticks(0, 1, 1)


def test_scale_maps_linearly_and_centres_an_empty_domain():
    assert scale(5, (0, 10), (100, 0)) == 50
    assert scale(0, (0, 10), (176, 36)) == 176  # y grows downwards: the low value at the bottom
    assert scale(7, (3, 3), (0, 200)) == 100


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        (12, "ms", "12 ms"),
        (30.12, "ms", "30.1 ms"),
        (1234, "", "1.23k"),
        (3_400_000, "B", "3.4M B"),
        (999_999, "", "1M"),  # rounds up into the next suffix, not "1e+03k"
        (-1500, "", "-1.5k"),
        (-0.0, "", "0"),
        (0.25, "%", "0.25%"),
        (3.2, "/day", "3.2/day"),
        (2.5e21, "", "2.5e+21"),
        (NAN, "ms", "n/a"),
        (INF, "ms", "∞ ms"),
    ],
)
def test_it_formats_values(value, unit, expected):
    assert format_value(value, unit) == expected


# --- impact chart ---------------------------------------------------------------


def test_it_draws_a_point_per_finite_value():
    baseline = [*BASE, (T0 + timedelta(minutes=2), NAN), (T0 + timedelta(minutes=3), INF), (T0, None)]
    current = [*CURRENT, (DEPLOY + timedelta(minutes=1), -INF), (DEPLOY, 1e300)]  # 1e300 is beyond MAX_ABS
    root = parse(impact(baseline=baseline, current=current))
    assert len(coords(one(root, "polyline", "baseline"))) == len(BASE)
    assert len(coords(one(root, "polyline", "current"))) == len(CURRENT)


def test_it_tells_the_series_apart_by_colour_and_dash():
    root = parse(impact())
    base, cur = one(root, "polyline", "baseline"), one(root, "polyline", "current")
    assert base.get("stroke") != cur.get("stroke")
    assert base.get("stroke-dasharray") != cur.get("stroke-dasharray")
    assert texts(root, "legend") == ["after deploy", "baseline"]


def test_the_deploy_marker_sits_between_the_series():
    root = parse(impact(deploy_at=DEPLOY - timedelta(minutes=2)))
    last_base = max(x for x, _ in coords(one(root, "polyline", "baseline")))
    first_cur = min(x for x, _ in coords(one(root, "polyline", "current")))
    marker = one(root, "line", "marker")
    assert marker.get("x1") == marker.get("x2")
    assert last_base < float(marker.get("x1")) < first_cur
    assert texts(root, "marker") == ["deploy"]


def test_the_band_spans_low_to_high_with_y_growing_downwards():
    baseline = minutes(T0, [0, 50, 100])  # ticks 0..100, so the plot's height is the domain
    root = parse(impact(baseline=baseline, current=minutes(DEPLOY, [40]), band=(20, 60)))
    _, top, _, bottom = plot_area(root)
    rect = one(root, "rect", "band")
    y, height = float(rect.get("y")), float(rect.get("height"))
    assert y == pytest.approx(bottom - 0.6 * (bottom - top), abs=0.1)  # the high end, nearer the top
    assert y + height == pytest.approx(bottom - 0.2 * (bottom - top), abs=0.15)


def test_the_band_widens_the_axis_and_an_infinite_end_runs_to_the_edge():
    root = parse(impact(band=(10, 50)))
    assert float(texts(root, "y")[-1]) >= 50
    root = parse(impact(band=(10, INF)))
    assert "band 10 to ∞" in root[1].text
    _, top, _, _ = plot_area(root)
    assert float(one(root, "rect", "band").get("y")) == top
    assert find(parse(impact(band=(NAN, 20))), "rect", "band") == []
    assert find(parse(impact(band=None)), "rect", "band") == []


def test_y_ticks_are_nice_and_cover_the_data():
    root = parse(impact())
    labels = [float(t) for t in texts(root, "y")]
    assert 3 <= len(labels) <= 5
    assert labels[0] <= 11 and labels[-1] >= 32
    assert is_nice(labels[1] - labels[0])
    assert texts(root, "unit") == []  # no unit given
    assert texts(parse(impact(unit="ms")), "unit") == ["ms"]


def test_huge_values_get_si_suffixes():
    root = parse(impact(baseline=minutes(T0, [1.2e6, 3.4e6]), current=minutes(DEPLOY, [2e6])))
    assert all(label.endswith("M") for label in texts(root, "y") if label != "0")  # the axis starts at zero


def test_x_labels_are_utc_clock_times():
    root = parse(impact())
    labels = texts(root, "x")
    assert 3 <= len(labels) <= 5
    assert labels[0] == "12:00" and labels[-1].endswith(" UTC")
    assert all(re.fullmatch(r"\d\d:\d\d", label.removesuffix(" UTC")) for label in labels)


def test_naive_datetimes_are_read_as_utc():
    naive = impact(
        baseline=[(t.replace(tzinfo=None), v) for t, v in BASE],
        current=CURRENT,
        deploy_at=DEPLOY.replace(tzinfo=None),
    )
    berlin = timezone(timedelta(hours=2))
    aware = impact(
        baseline=[(t.astimezone(berlin), v) for t, v in BASE], current=CURRENT, deploy_at=DEPLOY.astimezone(berlin)
    )
    assert naive == aware == impact()


def test_it_is_accessible():
    root = parse(impact(unit="ms", verdict="unhealthy"))
    assert root.get("role") == "img"
    assert root.get("viewBox") == "0 0 640 200" and root.get("width") == "100%"
    assert root.get("preserveAspectRatio") == "xMidYMid meet"
    assert [child.tag for child in root[:2]] == [f"{NS}title", f"{NS}desc"]
    assert root[0].text == "p95 latency"
    desc = root[1].text
    assert "baseline median 12 ms" in desc and "after deploy median 30 ms" in desc and "verdict unhealthy" in desc
    assert all("style" not in e.attrib for e in root.iter())  # a strict CSP blocks style="..."


HOSTILE = ["<script>alert(1)</script>", "\"&'", "]]><x/>", "a\x00b\x1bc"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_user_strings_are_escaped(hostile):
    svg = impact(title=hostile, unit=hostile, verdict=hostile, band=(10, 20))
    root = parse(svg)
    assert tags(root) <= SVG_TAGS
    clean = hostile.replace("\x00", "").replace("\x1b", "")  # not allowed in XML at all
    assert root[0].text == clean
    assert root.get("data-verdict") == clean
    assert clean in root[1].text


@pytest.mark.parametrize(
    "baseline, current",
    [
        ([], []),
        ([(T0, NAN)], [(DEPLOY, INF)]),
    ],
)
def test_no_data_is_an_empty_chart_that_says_so(baseline, current):
    root = parse(impact(baseline=baseline, current=current))
    assert texts(root, "no-data") == ["no data"]
    assert find(root, "polyline") == []
    assert "baseline no data, after deploy no data" in root[1].text


def test_a_single_point_is_a_dot():
    root = parse(impact(baseline=[], current=[(DEPLOY, 30)]))
    dot = one(root, "circle", "current")
    x0, y0, x1, y1 = plot_area(root)
    assert x0 <= float(dot.get("cx")) <= x1 and y0 <= float(dot.get("cy")) <= y1
    assert "baseline no data" in root[1].text


@pytest.mark.parametrize(
    "baseline, current, deploy_at",
    [
        (minutes(T0, [5] * 12), minutes(DEPLOY, [5] * 6), DEPLOY),  # constant
        (minutes(T0, [0] * 3), minutes(DEPLOY, [0] * 3), DEPLOY),  # constant zero
        ([(T0, 1), (T0, 2)], [(T0, 3)], T0),  # every timestamp equal
        (minutes(T0, [-5, -20, 3]), minutes(DEPLOY, [-40]), DEPLOY),  # negative
        (minutes(T0, [1e-300, 2e-300]), minutes(DEPLOY, [0]), DEPLOY),  # tiny
    ],
)
def test_degenerate_series_do_not_break_the_chart(baseline, current, deploy_at):
    root = parse(impact(baseline=baseline, current=current, deploy_at=deploy_at))
    x0, y0, x1, y1 = plot_area(root)
    for element in find(root, "polyline") + find(root, "circle"):
        assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in coords(element))
    assert 3 <= len(texts(root, "y")) <= 5


def test_it_is_deterministic_and_compact():
    svg = impact(band=(10, 20), unit="ms", verdict="healthy")
    assert svg == impact(band=(10, 20), unit="ms", verdict="healthy")
    numbers = re.findall(r"\d+\.\d+", svg)
    assert all(len(n.split(".")[1]) == 1 for n in numbers if not n.startswith("0."))


def test_it_refuses_an_unreadably_small_canvas():
    with pytest.raises(ValueError):
        impact(width=100)


# --- trend chart ---------------------------------------------------------------

WEEKS = [date(2024, 5, 6) + timedelta(weeks=i) for i in range(8)]


def test_a_missing_bucket_is_a_gap():
    root = parse(trend(list(zip(WEEKS, [1.0, 2.0, None, 3.0, None, 2.5, 2.0, 4.0], strict=True))))
    segments = [len(coords(e)) for e in find(root, "polyline", "trend") + find(root, "circle", "trend")]
    assert segments == [2, 3, 1]  # polylines first, then the lone point (3.0) as a dot
    assert "8 buckets from 2024-05-06 to 2024-06-24, 2 without data" in root[1].text


def test_it_labels_last_min_and_max():
    root = parse(trend(list(zip(WEEKS, [1.2, 2.5, 0.5, 3.1, NAN, 4.4, 3.8, None], strict=True)), unit="/day"))
    assert texts(root, "summary") == ["last 3.8/day · min 0.5/day · max 4.4/day"]
    last = one(root, "circle", "last")
    assert float(last.get("cx")) < plot_area(root)[2]  # the last bucket with data, not the empty one


def test_band_lines_inside_the_range_are_drawn_and_labelled():
    points = list(zip(WEEKS, [1, 2, 3, 4, 3, 2, 1, 2], strict=True))
    root = parse(trend(points, band_lines=[(3, "elite <script>"), (1000, "never shown")]))
    (line,) = find(root, "line", "band-line")
    assert texts(root, "band-line") == ["elite <script>"]
    x0, y0, x1, y1 = plot_area(root)
    assert y0 < float(line.get("y1")) < y1
    assert "reference lines: elite <script> at 3, never shown at 1k" in root[1].text


def test_trend_without_data_says_so():
    root = parse(trend([(WEEKS[0], None), (WEEKS[1], NAN)], band_lines=[(1, "elite")]))
    assert texts(root, "no-data") == ["no data"]
    assert parse(trend([])).get("role") == "img"


def test_trend_escapes_and_is_deterministic():
    points = list(zip(WEEKS, [1, 2, None, 4, 5, 6, 7, 8], strict=True))
    svg = trend(points, title='<script>alert(1)</script>"&\'', unit="<b>")
    assert svg == trend(points, title='<script>alert(1)</script>"&\'', unit="<b>")
    root = parse(svg)
    assert tags(root) <= SVG_TAGS
    assert root[0].text == '<script>alert(1)</script>"&\''


def test_trend_takes_dates_and_datetimes_alike():
    as_dates = trend([(d, 1.0 + i) for i, d in enumerate(WEEKS)])
    as_datetimes = trend([(datetime(d.year, d.month, d.day), 1.0 + i) for i, d in enumerate(WEEKS)])
    assert as_dates == as_datetimes


def tooltips(root):
    return [(r, r.find(f"{NS}title").text) for r in find(root, "rect", "bucket")]


def test_every_bucket_has_a_tooltip_with_its_start_and_value():
    root = parse(trend(list(zip(WEEKS, [1.25, 2.0, None, 3.0, NAN, 2.5, 2.0, 40.0], strict=True)), unit="%", bucket="week"))
    tips = tooltips(root)
    assert [text for _, text in tips] == [
        "Week of 2024-05-06: 1.25%", "Week of 2024-05-13: 2%", "Week of 2024-05-20: no data", "Week of 2024-05-27: 3%",
        "Week of 2024-06-03: no data", "Week of 2024-06-10: 2.5%", "Week of 2024-06-17: 2%", "Week of 2024-06-24: 40%",
    ]
    # each hover region holds its own bucket's point; together they tile the plot
    x0, y0, x1, y1 = plot_area(root)
    edges = [(float(r.get("x")), float(r.get("x")) + float(r.get("width"))) for r, _ in tips]
    assert edges[0][0] == x0 and edges[-1][1] == pytest.approx(x1, abs=0.11)  # coordinates have one decimal
    assert all(a[1] == pytest.approx(b[0], abs=0.11) for a, b in zip(edges, edges[1:]))  # noqa: B905
    points = [x for e in find(root, "polyline", "trend") + find(root, "circle", "trend") for x, _ in coords(e)]
    for x in points:
        assert any(a - 0.11 <= x <= b + 0.11 for a, b in edges)
    assert all(float(r.get("y")) == y0 and float(r.get("height")) == pytest.approx(y1 - y0, abs=0.11) for r, _ in tips)


def test_a_day_bucket_is_named_by_its_date_and_a_datetime_by_its_time():
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]
    assert [t for _, t in tooltips(parse(trend(list(zip(days, [1, 2, 3], strict=True)), unit="a day", bucket="day")))] == [
        "2026-11-01: 1 a day", "2026-11-02: 2 a day", "2026-11-03: 3 a day"]
    hours = [datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 11, 1, 7, 30, tzinfo=UTC)]
    assert [t for _, t in tooltips(parse(trend(list(zip(hours, [1, 2], strict=True)))))] == [
        "2026-11-01 06:30 UTC: 1", "2026-11-01 07:30 UTC: 2"]


def test_the_x_axis_labels_bucket_starts_from_the_newest_without_overlap():
    root = parse(trend(list(zip(WEEKS, range(8), strict=True))))
    assert texts(root, "x") == ["May 6", "May 13", "May 20", "May 27", "Jun 3", "Jun 10", "Jun 17", "Jun 24"]
    year = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    root = parse(trend([(d, float(i % 7)) for i, d in enumerate(year)]))
    labels = texts(root, "x")
    assert labels[-1] == "Dec 31" and 3 <= len(labels) <= 8
    assert_labels_readable(root)


@pytest.mark.parametrize(
    "days, expected",
    [
        ([date(2026, 12, 21), date(2026, 12, 28), date(2027, 1, 4)], ["Dec 21", "Dec 28", "Jan 4 2027"]),
        ([date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)], ["Nov", "Dec", "Jan 2027", "Feb"]),
        ([date(2026, 11, 1), date(2026, 11, 2)], ["Nov 1", "Nov 2"]),  # days that happen to start on the 1st
        ([], []),
    ],
)
def test_day_labels_say_the_year_where_it_changes(days, expected):
    assert day_labels(days) == expected


def assert_labels_readable(root):
    """x-axis labels on the canvas, in order, with a gap between neighbours (by the layout's own width estimate)."""
    width = float(root.get("viewBox").split()[2])
    spans = []
    for t in find(root, "text", "x"):
        half = len(t.text) * 9 * 0.6 / 2
        spans.append((float(t.get("x")) - half, float(t.get("x")) + half))
    assert all(0 <= a and b <= width for a, b in spans), spans
    assert all(b[0] - a[1] >= 5.9 for a, b in zip(spans, spans[1:])), spans  # noqa: B905


# --- properties ----------------------------------------------------------------

values = st.one_of(st.floats(-MAX_ABS, MAX_ABS), st.floats(allow_nan=True, allow_infinity=True), st.none())
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
series = st.lists(st.tuples(moments, values), max_size=30)


def finite(points):
    return sum(1 for _, v in points if v is not None and math.isfinite(v) and abs(v) <= MAX_ABS)


def assert_inside(root):
    x0, y0, x1, y1 = plot_area(root)
    for element in find(root, "polyline") + find(root, "circle"):
        for x, y in coords(element):
            assert x0 <= x <= x1 and y0 <= y <= y1, (x, y, (x0, y0, x1, y1))


@settings(max_examples=150, deadline=None)
@given(series, series, moments, st.none() | st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
       st.integers(300, 1200), st.integers(100, 500))
def test_any_impact_chart_parses_and_stays_in_the_plot(baseline, current, deploy_at, band, width, height):
    root = parse(impact(baseline=baseline, current=current, deploy_at=deploy_at, band=band,
                        width=width, height=height))
    if finite(baseline) + finite(current) == 0:
        return
    assert_inside(root)
    for cls, points in (("baseline", baseline), ("current", current)):
        drawn = find(root, "polyline", cls) + find(root, "circle", cls)
        assert sum(len(coords(e)) for e in drawn) == finite(points)
    x0, _, x1, _ = plot_area(root)
    assert x0 <= float(one(root, "line", "marker").get("x1")) <= x1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.dates(date(2000, 1, 1), date(2100, 1, 1)), values), max_size=30),
       st.lists(st.tuples(st.floats(-1e6, 1e6), st.text(max_size=10)), max_size=3))
def test_any_trend_chart_parses_and_stays_in_the_plot(points, band_lines):
    root = parse(trend(points, band_lines=band_lines))
    assert_inside(root)
    drawn = find(root, "polyline", "trend") + find(root, "circle", "trend")
    assert sum(len(coords(e)) for e in drawn) == finite(points)
    if finite(points):
        assert len(tooltips(root)) == len(points)
        assert_labels_readable(root)
        assert texts(root, "x"), "the axis has at least one date"


def test_the_y_axis_starts_at_zero_unless_the_data_is_far_from_it():
    near = parse(impact(baseline=minutes(T0, [400, 410]), current=minutes(DEPLOY, [420])))
    assert float(texts(near, "y")[0]) == 0  # 400-420 ms of noise drawn from zero looks like what it is
    far = parse(impact(baseline=minutes(T0, [100_000, 100_010]), current=minutes(DEPLOY, [100_020])))
    assert float(texts(far, "y")[0].rstrip("k")) > 0  # a 0.02% spread: zero would flatten it
    assert "does not start at zero" in far[1].text
    negative = parse(impact(baseline=minutes(T0, [-5, 3]), current=minutes(DEPLOY, [1])))
    assert float(texts(negative, "y")[0]) <= -5


def test_the_healthy_band_is_in_the_legend():
    root = parse(impact(band=(10, 30)))
    assert "healthy range" in [t.text for t in find(root, "text", "legend")]
    assert "healthy range" not in [t.text for t in find(parse(impact(band=None)), "text", "legend")]


def test_the_time_axis_reads_in_the_pages_zone():
    from zoneinfo import ZoneInfo

    root = parse(impact(tz=ZoneInfo("Asia/Kolkata")))  # +05:30: 12:00 UTC is 17:30 there
    labels = texts(root, "x")
    assert labels[-1].endswith(" IST")
    assert labels[0] == "17:30"


def test_dora_trend_points_are_local_bucket_days_in_the_headlines_units():
    from shiplane.web.views import trend_charts

    # Weeks of Europe/Berlin start at local midnight: 23:00 UTC the day before (CET, +01:00).
    report = {
        "since": "2026-11-03T23:00:00Z",  # tracking began on Wednesday Nov 4, local time
        "until": "2026-11-18T11:00:00Z",  # Wednesday Nov 18, 12:00 local: the last week is 2.5 days old
        "lead_time": {"median_seconds": 45 * 60},  # the headline says "45 min": so does the chart
        "series": [
            {"start": "2026-11-01T23:00:00Z", "deploys": 5, "failed": 1, "median_lead_time_seconds": 3600.0},
            {"start": "2026-11-08T23:00:00Z", "deploys": 0, "failed": 0, "median_lead_time_seconds": None},
            {"start": "2026-11-15T23:00:00Z", "deploys": 1, "failed": 0, "median_lead_time_seconds": 1800.0},
        ],
    }
    charts = {k: parse(v) for k, v in trend_charts(report, bucket="week", tz="Europe/Berlin").items()}
    assert [t for _, t in tooltips(charts["deploys"])] == [
        "Week of 2026-11-02: 1 a day", "Week of 2026-11-09: 0 a day", "Week of 2026-11-16: 0.4 a day"]
    assert [t for _, t in tooltips(charts["failed"])] == [
        "Week of 2026-11-02: 20%", "Week of 2026-11-09: no data", "Week of 2026-11-16: 0%"]
    assert [t for _, t in tooltips(charts["lead"])] == [
        "Week of 2026-11-02: 60 min", "Week of 2026-11-09: no data", "Week of 2026-11-16: 30 min"]
    assert texts(charts["lead"], "x") == ["Nov 2", "Nov 9", "Nov 16"]
