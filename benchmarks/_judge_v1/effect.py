"""Effect sizes for the judge: how much worse, in the bad direction (pure; no I/O).

``bad_ratio`` compares two centres (infinite from a zero baseline) and
``hodges_lehmann`` is the robust shift that can veto one odd median. How the
judge grades them: ``shiplane.health.judge``.
"""

from __future__ import annotations

import numpy as np

HL_MAX_PAIRS = 1_000_000


def bad_ratio(b: np.ndarray, c: np.ndarray, sign: int) -> np.ndarray:
    """How much worse c is than b: c/b for increase, b/c for decrease; inf from zero."""
    b, c = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float))
    out = np.ones(b.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = b > 0
        worse = sign * (c - b) / np.abs(b)
        if sign > 0:
            out = np.where(pos, np.maximum(c / b, 0), out)
        else:
            out = np.where(pos, np.where(c > 0, b / c, np.inf), out)
        # negative centres: relative change against |baseline|
        out = np.where(b < 0, np.maximum(1 + worse, 0), out)
        zero = b == 0
        out = np.where(zero & (sign * c > 0), np.inf, out)
        out = np.where(zero & (sign * c < 0), 0.0, out)
    return out


def hodges_lehmann(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Hodges–Lehmann shift: median of all pairwise differences current − reference."""
    if ref.shape[1] * cur.shape[1] > HL_MAX_PAIRS:
        q = np.linspace(0, 1, 1000)
        ref, cur = np.quantile(ref, q, axis=1).T, np.quantile(cur, q, axis=1).T
    return np.median(cur[:, :, None] - ref[:, None, :], axis=(1, 2))
