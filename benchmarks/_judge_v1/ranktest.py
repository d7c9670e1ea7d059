"""The Mann–Whitney rank test on rows of numbers (pure, vectorised; no I/O).

``mann_whitney(ref, cur)`` gives, row by row, the one-sided p-values that the
current sample is larger / smaller than the reference, tie-corrected. Small
samples (``_exact_ok``) get the exact permutation distribution, conditional on
the ties; larger ones the normal approximation with continuity correction.
Why and how the judge uses it: ``shiplane.health.judge``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special

EXACT_WORK = 2e7  # exact p-values while the dynamic programme stays this small


def _ranks(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Doubled mid-ranks (integers), Σ(t³−t) over tie groups, and which rows have ties."""
    rows, n = z.shape
    order = np.argsort(z, axis=1, kind="stable")
    zs = np.take_along_axis(z, order, axis=1)
    pos = np.broadcast_to(np.arange(n), (rows, n))
    new = np.ones((rows, n), bool)
    new[:, 1:] = zs[:, 1:] != zs[:, :-1]
    last = np.ones((rows, n), bool)
    last[:, :-1] = new[:, 1:]
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, pos, n)[:, ::-1], axis=1)[:, ::-1]
    r2 = np.empty((rows, n), np.int64)
    np.put_along_axis(r2, order, start + end + 2, axis=1)
    t = (end - start + 1).astype(float)
    return r2, (t * t - 1).sum(axis=1), ~new[:, 1:].all(axis=1)


def _dp(counts: np.ndarray, r2: np.ndarray, n: int) -> np.ndarray:
    """Distribution of the doubled rank sum of n values drawn without replacement, ties kept."""
    top = int(2 * n * counts.sum()) + 1
    dp = np.zeros((n + 1, top))
    dp[0, 0] = 1.0
    for t, r in zip(counts.tolist(), r2.tolist(), strict=True):
        new = dp.copy()
        for k in range(1, min(t, n) + 1):
            shift = k * r
            new[k:, shift:] += special.comb(t, k) * dp[: n + 1 - k, : top - shift]
        dp = new
    dist = dp[n]
    return dist / dist.sum()


def _tails(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.cumsum(dist[::-1])[::-1], np.cumsum(dist)  # P(W ≥ w), P(W ≤ w)


@lru_cache(maxsize=64)
def _untied(big: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact tails for untied samples, shared by every row of that shape."""
    return _tails(_dp(np.ones(big, int), 2 * np.arange(1, big + 1), s))


def _exact_ok(m: int, n: int) -> bool:
    s, big = min(m, n), m + n
    return (s + 1) * (2 * s * big + 1) * 2 * big <= EXACT_WORK


def mann_whitney(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values that `cur` is larger / smaller than `ref`, row by row."""
    m, n = ref.shape[1], cur.shape[1]
    big = m + n
    r2, ties, tied = _ranks(np.concatenate([ref, cur], axis=1))
    w2 = r2[:, m:].sum(axis=1)
    if _exact_ok(m, n):
        # the dynamic programme draws the smaller sample; the current's sum is the total minus the other's
        small_cur = n <= m
        ws = w2 if small_cur else big * (big + 1) - w2
        sf, cdf = _untied(big, min(m, n))
        hi, lo = sf[ws], cdf[ws]
        for i in np.flatnonzero(tied):
            counts = np.unique(np.concatenate([ref[i], cur[i]]), return_counts=True)[1]
            ends = np.cumsum(counts)
            tsf, tcdf = _tails(_dp(counts, 2 * ends - counts + 1, min(m, n)))
            hi[i], lo[i] = tsf[ws[i]], tcdf[ws[i]]
        up, down = (hi, lo) if small_cur else (lo, hi)
    else:
        mean = n * (big + 1) / 2
        var = m * n / 12 * ((big + 1) - ties / (big * (big - 1)))
        sd = np.sqrt(np.maximum(var, 0))
        w = w2 / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            up = special.ndtr(-(w - mean - 0.5) / sd)
            down = special.ndtr((w - mean + 0.5) / sd)
    # identical constant samples: nothing moved
    flat = np.all(np.concatenate([ref, cur], axis=1) == ref[:, :1], axis=1)
    up = np.where(flat, 1.0, np.clip(up, 0, 1))
    down = np.where(flat, 1.0, np.clip(down, 0, 1))
    return up, down
