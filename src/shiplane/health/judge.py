"""Deploy-health judge: pure statistics on plain arrays (no I/O, no clock).

The judge reads the current series the way the lifecycle receives it, one point after
another, and decides **sequentially**: the first time the evidence is strong enough, a
regression is ``ailing`` or ``unhealthy``; as soon as a regression of ``ailing_ratio``
or more is ruled out, ``healthy`` is **final**. Its threshold is *always valid*: the
chance that an unchanged metric is ever flagged, however often and however long it is
looked at, is at most ``ALPHA`` (1 %) when its points are independent (``sequential``).
A stateless call is judged the same way, its ``current`` read in order.

* **Points.** NaN and ±inf are dropped. Fewer than ``MIN_POINTS`` (8) in the baseline
  or the current is ``no_data`` — never a pass. History windows with fewer are ignored.
  The first look is at 8 points of the current; every later point is a look (beyond
  256 points every 4th, then every 16th and 64th, and always the last).
* **Reference.** The level the baseline ended at: when its last part sits at a clearly
  different level (a rank test on the split, Bonferroni-corrected), only that part
  counts (``reference``). Noise: the robust spread around each part's level, at least
  a quarter of the move to ``ailing_ratio``.
* **Evidence.** Each point becomes a score, its distance from the reference level in
  noise units clipped at ±3, in the bad direction. The evidence after ``n`` points is
  the two-sample t statistic of the mean scores (pooled variance); it must reach the
  always-valid threshold (about 2.9–3.2; ``sequential``). For ``any`` each direction
  gets half the level; mostly-zero series (their non-zero points come in bursts) a fifth.
* **Size.** ``ratio`` = current centre / reference centre (inverted for ``decrease``):
  medians, or means when a median is 0 (mostly-zero series: error counts). An all-zero
  baseline followed by a rise is an infinite ratio. The size graded is the smaller of
  that and the Hodges–Lehmann ratio, so one odd median cannot make a verdict.
* **Grading.** Evidence and size ≥ ``unhealthy_ratio`` → ``unhealthy`` (final); ≥
  ``ailing_ratio`` → ``ailing`` (may still become unhealthy). A verdict reached stands.
* **Ruled out.** The same comparison after moving the current down by ``ailing_ratio``:
  when that is below the reference beyond the threshold at 5 %, a regression of
  ``ailing_ratio`` or more is ruled out and ``healthy`` is final.
* **History** (the same window on earlier days), optional. Each look also compares the
  first ``n`` points with the first ``n`` points of every window: a flag needs both
  (a daily ramp, a level that moved before the deploy, is not a regression), and
  ``healthy`` is final when both rule a regression out. When the current is clearly
  *below* the baseline (it was the daily peak) yet well above every window, the history
  alone decides. For mostly-zero series the current must also beat the busiest window.

Deploy: a critical metric unhealthy → unhealthy; ≥ 50 % no_data → no_data; else score =
100 × mean(healthy 1, ailing ½, unhealthy 0) over judged metrics, ≥ 90 healthy, ≥ 70
ailing, else unhealthy. Final when a critical metric is unhealthy or every metric is final.

The parts: ``sequential`` (the threshold), ``reference`` (level and noise), ``evidence``
(scores and the comparisons), ``effect`` (ratios, Hodges–Lehmann), ``grading`` (the
look-by-look decision, vectorised) and ``reasons`` (the sentences). This module holds the
inputs and verdicts and the public functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from shiplane.health.grading import HEALTHS, HEALTHY, NO_DATA, UNHEALTHY, Scan, pick_direction, scan
from shiplane.health.reasons import number, reason
from shiplane.health.sequential import ALPHA, FIRST_LOOK

MIN_POINTS = FIRST_LOOK  # per side, after dropping NaN; SPEC allows at most 8
REGRESSIONS = ("increase", "decrease", "any")
__all__ = ["ALPHA", "HEALTHS", "MIN_POINTS", "REGRESSIONS", "MetricInput", "MetricVerdict", "Verdict", "judge",
           "judge_many", "judge_metric"]


@dataclass(frozen=True)
class MetricInput:
    name: str
    baseline: Sequence[float]
    current: Sequence[float]  # in time order: the judge reads it point by point
    regression: str = "increase"  # which direction is bad: increase | decrease | any
    critical: bool = False
    ailing_ratio: float = 1.2
    unhealthy_ratio: float = 1.5
    history: Sequence[Sequence[float]] = ()  # the same window on earlier days, each aligned with the current's start
    unit: str = ""
    step: float | None = None  # seconds between points, to say "after 7 minutes" instead of "after 7 points"


@dataclass(frozen=True)
class MetricVerdict:
    name: str
    health: str
    ratio: float | None  # current centre / baseline centre in the bad direction; inf from an all-zero baseline
    p_value: float | None  # always valid: however often the metric was looked at
    reason: str
    baseline_center: float | None
    current_center: float | None
    effect: float | None = None  # the size that was graded (≤ ratio unless history decided)
    history_center: float | None = None
    history_windows: int = 0
    final: bool = False  # unhealthy, or healthy with a regression of ailing_ratio ruled out
    decided_at: int | None = None  # points of the current read when the verdict was reached
    points: int = 0  # points of the current read
    evidence: float | None = None  # the t statistic against the baseline
    threshold: float | None = None  # the always-valid threshold it was compared with
    baseline_points: int = 0  # points of the baseline compared with (its last level)

    def to_dict(self) -> dict[str, Any]:
        # JSON has no infinity: an infinite ratio is the string "Infinity" (float("Infinity") reads it back)
        return {
            "name": self.name,
            "health": self.health,
            "final": self.final,
            "decided_at": self.decided_at,
            "points": self.points,
            "ratio": _json_float(self.ratio),
            "effect": _json_float(self.effect),
            "p_value": _json_float(self.p_value),
            "evidence": _json_float(self.evidence),
            "threshold": _json_float(self.threshold),
            "reason": self.reason,
            "baseline_center": _json_float(self.baseline_center),
            "current_center": _json_float(self.current_center),
            "baseline_points": self.baseline_points,
            "history_center": _json_float(self.history_center),
            "history_windows": self.history_windows,
        }


@dataclass(frozen=True)
class Verdict:
    health: str
    score: float | None
    metrics: tuple[MetricVerdict, ...]
    reason: str
    final: bool = False  # a critical metric is unhealthy, or every metric's verdict is final

    def to_dict(self) -> dict[str, Any]:
        return {
            "health": self.health,
            "score": self.score,
            "final": self.final,
            "reason": self.reason,
            "metrics": [m.to_dict() for m in self.metrics],
        }


class ManyVerdicts(NamedTuple):
    health: np.ndarray  # int8 codes, index into HEALTHS
    ratio: np.ndarray
    p_value: np.ndarray
    final: np.ndarray
    decided_at: np.ndarray  # 0: not decided


def _json_float(x: float | None) -> float | str | None:
    if x is None or math.isnan(x):
        return None
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float(x)


def _check(regression: str, ailing: float, unhealthy: float) -> None:
    if regression not in REGRESSIONS:
        raise ValueError(f"regression must be one of {', '.join(REGRESSIONS)}, not {regression!r}")
    if not (1 <= ailing <= unhealthy):
        raise ValueError(f"need 1 ≤ ailing_ratio ≤ unhealthy_ratio (got {ailing} and {unhealthy})")


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):  # None among the numbers: a missing point
        a = np.array([np.nan if v is None else v for v in values], dtype=float)
    return a[np.isfinite(a)]


def _signs(regression: str) -> tuple[int, ...]:
    return (1, -1) if regression == "any" else ((1,) if regression == "increase" else (-1,))


def _scan_rows(b, c, h, regression, ailing, unhealthy) -> tuple[tuple[Scan, ...], np.ndarray]:
    signs = _signs(regression)
    dirs = tuple(scan(b, c, h, s, ailing, unhealthy, split=len(signs)) for s in signs)
    return dirs, pick_direction(dirs)


def _final(dirs: tuple[Scan, ...], pick: np.ndarray) -> np.ndarray:
    """Unhealthy in the reported direction, or healthy and final in every direction."""
    chosen = np.choose(pick, [d.final & (d.health == UNHEALTHY) for d in dirs])
    return chosen | np.logical_and.reduce([d.final & (d.health == HEALTHY) for d in dirs])


# ---------------------------------------------------------------- public API


def _no_data(m: MetricInput, b: np.ndarray, c: np.ndarray) -> MetricVerdict:
    if len(b) < MIN_POINTS and len(c) < MIN_POINTS:
        why = f"baseline has {len(b)} point{'s' * (len(b) != 1)} and current {len(c)} (need {MIN_POINTS} each)"
    elif len(b) < MIN_POINTS:
        why = f"baseline has {len(b)} point{'s' * (len(b) != 1)} (need {MIN_POINTS})"
    else:
        why = f"current has {len(c)} point{'s' * (len(c) != 1)} (need {MIN_POINTS})"
    return MetricVerdict(m.name, "no_data", None, None, f"no data: {why}", None, None, points=len(c))


def _windows(history: Sequence[Sequence[float]]) -> np.ndarray | None:
    """History windows of at least MIN_POINTS points, NaN-padded into one array (1 × K × L)."""
    wins = [w for w in map(_clean, history) if len(w) >= MIN_POINTS]
    if not wins:
        return None
    out = np.full((1, len(wins), max(len(w) for w in wins)), np.nan)
    for k, w in enumerate(wins):
        out[0, k, : len(w)] = w
    return out


def judge_metric(m: MetricInput) -> MetricVerdict:
    """One metric's verdict with a human reason; see the module docstring for the method."""
    _check(m.regression, m.ailing_ratio, m.unhealthy_ratio)
    b, c = _clean(m.baseline), _clean(m.current)
    if len(b) < MIN_POINTS or len(c) < MIN_POINTS:
        return _no_data(m, b, c)
    h = _windows(m.history)
    dirs, pick = _scan_rows(b[None, :], c[None, :], h, m.regression, m.ailing_ratio, m.unhealthy_ratio)
    d = dirs[int(pick[0])]
    decided = int(d.decided_at[0])
    final = bool(_final(dirs, pick)[0])
    return MetricVerdict(
        name=m.name,
        health=HEALTHS[int(d.health[0])],
        ratio=float(d.ratio[0]),
        p_value=float(d.p[0]),
        reason=reason(m, d, final, 0 if h is None else h.shape[1], len(b)),
        baseline_center=float(d.ref_center[0]),
        current_center=float(d.cur_center[0]),
        effect=float(d.effect[0]),
        history_center=None if h is None else float(d.hist_center[0]),
        history_windows=0 if h is None else h.shape[1],
        final=final,
        decided_at=decided or None,
        points=int(d.points[0]),
        evidence=float(d.z[0]),
        threshold=float(d.threshold[0]),
        baseline_points=len(b) - int(d.start[0]),
    )


