"""Paired comparison of two models evaluated on the same users: a bootstrap interval.

Two recommenders scored on one split see the same users, so their per-user metrics
(:func:`bayesrec.metrics.evaluate_topk_per_user`) are paired.  The quantity of interest is
the mean per-user difference ``d = mean_u (a_u - b_u)``; resampling users with replacement
(Efron & Tibshirani 1993, ch. 13, percentile interval) keeps each user's pair together, so
what the two models share (easy and hard users) cancels and the interval reflects only how
differently they treat the same users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_interval, check_probability
from ..rng import check_random_state

#: resampled means formed at a time (bounds the (block, n_users) index matrix)
_BLOCK_CELLS = 1 << 22


def paired_bootstrap(a, b, n_boot: int = 10_000, level: float = 0.95,
                     random_state=None) -> dict[str, float]:
    """Mean difference ``mean(a - b)`` of paired per-user values and its bootstrap interval.

    Parameters
    ----------
    a, b : array-like (n,) or pandas Series
        The two models' values for the same users in the same order (Series are aligned on
        their index first, which must hold the same users).
    n_boot : int
        Bootstrap resamples of the users (>= 100).
    level : float in (0, 1)
        Coverage of the percentile interval.
    random_state : int or Generator

    Returns
    -------
    dict
        ``difference`` (``mean(a) - mean(b)``), ``low`` and ``high`` (the percentile
        interval), ``se`` (standard deviation of the resampled differences),
        ``share_above_zero`` (share of resampled differences > 0) and ``n_users``.

    Raises
    ------
    ValueError
        Different lengths or users, fewer than 2 pairs, NaN or infinite values, or a
        nonsense ``n_boot`` / ``level``.
    """
    a, b = _paired(a, b)
    n_boot = check_interval("n_boot", n_boot, 100, None, closed="both", integer=True)
    level = check_probability("level", level)
    rng = check_random_state(random_state)
    with np.errstate(over="ignore"):
        d = a - b
        # n * max |d| bounds the sum of every resample: the means below stay finite
        bound = len(d) * np.abs(d).max()
    if not (np.isfinite(d).all() and np.isfinite(bound)):
        # finite values whose difference, or a resample's sum of differences, overflows
        raise ValueError("a - b (or the sum of a resample of it) overflows float64: rescale "
                         "the values")
    n = len(d)
    means = np.empty(n_boot)
    block = max(1, _BLOCK_CELLS // n)
    for s in range(0, n_boot, block):     # blocks of resamples, not a loop per resample
        m = min(block, n_boot - s)
        means[s:s + m] = d[rng.integers(0, n, (m, n))].mean(axis=1)
    tail = 0.5 * (1.0 - level)
    low, high = np.quantile(means, [tail, 1.0 - tail])
    with np.errstate(over="ignore"):
        se = means.std()
    if not np.isfinite(se):  # squares of differences near 1e300 overflow: scale them first
        scale = np.abs(means).max()
        se = scale * (means / scale).std()
    return {"difference": float(d.mean()), "low": float(low), "high": float(high),
            "se": float(se), "share_above_zero": float(np.mean(means > 0)),
            "n_users": int(n)}


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two aligned float vectors of the same users (checked)."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if len(a) != len(b) or not a.index.sort_values().equals(b.index.sort_values()):
            raise ValueError("a and b must hold the same users (their indexes differ)")
        b = b.reindex(a.index)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"a and b must be 1-D, got shapes {a.shape} and {b.shape}")
    if len(a) != len(b):
        raise ValueError(f"a and b must be paired: lengths {len(a)} and {len(b)} differ")
    if len(a) < 2:
        raise ValueError(f"a paired bootstrap needs at least 2 pairs, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite (a NaN usually marks a user without a "
                         "relevant item: drop it from both)")
    return a, b
