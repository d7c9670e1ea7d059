"""Grading metrics point by point: the sequential decision (pure, vectorised; no I/O).

``scan`` judges many rows at once in one bad direction. It reads each current series
one more point at a time (``evidence.looks``) and at each look asks:

* **flag**: is the evidence against the baseline past the always-valid threshold
  (``sequential``), and is the size — the ratio of centres (medians; means for
  mostly-zero series), vetoed down by the Hodges–Lehmann shift — at least
  ``ailing`` (→ ailing) or ``unhealthy`` (→ unhealthy)?
* **ruled out**: is a regression of ``ailing`` or more now excluded?

A verdict, once reached, stands: ``ailing`` can still become ``unhealthy``, which is
final; ``healthy`` becomes final at the first look that rules a regression out. With
history a flag needs the history's evidence too, and its size against the history;
when the current fell clearly below the baseline (it was a peak) yet stands well above
every earlier window, the history alone decides. Evidence and thresholds are computed
for every look at once; sizes only where a flag is possible. The rules in words:
``shiplane.health.judge``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from shiplane.health import sequential
from shiplane.health.effect import bad_ratio, hodges_lehmann
from shiplane.health.evidence import Frame, against_baseline, against_history, burst_length, frame, looks, median

HEALTHS = ("healthy", "ailing", "unhealthy", "no_data")
HEALTHY, AILING, UNHEALTHY, NO_DATA = range(4)
FALL_RATIO = 0.9  # "clearly below the baseline" for the history-only path
MIN_SEASONAL_WINDOWS = 2


class Scan(NamedTuple):
    """Per row: the verdict and what it rests on, at the look that decided it (else the last one read)."""

    health: np.ndarray  # int8 codes, index into HEALTHS
    final: np.ndarray  # unhealthy, or healthy with a regression ruled out
    decided_at: np.ndarray  # points read when the verdict was reached (0: not decided)
    points: np.ndarray  # points read
    z: np.ndarray  # evidence against the baseline
    threshold: np.ndarray
    p: np.ndarray  # always-valid p-value against the baseline
    ratio: np.ndarray  # current centre / reference centre in the bad direction
    effect: np.ndarray  # the size that was graded
    ref_center: np.ndarray
    cur_center: np.ndarray
    sparse: np.ndarray
    start: np.ndarray  # where the reference begins in the baseline
    seasonal: np.ndarray  # the history alone decided
    hist_center: np.ndarray  # NaN without history
    hist_significant: np.ndarray


def _centres(c, rows, n, f: Frame, sparse):
    """Reference and current centres after n points: medians, or means for mostly-zero series."""
    cur = c[rows, :n]
    return (np.where(sparse, f.mean[rows], f.level[rows]),
            np.where(sparse, cur.mean(axis=1), np.median(cur, axis=1)))


def _hl_effect(c, rows, n, f: Frame, sign: int, ratio: np.ndarray) -> np.ndarray:
    """min(ratio, the ratio the Hodges–Lehmann shift gives), per distinct reference start."""
    out = ratio.copy()
    for s0 in np.unique(f.start[rows]):
        sel = f.start[rows] == s0
        r = rows[sel]
        shift = hodges_lehmann(f.ref[r, s0:], c[r, :n])
        out[sel] = np.minimum(ratio[sel], bad_ratio(f.level[r], f.level[r] + shift, sign))
    return out


def _history_size(h, c, rows, n, sign):
    """Against the pooled history prefix: centre, ratio, effect, mostly-zero, per-window medians, current median."""
    hp = h[rows, :, :n]
    flat = hp.reshape(len(rows), -1)
    cur = c[rows, :n]
    pooled_med = median(flat, axis=1)
    win_med = median(hp, axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows shorter than n
        pooled_mean = np.nanmean(flat, axis=1)
        win_mean = np.nanmean(hp, axis=2)
        nonneg = (np.nanmin(flat, axis=1) >= 0) & (cur.min(axis=1) >= 0)
        med = np.median(cur, axis=1)
        sparse = ((pooled_med == 0) | (med == 0)) & nonneg
        centre = np.where(sparse, pooled_mean, pooled_med)
        cur_c = np.where(sparse, cur.mean(axis=1), med)
        ratio = bad_ratio(centre, cur_c, sign)
        # bursts at this hour on earlier days are normal: a mostly-zero series must beat the busiest window
        busiest = np.nanmax(win_mean, axis=1) if sign > 0 else np.nanmin(win_mean, axis=1)
        effect = np.where(sparse, np.minimum(ratio, bad_ratio(busiest, cur_c, sign)), ratio)
        vs_windows = np.nanmin(bad_ratio(win_med, med[:, None], sign), axis=1)
    seasonal_ok = (
        (np.sum(np.isfinite(win_med), axis=1) >= MIN_SEASONAL_WINDOWS) & ~sparse
        & np.all(~np.isfinite(win_med) | (win_med > 0), axis=1)
    )
    return centre, ratio, effect, seasonal_ok, vs_windows


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True per row; the row length when there is none."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), mask.shape[1])


def scan(
    b: np.ndarray,
    c: np.ndarray,
    h: np.ndarray | None,
    sign: int,
    ailing: float,
    unhealthy: float,
    split: int = 1,
) -> Scan:
    """Judge rows in one bad direction. ``b`` rows × m, ``c`` rows × N (finite, N ≥ FIRST_LOOK),
    ``h`` rows × K × L or None (NaN past a window's end); ``split`` halves the levels for ``any``."""
    rows_all = b.shape[0]
    n_looks = looks(c.shape[1])
    last = len(n_looks) - 1
    f = frame(b, ailing)
    # the ailing ratio in noise units: a regression of exactly that size, moved out of the current
    shift = (ailing - 1) * np.where(f.level == 0, f.mean, np.abs(f.level)) / f.sigma
    base = against_baseline(f, c, n_looks, sign, shift)

    # mostly-zero after n points: nothing negative, and the reference's median or the current's is 0
    ref_nonneg = np.nanmin(f.ref, axis=1) >= 0
    zeros = np.cumsum(c == 0, axis=1)[:, n_looks - 1]
    nonneg = np.minimum.accumulate(c >= 0, axis=1)[:, n_looks - 1]
    sparse = ref_nonneg[:, None] & nonneg & ((f.level == 0)[:, None] | (zeros >= n_looks // 2 + 1))
    # nothing moved at all (identical constant series): no regression, whatever the share of zeros
    still = (np.nanmax(f.ref, axis=1) == f.level)[:, None] & np.minimum.accumulate(c == f.level[:, None], axis=1)[:, n_looks - 1]

    # with history a flag needs both comparisons: the history's bounds the false positives, the baseline's guards
    base_level = np.where(sparse, sequential.ALPHA_SPARSE, sequential.ALPHA if h is None else sequential.ALPHA_GUARD) / split
    thr = sequential.threshold(base.count, base.df, base_level)
    z_flag = base.z / np.where(sparse, np.sqrt(burst_length(b, h))[:, None], 1.0)
    sig = z_flag >= thr
    ruled_out = (base.z_out <= -sequential.threshold(base.count, base.df_out, sequential.ALPHA_RULED_OUT / split)) | still
    h_sig = np.zeros_like(sig)
    candidate = sig
    if h is not None:
        hist = against_history(f, h, c, n_looks, sign, ailing)
        h_count = np.maximum(hist.count, 1).astype(int)
        h_sig = hist.z >= sequential.threshold(h_count, hist.df, sequential.ALPHA / split)
        h_out = hist.z_out <= -sequential.threshold(h_count, hist.df_out, sequential.ALPHA_RULED_OUT / split)
        ruled_out &= h_out | still
        candidate = h_sig  # both comparisons, or the history alone after a peak

    health = np.zeros(rows_all, np.int8)
    decided = np.full(rows_all, -1)  # look index
    closed = np.full(rows_all, last)  # the last look read
    ratio = np.full(rows_all, np.nan)
    effect = np.full(rows_all, np.nan)
    seasonal = np.zeros(rows_all, bool)
    # rows ruled out before any look where a flag is possible: final healthy there, nothing else to do
    first_out, first_cand = _first(ruled_out), _first(candidate)
    quiet = first_out < first_cand
    decided[quiet] = closed[quiet] = first_out[quiet]
    open_ = ~quiet & (first_cand <= last)
    for j in range(int(first_cand[open_].min()) if open_.any() else last + 1, last + 1):
        rows = np.flatnonzero(open_ & candidate[:, j])
        n = int(n_looks[j])
        if rows.size:
            sp = sparse[rows, j]
            rc, cc = _centres(c, rows, n, f, sp)
            r = bad_ratio(rc, cc, sign)
            eff = r.copy()
            ok = sig[rows, j] & (r >= ailing)
            need = ok & ~sp & ((health[rows] < AILING) | (r >= unhealthy))  # where the grade could still rise
            if need.any():
                eff[need] = _hl_effect(c, rows[need], n, f, sign, r[need])
            grade = np.where(ok & (eff >= ailing), np.where(eff >= unhealthy, UNHEALTHY, AILING), HEALTHY)
            peak = np.zeros(rows.size, bool)
            if h is not None:
                _, _, he, seasonal_ok, vs_windows = _history_size(h, c, rows, n, sign)
                both = (grade > HEALTHY) & (he >= ailing)
                peak = ~both & (he >= ailing) & (r < FALL_RATIO) & ~sp & seasonal_ok & (vs_windows >= ailing)
                eff = np.where(peak, np.minimum(he, vs_windows), np.minimum(eff, he))
                grade = np.where(both | peak, np.where(eff >= unhealthy, UNHEALTHY, AILING), HEALTHY)
            up = grade > health[rows]
            u = rows[up]
            health[u], decided[u], ratio[u], effect[u], seasonal[u] = grade[up], j, r[up], eff[up], peak[up]
            done = rows[health[rows] == UNHEALTHY]
            closed[done] = j
            open_[done] = False
        out = np.flatnonzero(open_ & ruled_out[:, j] & (health == HEALTHY))
        decided[out] = closed[out] = j
        open_[out] = False

    final = (health == UNHEALTHY) | ((health == HEALTHY) & (decided >= 0))
    idx = np.arange(rows_all)
    at = np.where(health > HEALTHY, decided, closed)  # the look the figures shown come from
    ref_c, cur_c = np.empty(rows_all), np.empty(rows_all)
    hist_c = np.full(rows_all, np.nan)
    for j in np.unique(at):
        k = np.flatnonzero(at == j)
        n = int(n_looks[j])
        ref_c[k], cur_c[k] = _centres(c, k, n, f, sparse[k, j])
        if h is not None:
            hist_c[k] = _history_size(h, c, k, n, sign)[0]
    shown = ~(health > HEALTHY)
    ratio[shown] = bad_ratio(ref_c[shown], cur_c[shown], sign)
    effect[shown] = ratio[shown]
    # the always-valid p-value: from the largest evidence seen up to the last look read
    zs = np.where(np.arange(last + 1)[None, :] <= closed[:, None], base.z, -np.inf)
    jmax = np.argmax(zs, axis=1)
    p = np.minimum(sequential.p_value(zs[idx, jmax], base.count[idx, jmax], base.df[idx, jmax]) * split, 1.0)
    return Scan(health, final, np.where(decided >= 0, n_looks[np.maximum(decided, 0)], 0), n_looks[closed],
                base.z[idx, at], thr[idx, at], p, ratio, effect, ref_c, cur_c, sparse[idx, at], f.start, seasonal,
                hist_c, h_sig[idx, at])


def pick_direction(dirs: tuple[Scan, ...]) -> np.ndarray:
    """Per row, which direction to report: the worse verdict; between equals, the larger move."""
    if len(dirs) == 1:
        return np.zeros(len(dirs[0].health), int)
    up, down = dirs
    return np.where((down.health > up.health) | ((down.health == up.health) & (down.ratio > up.ratio)), 1, 0)
