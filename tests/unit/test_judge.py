"""The deploy-health judge on fixed arrays: one table per rule, no mocks."""

import json
import math

import numpy as np
import pytest

from shiplane.health.judge import (
    HEALTHS,
    MIN_POINTS,
    MetricInput,
    judge,
    judge_many,
    judge_metric,
)

NAN = float("nan")
# an hour of 5-minute points around 100 (latency in ms, requests, ...)
BASE = [100, 104, 98, 101, 97, 103, 99, 102, 100, 96, 105, 100]  # median 100
SAME = [101, 97, 103, 99, 100, 102, 98, 104, 96, 100, 103, 99]  # median 100


def times(values, k):
    return [v * k for v in values]


def metric(baseline, current, **kw):
    return judge_metric(MetricInput(kw.pop("name", "m"), baseline, current, **kw))


@pytest.mark.parametrize(
    "baseline, current, kw, health, ratio",
    [
        # the plain cases
        (BASE, SAME, {}, "healthy", pytest.approx(1.0, abs=0.02)),
        (BASE, times(SAME, 1.1), {}, "healthy", pytest.approx(1.1, abs=0.03)),  # significant but below 1.2×
        (BASE, times(SAME, 1.3), {}, "ailing", pytest.approx(1.3, abs=0.03)),
        (BASE, times(SAME, 2), {}, "unhealthy", pytest.approx(2.0, abs=0.05)),
        (BASE, times(SAME, 1.3), {"ailing_ratio": 1.5, "unhealthy_ratio": 2}, "healthy", pytest.approx(1.3, abs=0.03)),
        # constant series: identical is healthy, a constant shift is a shift
        ([45] * 12, [45] * 12, {}, "healthy", 1.0),
        ([45] * 12, [90] * 12, {}, "unhealthy", 2.0),
        ([45] * 12, [54] * 12, {}, "ailing", 1.2),
        ([0] * 12, [0] * 12, {}, "healthy", 1.0),
        # zero-inflated: an all-zero baseline then a rise is infinitely worse
        ([0] * 12, [0, 0, 0, 0, 0, 3, 2, 4, 5, 1, 2, 3], {}, "unhealthy", math.inf),
        ([0] * 12, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], {}, "healthy", math.inf),  # one spike proves nothing
        # mostly zeros: the error rate (mean) is the centre, not the median (0 → 0)
        ([0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0], [0, 3, 1, 5, 2, 4, 0, 6, 1, 0, 2, 3], {}, "unhealthy", 9.0),
        # ... which must be clearer than usual (p < 0.01): non-zero points come in bursts
        ([0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0], [0, 3, 0, 5, 2, 4, 0, 6, 1, 0, 2, 0], {}, "healthy", pytest.approx(23 / 3)),
        ([0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0], {}, "healthy", 1.0),
        # decrease: the baseline over the current
        (BASE, times(SAME, 0.5), {"regression": "decrease"}, "unhealthy", pytest.approx(2.0, abs=0.05)),
        (BASE, times(SAME, 2), {"regression": "decrease"}, "healthy", pytest.approx(0.5, abs=0.02)),
        (BASE, times(SAME, 0.5), {"regression": "increase"}, "healthy", pytest.approx(0.5, abs=0.02)),
        ([5] * 12, [0] * 12, {"regression": "decrease"}, "unhealthy", math.inf),  # throughput to nothing
        # any: either way is bad
        (BASE, times(SAME, 2), {"regression": "any"}, "unhealthy", pytest.approx(2.0, abs=0.05)),
        (BASE, times(SAME, 0.5), {"regression": "any"}, "unhealthy", pytest.approx(2.0, abs=0.05)),
        (BASE, SAME, {"regression": "any"}, "healthy", pytest.approx(1.0, abs=0.02)),
        # NaN is dropped: 9 points are left, enough
        ([NAN, NAN, NAN, *BASE[:9]], [*times(SAME, 2)[:9], NAN, NAN, NAN], {}, "unhealthy", pytest.approx(2.0, abs=0.06)),
        ([*BASE, NAN], [*SAME, math.inf], {}, "healthy", pytest.approx(1.0, abs=0.02)),
    ],
)
def test_it_grades_one_metric(baseline, current, kw, health, ratio):
    v = metric(baseline, current, **kw)
    assert (v.health, v.ratio) == (health, ratio), v.reason


