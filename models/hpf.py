"""PyMC twin of hierarchical Poisson factorization (:class:`bayesrec.factorization.HPF`).

Gopalan, Hofman & Blei (UAI 2015), the generative process of their Sec. 2 (Fig. 1), for the
count ``r_ui`` (``y_ui`` in the paper) of user ``u`` and item ``i`` over *every* cell of the
user x item matrix (the zeros are observations), user factor ``u_u = theta_u`` and item
factor ``v_i = beta_i``::

    xi_u   ~ Gamma(a', a'/b')              theta_uk | xi_u  ~ Gamma(a, xi_u)
    eta_i  ~ Gamma(c', c'/d')              beta_ik  | eta_i ~ Gamma(c, eta_i)
    r_ui   ~ Poisson(theta_u . beta_i)

(shape, rate).  No auxiliary variables: the ``z_uik`` of the paper's Sec. 2.2 stay summed
out (the Poisson likelihood of ``r_ui`` itself), so NUTS, sampling the positive variables on
the log scale (PyMC's automatic log transform), checks the library's augmented samplers from
outside.  ``rate`` holds ``theta_u . beta_i`` at the evaluation pairs (dims ``pair``); its
posterior mean is the paper's score, Eq. 1, ``E[theta_u . beta_i | r]``, to be compared with
the hand-written samplers'.  The dense likelihood is meant for tiny data only: the library
never forms it.
"""

from __future__ import annotations

import numpy as np
import pymc as pm


def hpf_model(users, items, counts, n_users: int, n_items: int, rank: int,
              eval_users=None, eval_items=None, a: float = 0.3, a_prime: float = 0.3,
              b_prime: float = 1.0, c: float = 0.3, c_prime: float = 0.3,
              d_prime: float = 1.0) -> pm.Model:
    """The model on dense index arrays of the nonzero cells; every other cell counts 0."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    y = np.zeros((n_users, n_items))
    y[users, items] = np.asarray(counts, dtype=np.float64)
    coords = {"user": np.arange(n_users), "item": np.arange(n_items),
              "latent": np.arange(rank)}
    if eval_users is not None:
        coords["pair"] = np.arange(len(eval_users))
    with pm.Model(coords=coords) as model:
        xi = pm.Gamma("xi", alpha=a_prime, beta=a_prime / b_prime, dims="user")
        eta = pm.Gamma("eta", alpha=c_prime, beta=c_prime / d_prime, dims="item")
        theta = pm.Gamma("theta", alpha=a, beta=xi[:, None], dims=("user", "latent"))
        beta = pm.Gamma("beta", alpha=c, beta=eta[:, None], dims=("item", "latent"))
        mu = theta @ beta.T
        pm.Poisson("r", mu=mu, observed=y, dims=("user", "item"))
        if eval_users is not None:
            eu = np.asarray(eval_users, dtype=np.int64)
            ei = np.asarray(eval_items, dtype=np.int64)
            pm.Deterministic("rate", (theta[eu] * beta[ei]).sum(-1), dims="pair")
        pm.Deterministic("total_rate", mu.sum())
    return model


def from_ratings(ratings, rank: int, eval_set=None, **prior) -> pm.Model:
    """The model for a :class:`bayesrec.data.Ratings` (one interaction per rated pair) and an
    optional held-out ``Ratings`` sharing its id maps (its pairs become ``rate``)."""
    eu = ei = None
    if eval_set is not None:
        eu, ei = eval_set.users, eval_set.items
    return hpf_model(ratings.users, ratings.items, np.ones(len(ratings)), ratings.n_users,
                     ratings.n_items, rank, eu, ei, **prior)
