"""The deploy-health judge on fixed arrays: one table per rule, no mocks."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from shiplane.health import sequential
from shiplane.health.judge import (
    ALPHA,
    HEALTHS,
    MIN_POINTS,
    MetricInput,
    judge,
    judge_many,
    judge_metric,
)
from shiplane.health.reference import level_start

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
        # zero-inflated: an all-zero baseline then a clear rise is infinitely worse
        ([0] * 24, [0, 3, 2, 4, 5, 1, 2, 3, 0, 2, 6, 1], {}, "unhealthy", math.inf),
        ([0] * 12, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7], {}, "healthy", 1.0),  # one spike proves nothing, and after 8 points nothing moved
        # ... but errors come in bursts, so mostly-zero series need stronger evidence than others (a fifth of the level)
        ([0] * 12, [0, 0, 0, 0, 0, 3, 2, 4, 5, 1, 2, 3], {}, "healthy", math.inf),
        # mostly zeros: the error rate (mean) is the centre, not the median (0 → 0)
        ([0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0] * 2, [0, 3, 1, 5, 2, 4, 3, 6, 1, 2, 2, 3], {}, "unhealthy", 12.0),  # 0.25 → 3 after 8 points
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
            {"name": "p95 latency", "unit": "ms", "baseline": times(BASE, 2.12), "current": times(SAME, 3.46), "step": 60},
            ["p95 latency +64% (212 ms → 348 ms), the evidence passed the always-valid threshold after 8 minutes (always-valid p<0.0001)"],
        ),
        (
            {"name": "errors", "baseline": [0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0], "current": [0, 3, 0, 5, 2, 4, 0, 6, 1, 0, 2, 0]},
            ["errors +667% (0.25 → 1.92, means: mostly zeros), not past the always-valid threshold so far (always-valid p=0.036)"],
        ),
        (
            {"name": "errors", "baseline": [0] * 12, "current": [0, 0, 0, 0, 0, 3, 2, 4, 5, 1, 2, 3]},
            ["errors up from zero (0 → 1.67, means: mostly zeros), not past the always-valid threshold so far",
             "mostly-zero series need stronger evidence"],
        ),
        (
            {"name": "rps", "unit": "req/s", "baseline": BASE, "current": times(SAME, 0.5), "regression": "decrease", "step": 30},
            ["rps −50% (100 req/s → 50.2 req/s), the evidence passed the always-valid threshold after 4 minutes"],
        ),
        ({"name": "cpu", "baseline": BASE, "current": SAME, "step": 15}, ["cpu +0% (100 → 100), a rise of 20% or more ruled out after 2 minutes"]),
        ({"name": "cpu", "baseline": BASE, "current": SAME, "regression": "decrease"}, ["a fall of 20% or more ruled out after 8 points"]),
        ({"name": "cpu", "baseline": BASE, "current": SAME, "regression": "any", "step": 90}, ["a change of 20% or more ruled out after 12 minutes"]),
        ({"name": "cpu", "baseline": BASE, "current": times(SAME, 1.1)}, ["cpu +11%", "a rise of 20% or more ruled out"]),
        (  # significant but small, and too close to 20 % to rule that out yet
            {"name": "cpu", "baseline": BASE * 3, "current": times(SAME, 1.18)},
            ["cpu +18% (100 → 118), past the always-valid threshold but below the 1.2× ailing ratio"],
        ),
        ({"name": "hits", "baseline": [3] * 12, "current": [3] * 12, "step": 3600}, ["hits unchanged (3 → 3), a rise of 20% or more ruled out after 8 hours"]),
        ({"name": "cpu", "baseline": times(BASE, 0.001), "current": times(SAME, 1234.5)}, ["cpu ×1.24e+06 (0.1 → 124,067)"]),
        (  # a level that moved during the baseline: compared with the last one
            {"name": "rps", "baseline": BASE + times(BASE, 2), "current": times(SAME, 2)},
            ["rps +0% (200 → 201) against the baseline's last 12 points (its level moved), a rise of 20% or more ruled out"],
        ),
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
    burst = [0, 0, 0, 20, 40, 90, 80, 60, 30, 50, 70, 0]
    quiet = [0] * 12
    assert metric(quiet, burst, history=[quiet] * 4).health == "unhealthy"
    assert metric(quiet, burst, history=[quiet, burst, quiet, [0, 90, 95, 99, 80, 70, 40, 60, 0, 0, 0, 0]]).health == "healthy"


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
    v = judge([MetricInput("errors", [0] * 24, [0, 3, 2, 4, 5, 1, 2, 3, 0, 2, 6, 1]), HEALTHY, NO_DATA])
    d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert set(d) == {"health", "score", "final", "reason", "metrics"}
    assert d["final"] is False  # a metric without data can still get some
    assert [m["name"] for m in d["metrics"]] == ["errors", "ok", "empty"]
    errors, ok, empty = d["metrics"]
    assert errors["ratio"] == "Infinity" and float(errors["ratio"]) == math.inf
    assert {"name", "health", "ratio", "reason", "p_value", "baseline_center", "current_center", "final", "decided_at",
            "points", "evidence", "threshold", "baseline_points"} <= set(ok)
    assert (ok["final"], ok["decided_at"], errors["final"], errors["decided_at"]) == (True, 8, True, 8)
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
        assert (many.final[i], many.decided_at[i]) == (v.final, v.decided_at or 0)
    assert len(set(many.health.tolist())) >= 2 and 0 < many.final.sum() < rows


def test_it_says_no_data_in_judge_many_for_short_rows():
    many = judge_many(np.ones((3, 5)), np.ones((3, 5)))
    assert [HEALTHS[h] for h in many.health] == ["no_data"] * 3
    assert np.isnan(many.ratio).all() and np.isnan(many.p_value).all()
    nan_rows = np.array([BASE, [NAN] * 6 + BASE[:6]], float)
    many = judge_many(nan_rows, np.array([times(SAME, 2)] * 2))
    assert [HEALTHS[h] for h in many.health] == ["unhealthy", "no_data"]


# ------------------------------------------------------------------ the sequential procedure

QUIET = [100, 104, 98, 101, 97, 103, 99, 102, 100, 96, 105, 100] * 5  # an hour of 1-minute points


def shifted(k, start, n=30):
    """n points around 100, multiplied by k from point ``start`` on."""
    cur = (SAME * 3)[:n]
    return [v * (k if i >= start else 1) for i, v in enumerate(cur)]


@pytest.mark.parametrize(
    "current, health, final, decided_at, points",
    [
        (shifted(1.0, 0), "healthy", True, 8, 8),  # nothing moved: a rise of 20 % is ruled out at the first look
        (shifted(2.0, 0), "unhealthy", True, 8, 8),  # doubled from the deploy on: unhealthy at the first look
        (shifted(2.0, 0)[:7], "no_data", False, None, 7),  # the first look is at 8 points
        (shifted(1.3, 0), "ailing", False, 8, 30),  # ailing is not final: read to the end, it could still worsen
        (shifted(2.0, 0, 10) + SAME * 2, "unhealthy", True, 8, 8),  # a verdict reached stands when the points recover
        # a regression that starts late: the first points already ruled one out, and that is final
        (shifted(2.0, 12), "healthy", True, 8, 8),
        # ... unless they could not: noisy points at first, then the rise
        ([100, 140, 70, 130, 60, 120, 90, 80] + [200] * 12, "unhealthy", True, 16, 16),
    ],
)
def test_it_decides_sequentially(current, health, final, decided_at, points):
    v = metric(QUIET, current)
    assert (v.health, v.final, v.decided_at, v.points) == (health, final, decided_at, points), v.reason


def test_a_stateless_call_is_the_last_of_the_lifecycle_looks():
    """Judging the current as it grows, one point at a time, ends where one call on all of it does."""
    current = [100, 140, 70, 130, 60, 120, 90, 80] + [200] * 12
    looks = [metric(QUIET, current[:n]) for n in range(8, len(current) + 1)]
    assert [v.health for v in looks] == ["healthy"] * 7 + ["ailing"] + ["unhealthy"] * 5
    assert [v.decided_at for v in looks[7:]] == [15] + [16] * 5
    assert all(v.final for v in looks[8:]) and not any(v.final for v in looks[:8])
    whole = metric(QUIET, current)
    assert (whole.health, whole.decided_at, whole.reason) == ("unhealthy", 16, looks[-1].reason)


@pytest.mark.parametrize("m, alpha, low, high", [(12, 0.01, 2.85, 2.95), (60, 0.01, 3.1, 3.2), (60, 0.05, 2.45, 2.6), (36, 0.002, 3.5, 3.8)])
def test_the_threshold_is_wider_than_one_look_and_tighter_than_a_normal_mixture(m, alpha, low, high):
    c = float(sequential.threshold(np.array([m]), np.array([1e9]), alpha)[0])  # known variance: the normal threshold
    assert low < c < high
    assert c > stats.norm.isf(alpha)  # a single look would need less
    # and the always-valid p-value at that evidence is alpha
    assert float(sequential.p_value(np.array([c]), np.array([m]), np.array([1e9]))[0]) == pytest.approx(alpha, rel=1e-6)
    # an estimated variance (few degrees of freedom) needs more
    assert float(sequential.threshold(np.array([m]), np.array([m + 6]), alpha)[0]) > c


def test_the_ever_flagged_rate_stays_under_the_bound_across_twelve_looks_where_looking_each_time_does_not():
    """Synthetic null data: baseline and current from the same distribution, looked at 12 times
    (after 8, 9, ..., 19 points). Today's procedure (a one-sided Mann–Whitney test at 5 % at
    each look, acting on the first significant answer) is flagged far more often than its 5 %;
    the sequential judge stays under its 1 %."""
    rng = np.random.default_rng(13)
    rows, looks = 4000, range(8, 20)
    b = rng.normal(100, 5, (rows, 12))
    c = rng.normal(100, 5, (rows, max(looks)))
    # any significant rise counts (ratios of 1): only the evidence is tested
    many = judge_many(b, c, ailing_ratio=1.0, unhealthy_ratio=1.0)
    sequential_rate = float(np.mean(many.health != 0))
    per_look = np.array([stats.mannwhitneyu(c[:, :n], b, alternative="greater", axis=1).pvalue < 0.05 for n in looks])
    today_rate = float(np.mean(per_look.any(axis=0)))
    assert sequential_rate <= ALPHA
    assert today_rate > 2 * 0.05 and float(np.mean(per_look[0])) == pytest.approx(0.05, abs=0.012)


@pytest.mark.parametrize(
    "baseline, start",
    [
        (QUIET, 0),  # one level
        (QUIET[:40] + times(QUIET[:20], 2), 40),  # the level doubled 20 points before the deploy
        (QUIET[:54] + times(QUIET[:6], 2), 53),  # ... or 6 points before (the split is the rank test's best: one point early)
        (QUIET[:24] + times(QUIET[:18], 3) + times(QUIET[:18], 1.5), 42),  # up, then down to a third level: the last one
        (QUIET[:24] + times(QUIET[:18], 3) + QUIET[:18], 0),  # up and back: the typical value is the one it ended at
        (QUIET[:30] + [900, 950, 980, 940, 910] + QUIET[:25], 0),  # a burst that came and went is not a level
        (times(BASE, 0.5) + BASE, 12),  # a 12 + 12 split, as in a 24-point baseline
    ],
)
def test_it_compares_with_the_level_the_baseline_ended_at(baseline, start):
    assert int(level_start(np.array([baseline], float))[0]) == start
    assert metric(baseline, times(SAME * 2, baseline[-1] / 100)).baseline_points == len(baseline) - start


def test_a_move_within_the_noise_floor_is_not_a_new_level():
    # A flat series stored with float noise (80 − 1.5e-4, then 80 − 3e-5): the rank test separates the
    # two parts perfectly and their neighbours do not differ, but a move of 0.0002 % is not a new level.
    # Against the whole 12-point baseline a current at 160 for 7 points, then 64, is found at the first look.
    baseline = [79.999846] * 7 + [79.999969] * 5
    assert int(level_start(np.array([baseline]))[0]) == 7  # without a floor the split is taken
    assert int(level_start(np.array([baseline]), 0.05)[0]) == 0
    v = metric(baseline, [160.0] * 7 + [64.0] * 5, critical=True)
    assert (v.health, v.baseline_points, v.decided_at) == ("unhealthy", 12, 8)
