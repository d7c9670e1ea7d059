"""The evidence a prefix of the current gives against a reference (pure, vectorised; no I/O).

Values become **scores**: their distance from the reference level in noise units,
clipped at ±``CLIP`` and signed so that the bad direction is positive. After ``n``
points the evidence is the two-sample t statistic of the mean scores of the current's
first ``n`` points against the reference's: against the baseline (``against_baseline``:
its last level, ``reference``), and against the same points of earlier days
(``against_history``). Each also says whether a regression of the ailing ratio is
ruled out: the same statistic after moving the current down by that much. The
thresholds are ``sequential``'s; how they make a verdict: ``grading``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from shiplane.health import sequential
from shiplane.health.reference import level_start, noise

CLIP = 3.0  # a score is at most 3 noise units: one wild point is one point
NOISE_FLOOR = 0.25  # the noise is at least a quarter of the move to the ailing ratio
DENSE = 256  # every point is a look up to here; further on every 4th, then 16th, then 64th


def median(x: np.ndarray, axis: int) -> np.ndarray:
    """The median along an axis, ignoring NaN (windows of different lengths are NaN-padded)."""
    if not np.isnan(x).any():
        return np.median(x, axis=axis)  # nanmedian goes through masked arrays: ten times slower
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice: no point there
        return np.nanmedian(x, axis=axis)


def looks(n_max: int, n0: int = sequential.FIRST_LOOK) -> np.ndarray:
    """The prefix lengths the judge reads, ending with ``n_max`` (empty below ``n0``)."""
    if n_max < n0:
        return np.array([], int)
    parts = [np.arange(n0, min(n_max, DENSE) + 1)]
    for lo, hi, step in ((DENSE, 1024, 4), (1024, 4096, 16), (4096, None, 64)):
        if n_max > lo:
            parts.append(np.arange(lo + step, (n_max if hi is None else min(n_max, hi)) + 1, step))
    n = np.concatenate(parts)
    return n if n[-1] == n_max else np.append(n, n_max)


class Frame(NamedTuple):
    """How a row's values become scores: the reference level and its noise."""

    start: np.ndarray  # where the reference level begins in the baseline
    level: np.ndarray  # its median
    mean: np.ndarray  # its mean: the centre of mostly-zero series
    sigma: np.ndarray  # noise scale, floored
    ref: np.ndarray  # the baseline, NaN before start
    count: np.ndarray  # points in the reference


def _floor(level: np.ndarray, ailing: float) -> np.ndarray:
    # A change smaller than the ailing ratio must not become significant only because the series is smooth.
    return np.maximum(NOISE_FLOOR * (ailing - 1) * np.abs(level), 1e-9 * np.maximum(np.abs(level), 1.0))


def frame(b: np.ndarray, ailing: float) -> Frame:
    start = level_start(b, NOISE_FLOOR * (ailing - 1))  # a move within the noise floor is not a new level
    level, sigma = noise(b, start)
    ref = np.where(np.arange(b.shape[1])[None, :] >= start[:, None], b, np.nan)
    return Frame(start, level, np.nanmean(ref, axis=1), np.maximum(sigma, _floor(level, ailing)), ref, b.shape[1] - start)


def _scores(x: np.ndarray, level: np.ndarray, sigma: np.ndarray, sign: int, shift: np.ndarray | float = 0.0) -> np.ndarray:
    extra = (1,) * (x.ndim - 1)
    lv, sg = level.reshape(-1, *extra), sigma.reshape(-1, *extra)
    sh = np.asarray(shift, float).reshape(-1, *extra) if np.ndim(shift) else shift
    with np.errstate(invalid="ignore"):
        return np.clip(sign * (x - lv) / sg - sh, -CLIP, CLIP)


def _evidence(s1, s2, n, ref_mean, ref_ss, ref_count, welch: bool = False):
    """The t statistic of the difference of mean scores and its degrees of freedom.

    Pooled variance where the null is "nothing changed" (both sides share one spread);
    Welch's where it is "a regression of the ailing ratio", whose points may spread
    differently from the reference's."""
    mean = s1 / n
    d = mean - ref_mean
    ss = np.maximum(s2 - s1 * mean, 0.0)
    m = np.maximum(ref_count, 1)
    if welch:
        a, b = ref_ss / np.maximum(m - 1, 1) / m, ss / np.maximum(n - 1, 1) / n
        se = np.sqrt(a + b)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(a + b > 0, (a + b) ** 2 / (a * a / np.maximum(m - 1, 1) + b * b / np.maximum(n - 1, 1)), m + n - 2)
    else:
        df = ref_count + n - 2
        se = np.sqrt((ref_ss + ss) / np.maximum(df, 1) * (1 / n + 1 / m))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 1e-12, d / se, np.where(d > 1e-12, np.inf, np.where(d < -1e-12, -np.inf, 0.0)))
    return z, df