@pytest.mark.parametrize(
    "baseline, current, reason",
    [
        ([1, 2, 3], BASE, "no data: baseline has 3 points (need 8)"),
        (BASE, [], "no data: current has 0 points (need 8)"),
        ([], [7], "no data: baseline has 0 points and current 1 (need 8 each)"),
        ([NAN] * 12, BASE, "no data: baseline has 0 points (need 8)"),
        (BASE, [*[NAN] * 5, *SAME[:7]], "no data: current has 7 points (need 8)"),
    ],
)
def test_it_says_no_data_when_a_side_is_short(baseline, current, reason):
    v = metric(baseline, current)
    assert (v.health, v.ratio, v.p_value, v.reason) == ("no_data", None, None, reason)


def test_it_needs_at_most_eight_points():
    assert MIN_POINTS <= 8
    assert metric(BASE[:MIN_POINTS], times(SAME[:MIN_POINTS], 3)).health == "unhealthy"
    assert metric(BASE[: MIN_POINTS - 1], times(SAME, 3)).health == "no_data"


@pytest.mark.parametrize(
    "kw, fragments",
    [
        (
            {"name": "p95 latency", "unit": "ms", "baseline": times(BASE, 2.12), "current": times(SAME, 3.46)},
            ["p95 latency +63% (212 ms → 346 ms), significant (p<0.0001)"],
        ),
        (
            {"name": "errors", "baseline": [0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0], "current": [0, 3, 0, 5, 2, 4, 0, 6, 1, 0, 2, 0]},
            ["errors +667% (0.25 → 1.92, means: mostly zeros), not significant (p=0.012; mostly-zero series need p<0.01)"],
        ),
        ({"name": "errors", "baseline": [0] * 12, "current": [0, 0, 0, 0, 0, 3, 2, 4, 5, 1, 2, 3]}, ["errors up from zero (0 → 1.67, means: mostly zeros), significant"]),
        ({"name": "rps", "unit": "req/s", "baseline": BASE, "current": times(SAME, 0.5), "regression": "decrease"}, ["rps −50% (100 req/s → 50 req/s), significant"]),
        ({"name": "cpu", "baseline": BASE, "current": SAME}, ["cpu ", "not significant (p="]),
        ({"name": "cpu", "baseline": BASE, "current": times(SAME, 1.1)}, ["cpu +10%", "significant", "below the 1.2× ailing ratio"]),
        ({"name": "hits", "baseline": [3] * 12, "current": [3] * 12}, ["hits unchanged (3 → 3)"]),
        ({"name": "cpu", "baseline": times(BASE, 0.001), "current": times(SAME, 1234.5)}, ["cpu ×1.23e+06 (0.1 → 123,450)"]),
    ],
)
def test_it_explains_every_verdict(kw, fragments):
    v = judge_metric(MetricInput(**kw))
    for fragment in fragments:
        assert fragment in v.reason


# the same hour on earlier days: a daily ramp, a level that moved before the deploy, a real regression
MORNING = times(SAME, 1.6)  # this hour is usually 60 % busier than the hour before
HISTORY = [times(BASE, 1.6 * k) for k in (0.97, 1.0, 1.03, 0.99, 1.02)]


