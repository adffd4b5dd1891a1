"""The Lai-Robbins lower bound on the regret of Bernoulli bandits.

T. L. Lai and H. Robbins (1985), "Asymptotically efficient adaptive allocation rules", Advances
in Applied Mathematics 6: every uniformly good policy satisfies

    liminf_{T -> inf}  E[R_T] / log T  >=  C(p) = sum_{a: p_a < p*} (p* - p_a) / KL(p_a || p*),

with ``KL(p || q) = p log(p / q) + (1 - p) log((1 - p) / (1 - q))`` the Bernoulli divergence.
``C(p) log t`` is an *asymptotic* statement: at small ``t`` a good policy can lie below it.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _probabilities(probabilities) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"probabilities must be a non-empty 1-d array, got shape {p.shape}")
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise ValueError(f"probabilities must lie in [0, 1], got {p}")
    return p


def bernoulli_kl(p, q):
    """``KL(Bernoulli(p) || Bernoulli(q))``, elementwise; ``inf`` when q is 0 or 1 and p is not."""
    p, q = np.asarray(p), np.asarray(q)
    for name, v in (("p", p), ("q", q)):  # outside [0, 1] (or nan) the divergence is nan
        if v.dtype.kind not in "iuf" or not ((v >= 0) & (v <= 1)).all():
            raise ValueError(f"{name} must be probabilities in [0, 1], got {v!r}")
    p = p.astype(np.float64)
    q = q.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # xlogy(0, .) = 0 handles p in {0, 1}; q in {0, 1} with p not equal gives inf
        kl = (special.xlogy(p, p) - special.xlogy(p, q)
              + special.xlogy(1 - p, 1 - p) - special.xlogy(1 - p, 1 - q))
    kl = np.where(p == q, 0.0, kl)
    return float(kl) if kl.ndim == 0 else kl


def lai_robbins_constant(probabilities) -> float:
    """``C(p) = sum over suboptimal arms of (p* - p_a) / KL(p_a || p*)`` (0 if all arms tie).

    An arm whose divergence is infinite (only when ``p* = 1``) contributes 0: one pull tells
    it apart.
    """
    p = _probabilities(probabilities)
    best = p.max()
    sub = p < best
    gap = best - p[sub]
    kl = np.atleast_1d(bernoulli_kl(p[sub], best))
    return float(np.sum(np.where(np.isinf(kl), 0.0, gap / kl)))


def lai_robbins_bound(probabilities, n_trials):
    """The asymptotic regret lower bound ``C(p) * log(t)`` at ``t = n_trials``.

    ``n_trials`` may be an array (e.g. ``np.arange(1, T + 1)`` for the whole curve); scalar in,
    float out.  ``t`` must be >= 1.
    """
    t = np.asarray(n_trials)
    if t.dtype.kind not in "iuf":  # True would be read as 1 trial, "10" as a string
        raise ValueError(f"n_trials must be a number >= 1, got {n_trials!r}")
    t = t.astype(np.float64)
    if np.isnan(t).any() or (t.size and t.min() < 1):
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    out = lai_robbins_constant(probabilities) * np.log(t)
    return float(out) if out.ndim == 0 else out