def judge(metrics: Sequence[MetricInput]) -> Verdict:
    """A deploy's health from its metrics' verdicts (SPEC §6)."""
    verdicts = tuple(judge_metric(m) for m in metrics)
    judged = [v for v in verdicts if v.health != "no_data"]
    points = {"healthy": 2, "ailing": 1, "unhealthy": 0}
    total = sum(points[v.health] for v in judged)
    # integer arithmetic: 9 healthy and 1 ailing is exactly 95, never 94.99999
    score = round(50 * total / len(judged), 1) if judged else None
    counts = ", ".join(f"{n} {h}" for h in HEALTHS if (n := sum(v.health == h for v in verdicts)))
    critical = [v for m, v in zip(metrics, verdicts, strict=True) if m.critical and v.health == "unhealthy"]
    if critical:
        names = ", ".join(v.name for v in critical)
        return Verdict("unhealthy", score, verdicts, f"critical metric unhealthy: {names} — {critical[0].reason}",
                       final=any(v.final for v in critical))
    if not verdicts:
        return Verdict("no_data", None, verdicts, "no metrics to judge")
    missing = len(verdicts) - len(judged)
    if 2 * missing >= len(verdicts):
        return Verdict("no_data", None, verdicts, f"no data for {missing} of {len(verdicts)} metrics ({counts})")
    if 10 * total >= 18 * len(judged):  # score ≥ 90
        health = "healthy"
    elif 10 * total >= 14 * len(judged):  # score ≥ 70
        health = "ailing"
    else:
        health = "unhealthy"
    worst = [v for v in judged if v.health != "healthy"]
    detail = "" if not worst else " — " + "; ".join(v.reason for v in worst[:3])
    return Verdict(health, score, verdicts, f"score {number(score or 0)} ({counts}){detail}",
                   final=all(v.final for v in verdicts))