@pytest.mark.parametrize(
    "baseline, current, history, health",
    [
        (BASE, MORNING, [], "unhealthy"),  # without history the ramp looks like a regression
        (BASE, MORNING, HISTORY, "healthy"),  # the history shows this hour is always busier
        (BASE, times(MORNING, 1.6), HISTORY, "unhealthy"),  # 60 % above the usual morning and the hour before
        (times(BASE, 1.6), MORNING, [times(BASE, 1.0)] * 3, "healthy"),  # the level moved before the deploy
        (times(BASE, 4), times(MORNING, 2), HISTORY, "unhealthy"),  # the hour before was a peak: history decides
        (BASE, MORNING, [[1, 2, 3]], "unhealthy"),  # a short history window is ignored
    ],
)
def test_it_weighs_the_history(baseline, current, history, health):
    v = metric(baseline, current, history=history)
    assert v.health == health, v.reason
    assert v.history_windows == sum(len(w) >= MIN_POINTS for w in history)


def test_it_mentions_the_history_in_the_reason():
    v = metric(BASE, MORNING, history=HISTORY, name="rps")
    assert "in line with the history (5 windows)" in v.reason
    v = metric(BASE, times(MORNING, 1.6), history=HISTORY, name="rps")
    assert "and against the history (5 windows): +" in v.reason


def test_it_lets_bursts_seen_on_earlier_days_pass():
    burst = [0, 0, 0, 0, 0, 20, 40, 90, 80, 60, 30, 0]
    quiet = [0] * 12
    assert metric(quiet, burst, history=[quiet] * 4).health == "unhealthy"
    assert metric(quiet, burst, history=[quiet, burst, quiet, [0, 0, 90, 95, 99, 80, 70, 0, 0, 0, 0, 0]]).health == "healthy"


def test_it_uses_exact_p_values_on_tied_samples():
    # three non-zero points after twelve zeros: P = C(12,3)/C(24,3) = 0.109, not the normal approximation's 0.04
    v = metric([0] * 12, [0] * 9 + [1, 1, 1])
    assert v.p_value == pytest.approx(220 / 2024)
    assert v.health == "healthy"


@pytest.mark.parametrize(
    "regression, ailing, unhealthy",
    [("up", 1.2, 1.5), ("increase", 0.9, 1.5), ("increase", 1.6, 1.5)],
)
def test_it_refuses_bad_settings(regression, ailing, unhealthy):
    with pytest.raises(ValueError):
        metric(BASE, SAME, regression=regression, ailing_ratio=ailing, unhealthy_ratio=unhealthy)


# ------------------------------------------------------------------ deploy health

HEALTHY = MetricInput("ok", BASE, SAME)
AILING = MetricInput("slow", BASE, times(SAME, 1.3))
UNHEALTHY = MetricInput("broken", BASE, times(SAME, 2))
NO_DATA = MetricInput("empty", BASE, [])


@pytest.mark.parametrize(
    "metrics, health, score",
    [
        ([HEALTHY] * 10, "healthy", 100),
        ([HEALTHY] * 9 + [AILING], "healthy", 95),
        ([HEALTHY] * 8 + [AILING] * 2, "healthy", 90),  # 90 is healthy
        ([HEALTHY] * 8 + [AILING, UNHEALTHY], "ailing", 85),
        ([HEALTHY] * 7 + [UNHEALTHY] * 3, "ailing", 70),  # 70 is ailing
        ([HEALTHY] * 6 + [AILING] + [UNHEALTHY] * 3, "unhealthy", 65),
        ([AILING] * 4, "unhealthy", 50),
        ([HEALTHY, HEALTHY, NO_DATA], "healthy", 100),  # judged metrics only
        ([HEALTHY, HEALTHY, HEALTHY, UNHEALTHY], "ailing", 75),
    ],
)
def test_it_scores_the_deploy(metrics, health, score):
    v = judge(metrics)
    assert (v.health, v.score) == (health, score), v.reason


