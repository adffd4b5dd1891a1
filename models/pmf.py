"""PyMC twin of plain PMF (Salakhutdinov & Mnih, NIPS 2007): BPMF with the hyperpriors off.

::

    u_i ~ N(0, I / lambda),   v_j ~ N(0, I / lambda)
    r_ij ~ N(mu + u_i . v_j, 1 / alpha),       mu = training mean (constant)

The MAP of this model is what :class:`bayesrec.factorization.PMF` estimates;
``BPMF(hyperprior=False, biases=False, alpha=alpha, factor_precision=lambda)`` samples its
posterior.  ``pred`` is the mean rating at the evaluation pairs (dims ``eval_cell``).
"""

from __future__ import annotations

import numpy as np
import pymc as pm


def pmf_model(users, items, ratings, n_users: int, n_items: int, rank: int,
              eval_users=None, eval_items=None, alpha: float = 2.0,
              factor_precision: float = 1.0, offset: float | None = None) -> pm.Model:
    """The model on dense index arrays (fixed ``alpha`` and ``lambda = factor_precision``)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    mu = float(ratings.mean() if offset is None else offset)
    sd = 1.0 / np.sqrt(factor_precision)
    coords = {"user": np.arange(n_users), "item": np.arange(n_items),
              "latent": np.arange(rank)}
    if eval_users is not None:
        coords["eval_cell"] = np.arange(len(eval_users))
    with pm.Model(coords=coords) as model:
        U = pm.Normal("U", 0.0, sd, dims=("user", "latent"))
        V = pm.Normal("V", 0.0, sd, dims=("item", "latent"))
        pm.Normal("r", mu + (U[users] * V[items]).sum(axis=-1), sigma=1.0 / np.sqrt(alpha),
                  observed=ratings)
        if eval_users is not None:
            pm.Deterministic("pred", mu + (U[np.asarray(eval_users)]
                                           * V[np.asarray(eval_items)]).sum(axis=-1),
                             dims="eval_cell")
    return model