def judge_many(
    baselines: np.ndarray,
    currents: np.ndarray,
    regression: str = "increase",
    ailing_ratio: float = 1.2,
    unhealthy_ratio: float = 1.5,
    history: np.ndarray | None = None,
) -> ManyVerdicts:
    """Vectorised judge_metric for many pairs: baselines (rows, m), currents (rows, n),
    optional history (rows, windows, points). Same verdicts as judge_metric row by row;
    rows with NaN/inf are judged one at a time. Health codes index HEALTHS."""
    _check(regression, ailing_ratio, unhealthy_ratio)
    b = np.atleast_2d(np.asarray(baselines, float))
    c = np.atleast_2d(np.asarray(currents, float))
    rows = b.shape[0]
    if c.shape[0] != rows or (history is not None and len(history) != rows):
        raise ValueError("baselines, currents and history need the same number of rows")
    hist3 = None if history is None else np.asarray(history, float).reshape(rows, -1, np.shape(history)[-1])
    out = ManyVerdicts(np.full(rows, NO_DATA, np.int8), np.full(rows, np.nan), np.full(rows, np.nan),
                       np.zeros(rows, bool), np.zeros(rows, int))
    if rows == 0:
        return out
    finite = np.isfinite(b).all(1) & np.isfinite(c).all(1)
    if hist3 is not None:
        finite &= np.isfinite(hist3).all(axis=(1, 2))
    enough = b.shape[1] >= MIN_POINTS and c.shape[1] >= MIN_POINTS
    fast = np.flatnonzero(finite) if enough else np.array([], int)
    if fast.size:
        h = None
        if hist3 is not None and hist3.shape[2] >= MIN_POINTS and hist3.shape[1] > 0:
            h = hist3[fast]
        dirs, pick = _scan_rows(b[fast], c[fast], h, regression, ailing_ratio, unhealthy_ratio)
        out.final[fast] = _final(dirs, pick)
        for i, d in enumerate(dirs):
            sel = pick == i
            out.health[fast[sel]] = d.health[sel]
            out.ratio[fast[sel]] = d.ratio[sel]
            out.p_value[fast[sel]] = d.p[sel]
            out.decided_at[fast[sel]] = d.decided_at[sel]
    for i in np.flatnonzero(~finite) if enough else range(rows):
        v = judge_metric(
            MetricInput(
                "", b[i], c[i], regression, ailing_ratio=ailing_ratio, unhealthy_ratio=unhealthy_ratio,
                history=() if hist3 is None else tuple(hist3[i]),
            )
        )
        out.health[i] = HEALTHS.index(v.health)
        out.ratio[i] = np.nan if v.ratio is None else v.ratio
        out.p_value[i] = np.nan if v.p_value is None else v.p_value
        out.final[i] = v.final
        out.decided_at[i] = v.decided_at or 0
    return out