@pytest.mark.parametrize(
    "metrics, health",
    [
        ([HEALTHY] * 9 + [MetricInput("errors", BASE, times(SAME, 2), critical=True)], "unhealthy"),
        ([HEALTHY] * 9 + [MetricInput("errors", BASE, times(SAME, 1.3), critical=True)], "healthy"),  # ailing is not enough
        ([HEALTHY] * 9 + [UNHEALTHY], "healthy"),  # the same, not critical: score 90
        ([NO_DATA] * 3 + [MetricInput("errors", BASE, times(SAME, 2), critical=True)], "unhealthy"),  # before no_data
    ],
)
def test_it_lets_a_critical_metric_decide(metrics, health):
    v = judge(metrics)
    assert v.health == health
    if health == "unhealthy":
        assert v.reason.startswith("critical metric unhealthy: errors")


@pytest.mark.parametrize(
    "metrics, health",
    [
        ([NO_DATA, HEALTHY], "no_data"),  # 50 % is enough
        ([NO_DATA, NO_DATA, HEALTHY, UNHEALTHY], "no_data"),
        ([NO_DATA, HEALTHY, HEALTHY], "healthy"),
        ([NO_DATA], "no_data"),
        ([], "no_data"),
    ],
)
def test_it_says_no_data_when_half_the_metrics_have_none(metrics, health):
    v = judge(metrics)
    assert v.health == health
    if health == "no_data":
        assert v.score is None


def test_it_serialises_to_plain_json():
    v = judge([MetricInput("errors", [0] * 12, [0, 0, 0, 0, 0, 3, 2, 4, 5, 1, 2, 3]), HEALTHY, NO_DATA])
    d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert set(d) == {"health", "score", "reason", "metrics"}
    assert [m["name"] for m in d["metrics"]] == ["errors", "ok", "empty"]
    errors, ok, empty = d["metrics"]
    assert errors["ratio"] == "Infinity" and float(errors["ratio"]) == math.inf
    assert {"name", "health", "ratio", "reason", "p_value", "baseline_center", "current_center"} <= set(ok)
    assert (empty["health"], empty["ratio"], empty["reason"]) == ("no_data", None, "no data: current has 0 points (need 8)")
    assert d["reason"].startswith("score 50 (1 healthy, 1 unhealthy, 1 no_data)")


# ------------------------------------------------------------------ the vectorised path


@pytest.mark.parametrize("regression", ["increase", "decrease", "any"])
@pytest.mark.parametrize("points, windows", [(12, 0), (12, 3), (60, 0), (9, 2)])
def test_it_agrees_with_judge_metric_in_judge_many(regression, points, windows):
    rng = np.random.default_rng(points * 10 + windows)
    rows = 120
    b = rng.lognormal(3, 0.4, (rows, points))
    c = rng.lognormal(3, 0.4, (rows, points)) * rng.choice([0.5, 0.8, 1, 1, 1.25, 1.6, 2.2], (rows, 1))
    c[::7] = np.round(c[::7])  # some ties
    c[3::11, :4] = 0  # some zeros
    b[5::13, 0] = np.nan  # rows judged one by one
    b[6] = 0  # an all-zero baseline
    h = rng.lognormal(3, 0.4, (rows, windows, points)) if windows else None
    many = judge_many(b, c, regression=regression, history=h)
    for i in range(rows):
        v = metric(b[i], c[i], regression=regression, history=() if h is None else list(h[i]))
        assert HEALTHS[many.health[i]] == v.health, (i, v.reason)
        assert many.ratio[i] == pytest.approx(v.ratio)
        assert many.p_value[i] == pytest.approx(v.p_value)
    assert len(set(many.health.tolist())) >= 3


def test_it_says_no_data_in_judge_many_for_short_rows():
    many = judge_many(np.ones((3, 5)), np.ones((3, 5)))
    assert [HEALTHS[h] for h in many.health] == ["no_data"] * 3
    assert np.isnan(many.ratio).all() and np.isnan(many.p_value).all()
    nan_rows = np.array([BASE, [NAN] * 6 + BASE[:6]], float)
    many = judge_many(nan_rows, np.array([times(SAME, 2)] * 2))
    assert [HEALTHS[h] for h in many.health] == ["unhealthy", "no_data"]
