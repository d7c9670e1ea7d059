"""Ranks of rows of numbers, ties shared (pure, vectorised; no I/O).

``ranks(z)`` gives, row by row, the doubled mid-ranks (integers) and Σ(t³ − t) over
the groups of tied values: what a rank statistic and its tie-corrected variance need.
The judge uses them to find where the level of a baseline moved (``reference``).
"""

from __future__ import annotations

import numpy as np


def ranks(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Doubled mid-ranks (integers) and Σ(t³−t) over tie groups, row by row."""
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
    # each member of a group of t ties adds t² − 1: the group adds t³ − t
    return r2, (t * t - 1).sum(axis=1)