class Compare(NamedTuple):
    z: np.ndarray  # rows × looks
    df: np.ndarray
    count: np.ndarray  # reference points at each look
    z_out: np.ndarray  # evidence that the current is *below* reference × ailing (ruled out when ≤ −threshold)
    df_out: np.ndarray


def _cumulative(y: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.cumsum(y, axis=-1)[..., n - 1], np.cumsum(y * y, axis=-1)[..., n - 1]


def against_baseline(f: Frame, c: np.ndarray, n: np.ndarray, sign: int, shift: np.ndarray) -> Compare:
    y_ref = _scores(f.ref, f.level, f.sigma, sign)
    cnt = np.sum(np.isfinite(y_ref), axis=1).astype(float)
    r_mean = np.nanmean(y_ref, axis=1)
    r_ss = np.nansum((y_ref - r_mean[:, None]) ** 2, axis=1)
    s1, s2 = _cumulative(_scores(c, f.level, f.sigma, sign), n)
    z, df = _evidence(s1, s2, n, r_mean[:, None], r_ss[:, None], cnt[:, None])
    o1, o2 = _cumulative(_scores(c, f.level, f.sigma, sign, shift), n)
    z_out, df_out = _evidence(o1, o2, n, r_mean[:, None], r_ss[:, None], cnt[:, None], welch=True)
    return Compare(z, df, np.broadcast_to(cnt[:, None], z.shape), z_out, df_out)


def against_history(f: Frame, h: np.ndarray, c: np.ndarray, n: np.ndarray, sign: int, ailing: float) -> Compare:
    """The current's first n points against the first n points of every history window, offset by offset.

    The expected path is the median of the windows at each offset (a daily ramp is in it);
    the windows' own deviations from it are the reference, the current's are compared
    with them. Noise: their robust spread, and never less than the baseline's."""
    rows, _, length = h.shape
    N = c.shape[1]
    path = median(h, axis=1)  # rows × L
    dev = h - path[:, None, :]
    sigma = 1.4826 * median(np.abs(dev).reshape(rows, -1), axis=1)
    sigma = np.maximum(np.nan_to_num(sigma), f.sigma)
    exp = np.full((rows, N), np.nan)
    exp[:, : min(N, length)] = path[:, :N]
    y_ref = _scores(dev, np.zeros(rows), sigma, sign)
    nn = np.minimum(n, length)
    ok = np.isfinite(y_ref)
    cnt = np.cumsum(ok, axis=2).sum(axis=1)[:, nn - 1].astype(float)
    t1 = np.cumsum(np.where(ok, y_ref, 0.0), axis=2).sum(axis=1)[:, nn - 1]
    t2 = np.cumsum(np.where(ok, y_ref * y_ref, 0.0), axis=2).sum(axis=1)[:, nn - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        r_mean = t1 / cnt
        r_ss = np.maximum(t2 - t1 * r_mean, 0.0)

    def compare(shift: np.ndarray | float, welch: bool) -> tuple[np.ndarray, np.ndarray]:
        y = _scores(c - exp, np.zeros(rows), sigma, sign) if np.ndim(shift) == 0 else np.clip(
            sign * (c - exp) / sigma[:, None] - shift, -CLIP, CLIP)
        fin = np.isfinite(y)
        k = np.cumsum(fin, axis=1)[:, n - 1].astype(float)
        s1, s2 = _cumulative(np.where(fin, y, 0.0), n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return _evidence(s1, s2, np.maximum(k, 1), r_mean, r_ss, cnt, welch)

    z, df = compare(0.0, False)
    # a regression of exactly the ailing ratio, offset by offset, moved out of the current
    z_out, df_out = compare((ailing - 1) * np.abs(exp) / sigma[:, None], True)
    return Compare(z, df, cnt, z_out, df_out)


def burst_length(b: np.ndarray, h: np.ndarray | None) -> np.ndarray:
    """Mean length of the runs of non-zero points before the deploy: the baseline and the history (≥ 1).

    Mostly-zero series (error counts, batch jobs) are non-zero in bursts: a burst of five
    points is one event, not five. Their evidence is divided by the square root of this
    length (the design effect of clustered points), measured where nothing changed."""
    series = [b] if h is None else [b, h.reshape(h.shape[0], -1)]
    points = np.zeros(b.shape[0])
    runs = np.zeros(b.shape[0])
    for x in series:
        nz = np.nan_to_num(x) != 0
        points += nz.sum(axis=1)
        runs += nz[:, 0] + np.sum(nz[:, 1:] & ~nz[:, :-1], axis=1)
    return np.maximum(points / np.maximum(runs, 1), 1.0)
