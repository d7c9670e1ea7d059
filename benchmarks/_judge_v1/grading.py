"""Grading rows of a metric: significance and size → a health code per bad direction.

One comparison (``_compare``) takes the rank test's p-value and the effect
sizes; ``_direction`` combines the comparison with the hour before and, when
given, with the history (same hour on earlier days) into healthy, ailing or
unhealthy. ``judge_rows`` does that for every bad direction and
``pick_direction`` chooses which one to report. The rules in words: the module
docstring of ``shiplane.health.judge``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .effect import bad_ratio, hodges_lehmann
from .ranktest import mann_whitney

ALPHA = 0.05  # one-sided level without history
ALPHA_GUARD = 0.10  # vs the hour before when the history must agree as well
ALPHA_HISTORY = 0.05  # vs the pooled history
ALPHA_SPARSE = 0.01  # cap for comparisons of mostly-zero series
FALL_RATIO = 0.9  # "clearly below the hour before" for the history-only path
MIN_SEASONAL_WINDOWS = 2

HEALTHS = ("healthy", "ailing", "unhealthy", "no_data")
HEALTHY, AILING, UNHEALTHY, NO_DATA = range(4)


class _Side(NamedTuple):
    p: np.ndarray
    ratio: np.ndarray  # centre ratio in the bad direction
    effect: np.ndarray  # graded size
    ref_center: np.ndarray
    cur_center: np.ndarray
    sparse: np.ndarray


def _level(alpha: float, sparse: np.ndarray, split: int) -> np.ndarray:
    return np.where(sparse, min(alpha, ALPHA_SPARSE), alpha) / split


def _compare(ref, cur, sign: int, p: np.ndarray, alpha: float, split: int, ailing: float) -> _Side:
    med_r, med_c = np.median(ref, axis=1), np.median(cur, axis=1)
    # mostly-zero counts (errors): a median of 0 says nothing, the mean is the event rate
    sparse = ((med_r == 0) | (med_c == 0)) & (ref.min(axis=1) >= 0) & (cur.min(axis=1) >= 0)
    rc = np.where(sparse, ref.mean(axis=1), med_r)
    cc = np.where(sparse, cur.mean(axis=1), med_c)
    ratio = bad_ratio(rc, cc, sign)
    effect = ratio.copy()
    need = ~sparse & (p < _level(alpha, sparse, split)) & (ratio >= ailing)  # where the HL shift could veto
    if need.any():
        hl = hodges_lehmann(ref[need], cur[need])
        effect[need] = np.minimum(ratio[need], bad_ratio(med_r[need], med_r[need] + hl, sign))
    return _Side(p, ratio, effect, rc, cc, sparse)


class Direction(NamedTuple):
    health: np.ndarray
    effect: np.ndarray
    p: np.ndarray
    seasonal: np.ndarray  # the history alone decided
    sig_base: np.ndarray
    sig_hist: np.ndarray
    base: _Side
    hist: _Side | None


def _direction(b, c, hist, win_med, win_mean, tails, sign, split, ailing, unhealthy) -> Direction:
    """Verdict codes for one bad direction; `split` halves the levels for two-sided tests."""
    side = 0 if sign > 0 else 1
    rows = b.shape[0]
    no = np.zeros(rows, bool)
    if hist is None:
        base = _compare(b, c, sign, tails[0][side], ALPHA, split, ailing)
        sig_b = base.p < _level(ALPHA, base.sparse, split)
        flagged = sig_b & (base.effect >= ailing)
        effect, p, seasonal, hs, sig_h = base.effect, base.p, no, None, no
    else:
        base = _compare(b, c, sign, tails[0][side], ALPHA_GUARD, split, ailing)
        hs = _compare(hist, c, sign, tails[1][side], ALPHA_HISTORY, split, ailing)
        # bursts at this hour on earlier days are normal: a mostly-zero series must beat the busiest window
        busiest = win_mean.max(axis=1) if sign > 0 else win_mean.min(axis=1)
        hs = hs._replace(effect=np.where(hs.sparse, np.minimum(hs.effect, bad_ratio(busiest, hs.cur_center, sign)), hs.effect))
        sig_b = base.p < _level(ALPHA_GUARD, base.sparse, split)
        sig_h = hs.p < _level(ALPHA_HISTORY, hs.sparse, split)
        ok_h = sig_h & (hs.effect >= ailing)
        both = sig_b & (base.effect >= ailing) & ok_h
        vs_windows = bad_ratio(win_med, base.cur_center[:, None], sign).min(axis=1)
        # the hour before was a peak (the current fell clearly below it), yet the current is well above
        # this hour on every earlier day: the history alone decides
        seasonal = (
            ~both
            & ok_h
            & (win_med.shape[1] >= MIN_SEASONAL_WINDOWS)
            & (base.ratio < FALL_RATIO)
            & ~base.sparse
            & (win_med > 0).all(axis=1)
            & (vs_windows >= ailing)
        )
        flagged = both | seasonal
        effect = np.where(seasonal, np.minimum(hs.effect, vs_windows), np.minimum(base.effect, hs.effect))
        p = np.where(seasonal, hs.p, np.maximum(base.p, hs.p))
    health = np.where(flagged, np.where(effect >= unhealthy, UNHEALTHY, AILING), HEALTHY)
    return Direction(health, effect, np.minimum(p * split, 1.0), seasonal, sig_b, sig_h, base, hs)


def judge_rows(b, c, hist, win_med, win_mean, regression, ailing, unhealthy) -> tuple[Direction, ...]:
    """Judge rows of equal length (no NaN, enough points): one result per bad direction."""
    tails = (mann_whitney(b, c), None if hist is None else mann_whitney(hist, c))
    signs = (1, -1) if regression == "any" else ((1,) if regression == "increase" else (-1,))
    split = len(signs)
    return tuple(_direction(b, c, hist, win_med, win_mean, tails, s, split, ailing, unhealthy) for s in signs)


def pick_direction(dirs: tuple[Direction, ...]) -> np.ndarray:
    """Per row, which direction to report: the worse verdict; between equals, the larger move."""
    if len(dirs) == 1:
        return np.zeros(len(dirs[0].health), int)
    up, down = dirs
    return np.where((down.health > up.health) | ((down.health == up.health) & (down.base.ratio > up.base.ratio)), 1, 0)
