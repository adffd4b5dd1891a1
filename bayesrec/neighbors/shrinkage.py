"""Cold start as posterior inference: conjugate Normal shrinkage of user and item means.

Model (one group = the ratings of one user, or of one item)::

    r_tc | m_t  ~  N(m_t, sigma^2)              (i.i.d. over the group's n_t ratings)
    m_t         ~  N(mu_0, sigma^2 / lambda)    (prior centred on the global mean mu_0)

The prior is conjugate, so the posterior of the group level is Normal with

    E[m_t | r]   = (sum_c r_tc + lambda * mu_0) / (n_t + lambda)     (the "damped mean")
    Var[m_t | r] = sigma^2 / (n_t + lambda)

``lambda`` (``prior_weight``) counts how many pseudo-ratings at the global mean the prior is
worth.  ``lambda = 0`` is the flat prior (the plain group mean, as in the course); a group
without ratings gets the prior mean ``mu_0``: an unknown user or item is never an error.
The damped mean is the "smoothed average" of the course's popularity lectures, and Koren's
(2010) shrunk baseline.
"""

from __future__ import annotations

import numpy as np

from ..baseline import damped_means

__all__ = ["damped_means", "pooled_variance", "posterior_sd"]


def pooled_variance(values: np.ndarray, groups: np.ndarray, means: np.ndarray) -> float:
    """Within-group noise variance ``sigma^2``: mean squared deviation of the ratings from
    their group's (posterior) mean, pooled over all groups."""
    resid = np.asarray(values, dtype=np.float64) - means[groups]
    return float(np.mean(resid ** 2)) if resid.size else float("nan")


def posterior_sd(counts: np.ndarray, prior_weight: float, noise_var: float) -> np.ndarray:
    """Posterior standard deviations ``sqrt(sigma^2 / (n + lambda))``.

    ``inf`` where ``n + lambda == 0``.
    """
    denom = np.asarray(counts, dtype=np.float64) + prior_weight
    with np.errstate(divide="ignore"):
        return np.sqrt(noise_var / denom)
