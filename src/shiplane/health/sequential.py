"""The always-valid threshold: how strong the evidence must be, however often the judge looks.

The judge reads the current series point by point and, after each point ``n``, compares
the first ``n`` points with a fixed reference of ``m`` points (the baseline, or the level
it ended at). Its evidence is a standardised difference of means, ``Z_n = D_n / se_n``
with ``se_n² = v (1/n + 1/m)`` (``grading``). When nothing changed and the points are
independent, ``Z_n`` is a Brownian motion in the *information* ``I_n = n m / (n + m)``
divided by its standard deviation. Because the reference is fixed, ``I_n`` never reaches
``m``: every look from the first (``n0`` points) on, however many follow, lies in the
information range ``[n0 m / (n0 + m), m)``. In log-information the process is a
stationary Ornstein–Uhlenbeck process (correlation ``exp(−|Δ|/2)``) watched over the span
``T = log(1 + m / n0)``, and the chance that it *ever* exceeds a constant ``c`` there is
about (Pickands' approximation for such processes; Siegmund, *Sequential Analysis*, 1985,
ch. 4, for repeated significance tests)::

    α(c) = 1 − Φ(c) + (T / 2) · c · φ(c)

The threshold is the ``c`` with ``α(c) = α``: about 2.9 for a 12-point baseline and 3.2
for 60 points at α = 1 %, where a single look would need 2.33 and the normal-mixture
confidence sequence of Howard, Ramdas, McAuliffe and Sekhon (2021), which does not use
the bounded information, 3.35. Counting every point as a look makes it conservative
(simulated: 0.7–0.9 % at 1 %). The variance ``v`` is estimated, so the threshold is
carried over to Student's t with the degrees of freedom of that estimate.

Read as a confidence sequence, ``D_n ± c se_n`` holds for every ``n`` at once; the
judge uses its upper end to rule a regression out (a final ``healthy``) and its lower
end to find one (``ailing``, ``unhealthy``). The always-valid p-value (Johari, Koomen,
Pekelis and Walsh, "Always valid inference", 2022) is ``α`` at the largest evidence seen.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize, special

FIRST_LOOK = 8  # points of the current before the first look (and the fewest the judge needs)
ALPHA = 0.01  # the chance that an unchanged metric is ever flagged, however often it is looked at
ALPHA_GUARD = 0.05  # with history: the baseline comparison only guards, the history's bounds the rate
ALPHA_SPARSE = ALPHA / 5  # mostly-zero series: their non-zero points come in bursts
ALPHA_RULED_OUT = 0.05  # the chance that a real regression of ailing_ratio is ruled out


def span(m: np.ndarray | int, n0: int = FIRST_LOOK) -> np.ndarray:
    """The log-information span watched, for a reference of ``m`` points."""
    return np.log1p(np.asarray(m, float) / n0)


def crossing(c: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
    """About how likely the standardised evidence is ever to exceed ``c`` over the span ``t``."""
    c = np.asarray(c, float)
    return special.ndtr(-c) + np.asarray(t, float) / 2 * c * np.exp(-c * c / 2) / math.sqrt(2 * math.pi)


@lru_cache(maxsize=4096)
def _normal_threshold(m: int, alpha: float, n0: int) -> float:
    t = float(span(m, n0))
    return float(optimize.brentq(lambda c: float(crossing(c, t)) - alpha, 0.0, 40.0, xtol=1e-9))


def threshold(m: np.ndarray, df: np.ndarray, alpha: np.ndarray | float, n0: int = FIRST_LOOK) -> np.ndarray:
    """The t threshold for references of ``m`` points, ``df`` degrees of freedom, level ``alpha``.

    Broadcasts ``m``, ``df`` and ``alpha``; ``m`` are whole numbers of points, ``df`` is
    rounded down (a fractional Welch df then errs on the safe side)."""
    m_b, df_b, a_b = np.broadcast_arrays(np.asarray(m, int), np.asarray(df, float), np.asarray(alpha, float))
    levels, a_idx = np.unique(a_b, return_inverse=True)
    dfi = np.floor(np.clip(np.nan_to_num(df_b, nan=1.0), 1.0, 1e9)).astype(np.int64)
    # one key per (m, df, alpha): few distinct ones however many rows and looks
    keys, inverse = np.unique((m_b.astype(np.int64) * 2_000_000_011 + dfi) * len(levels) + a_idx.reshape(m_b.shape),
                              return_inverse=True)
    k_alpha = levels[keys % len(levels)]
    k_df = (keys // len(levels)) % 2_000_000_011
    k_m = (keys // len(levels)) // 2_000_000_011
    normal = np.array([_normal_threshold(max(int(mm), 1), float(aa), n0) for mm, aa in zip(k_m, k_alpha, strict=True)])
    # the same one-sided tail probability for Student's t: the variance is estimated
    return special.stdtrit(k_df.astype(float), special.ndtr(normal))[inverse.reshape(m_b.shape)]


def p_value(t_stat: np.ndarray, m: np.ndarray, df: np.ndarray, n0: int = FIRST_LOOK) -> np.ndarray:
    """The always-valid p-value of the evidence ``t_stat``: the α whose threshold it just reaches."""
    t_stat, m, df = np.broadcast_arrays(np.asarray(t_stat, float), np.asarray(m, float), np.asarray(df, float))
    with np.errstate(over="ignore", invalid="ignore"):
        z = special.ndtri(special.stdtr(np.maximum(df, 1.0), np.nan_to_num(t_stat, posinf=1e6, neginf=-1e6)))
        p = crossing(np.clip(z, 0.0, 40.0), span(np.maximum(m, 1), n0))
    return np.clip(np.where(z <= 0, 1.0, p), 0.0, 1.0)
