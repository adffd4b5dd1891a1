"""Rank statistics of simulation-based calibration (Talts et al. 2018, arXiv:1804.06788).

For ``theta ~ prior``, ``y ~ p(y | theta)`` and ``L`` (nearly) independent posterior draws
``theta_1..L ~ p(theta | y)``, the rank of ``f(theta)`` among ``f(theta_1..L)`` is uniform on
``{0, ..., L}`` for every test function ``f``.  Three tests of that uniformity, each aimed at
one way a sampler goes wrong:

* ``chi2``: Pearson chi-square on ``n_bins`` equal bins of ranks (omnibus);
* ``location``: z of the mean rank (a biased posterior pushes ranks to one end);
* ``dispersion``: z of the mean of ``(rank - L/2)^2`` (a posterior too narrow piles ranks at
  both ends, too wide in the middle): the most powerful of the three for variance errors.

Exact moments of the discrete uniform are used for both z statistics.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

Z_MAX = 4.5          # |z| threshold: two-sided p = 7e-6 per statistic
P_MIN = 1e-5         # chi-square p-value threshold


def ranks(truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Rank of ``truth[n]`` among ``draws[n, :]`` (ties split at random by a fixed rule)."""
    truth = np.asarray(truth)[:, None]
    less = np.sum(draws < truth, axis=1)
    ties = np.sum(draws == truth, axis=1)
    return less + (ties + 1) // 2


def uniformity(r: np.ndarray, n_draws: int, n_bins: int | None = None) -> dict:
    """The three statistics for ranks ``r`` in ``{0..n_draws}``."""
    r = np.asarray(r, dtype=float)
    n = len(r)
    support = np.arange(n_draws + 1, dtype=float)
    mid = n_draws / 2.0
    var1 = np.mean((support - mid) ** 2)
    q = (support - mid) ** 2
    z_loc = (r.mean() - mid) / np.sqrt(var1 / n)
    z_disp = (np.mean((r - mid) ** 2) - q.mean()) / np.sqrt(q.var() / n)
    if n_bins is None:
        n_bins = n_draws + 1
    edges = np.linspace(0, n_draws + 1, n_bins + 1)
    counts = np.histogram(r, bins=edges)[0]
    expected = n * np.diff(edges) / (n_draws + 1)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    p = float(stats.chi2.sf(chi2, n_bins - 1))
    return {"z_location": float(z_loc), "z_dispersion": float(z_disp), "chi2_p": p,
            "counts": counts}


def failures(r_by_name: dict, n_draws: int, n_bins: int | None = None) -> dict:
    """``{name: stats}`` for every test function whose ranks fail one of the three tests."""
    bad = {}
    for name, r in r_by_name.items():
        s = uniformity(r, n_draws, n_bins)
        if abs(s["z_location"]) > Z_MAX or abs(s["z_dispersion"]) > Z_MAX or s["chi2_p"] < P_MIN:
            bad[name] = {k: (round(v, 5) if isinstance(v, float) else v.tolist())
                         for k, v in s.items()}
    return bad
