"""What the judge compares with: the level a baseline ended at, and the noise around it (pure).

A baseline is not always one level. Daily cycles ramp, a batch job starts, a previous
deploy moved things: when the last part of the baseline sits at a clearly different
level from the part before, the level *now* is the last one, and comparing the current
with the whole baseline would blame the deploy for a move that happened before it.

``level_start`` finds where the last level begins: the split of the baseline into an
earlier and a later part whose two-sample rank statistic is largest, kept when it is
significant at 5 % after a Bonferroni correction over the candidate splits (each part at
least ``MIN_LEVEL`` points) and the parts' medians differ by more than twice the
point-to-point noise (a burst that came and went is not a new level) and by more than
the judge's noise floor (a quarter of the move to the ailing ratio: float noise on a
flat line is not a level), repeated inside the later part (``ROUNDS`` times) for a
level that moved twice. ``noise`` is the robust spread of the points around the level
of their own part (1.4826 × the median absolute deviation, or 1.2533 × the mean absolute
deviation when more than half the points sit exactly on the level).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from shiplane.health.ranktest import ranks

MIN_LEVEL = 3  # points a level needs before the judge trusts it
ROUNDS = 3
SHIFT_LEVEL = 0.05


def level_start(b: np.ndarray, smallest: float = 0.0) -> np.ndarray:
    """Per row of ``b`` (rows × m, finite), the index where its last level begins (0: one level).

    A level moved only when the medians moved by more than ``smallest`` of the larger one (a relative size)."""
    rows, m = b.shape
    start = np.zeros(rows, int)
    if m < 2 * MIN_LEVEL:
        return start
    cols = np.arange(m)
    ks = np.arange(MIN_LEVEL, m - MIN_LEVEL + 1)  # candidate lengths of the last level
    live = np.arange(rows)  # rows whose level may still have moved
    for _ in range(ROUNDS):
        s0 = start[live]
        n = m - s0
        live, s0, n = live[n >= 2 * MIN_LEVEL], s0[n >= 2 * MIN_LEVEL], n[n >= 2 * MIN_LEVEL]
        if not live.size:
            break
        # points before the level already found rank above everything else, as one tie group
        r2, ties = ranks(np.where(cols[None, :] < s0[:, None], np.inf, b[live]))
        ties = ties - (s0.astype(float) ** 3 - s0)
        suffix = np.cumsum(r2[:, ::-1], axis=1)[:, ks - 1] / 2  # rank sum of the last k points
        nf = n[:, None].astype(float)
        mean = ks * (nf + 1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            var = ks * (nf - ks) / 12 * ((nf + 1) - ties[:, None] / (nf * (nf - 1)))
            ok = (ks[None, :] <= nf - MIN_LEVEL) & (var > 0)
            z = np.where(ok, np.abs(suffix - mean) / np.sqrt(np.where(ok, var, 1.0)), 0.0)
        j = z.argmax(axis=1)
        best = z[np.arange(live.size), j]
        splits = np.maximum(n - 2 * MIN_LEVEL + 1, 1)
        moved = best >= special.ndtri(1 - SHIFT_LEVEL / 2 / splits)
        if moved.any():
            moved[moved] = _medians_moved(b[live[moved]], s0[moved], m - ks[j[moved]], smallest)

        start[live[moved]] = m - ks[j[moved]]
        live = live[moved]
    return start


def _medians_moved(b: np.ndarray, s0: np.ndarray, split: np.ndarray, smallest: float) -> np.ndarray:
    """A level moved when the typical value did: the two parts' medians differ by more than twice the
    point-to-point noise. A burst (a few wild points, then back) moves the rank sum but not the median."""
    cols = np.arange(b.shape[1])[None, :]
    part = cols >= s0[:, None]
    before = part & (cols < split[:, None])
    after = cols >= split[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m1 = np.nanmedian(np.where(before, b, np.nan), axis=1)
        m2 = np.nanmedian(np.where(after, b, np.nan), axis=1)
        # differences of neighbours: a level change is one large difference, not a spread
        noise = 1.4826 * np.nanmedian(np.where(part[:, 1:], np.abs(np.diff(b, axis=1)), np.nan), axis=1) / np.sqrt(2)
    return np.abs(m2 - m1) > np.maximum(2 * noise, smallest * np.maximum(np.abs(m1), np.abs(m2)))


def noise(b: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The level (median of the last level) and the robust noise scale, per row."""
    rows, m = b.shape
    after = np.arange(m)[None, :] >= start[:, None]
    one = start == 0
    level = np.median(b, axis=1)
    before = np.zeros(rows)
    if not one.all():
        moved = ~one
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            level[moved] = np.nanmedian(np.where(after[moved], b[moved], np.nan), axis=1)
            before[moved] = np.nanmedian(np.where(after[moved], np.nan, b[moved]), axis=1)
    resid = np.abs(np.where(after, b - level[:, None], b - before[:, None]))
    sigma = 1.4826 * np.median(resid, axis=1)
    return level, np.where(sigma > 0, sigma, 1.2533 * resid.mean(axis=1))
