"""PyMC twin of Bayesian SVD++ (:class:`bayesrec.factorization.BayesianSVDpp`).

Koren (KDD 2008) made Bayesian as in libFM's MCMC (Rendle 2013), "flipped" as in Rendle,
Zhang & Koren (2019)::

    p_u = u_u + sum_c M^U_uc y_c        q_i = v_i + sum_c M^V_ic z_c
    w_u = b_u + sum_{c linear} M^U_uc y_c[K]     w_i = c_i + sum_{c linear} M^V_ic z_c[K]
    r_ui ~ N(mu + w_u + w_i + p_u . q_i, 1/alpha),   mu = training mean (constant)

``M^U`` / ``M^V`` are the bag matrices (dense here): ``|N(u)|^-1/2`` on the items of
``N(u)``, ``|N(i)|^-1/2`` on the raters of ``i`` (flipped) and side-feature values; columns
fall into groups, each with its own hyperprior::

    (mu_g, Lambda_g) ~ NormalWishart(0, beta0, nu0, I),  rows of group g ~ N(mu_g, Lambda_g^-1)
    (U and V are groups too);  b_u ~ N(0, 1/tau_b), c_i ~ N(0, 1/tau_c), linear weights of a
    feature group ~ N(0, 1/tau_g);  every tau ~ Gamma;  alpha ~ Gamma (or fixed)

Written non-centred with Bartlett-decomposed Wisharts (the helpers of ``models/bpmf.py``),
which is the same distribution in a geometry NUTS can explore.  ``pred`` is the mean rating at
the evaluation pairs (dims ``eval_cell``), compared with the Gibbs sampler's in the tests.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from models.bpmf import _factor_side


def _group_factors(prefix: str, bag: np.ndarray, group: np.ndarray, linear, k: int, beta0,
                   nu0, w0_chol, linear_prior):
    """Latent (n_cols, K) and linear (n_cols,) parts of a bag's columns, group by group."""
    n_cols = bag.shape[1]
    lat = pt.zeros((n_cols, k))
    lin = pt.zeros(n_cols)
    for g, is_linear in enumerate(linear):
        cols = np.flatnonzero(group == g)
        name = f"{prefix}{g}"
        rows = _factor_side(name, len(cols), k, f"{name}_col", True, beta0, nu0, w0_chol, 1.0)
        lat = pt.set_subtensor(lat[cols], rows)
        if is_linear:
            tau = pm.Gamma(f"tau_{name}", alpha=linear_prior[0], beta=linear_prior[1])
            w = pm.Normal(f"z_w_{name}", 0.0, 1.0, dims=f"{name}_col") / pt.sqrt(tau)
            lin = pt.set_subtensor(lin[cols], w)
    return lat, lin


def bayesian_svdpp_model(users, items, ratings, bag_u, group_u, linear_u, bag_v, group_v,
                         linear_v, rank: int, eval_users=None, eval_items=None,
                         alpha="sample", beta0: float = 2.0, nu0: float | None = None,
                         bias_prior=(1.0, 1.0), linear_prior=(1.0, 1.0),
                         alpha_prior=(1.0, 1.0), offset: float | None = None) -> pm.Model:
    """The model on dense index arrays and dense bag matrices.

    ``bag_u`` (n_users, C_u) with column groups ``group_u`` and per-group flags ``linear_u``
    (likewise for items); ``alpha`` a number (fixed) or ``"sample"``.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    bag_u, bag_v = np.asarray(bag_u, float), np.asarray(bag_v, float)
    group_u, group_v = np.asarray(group_u), np.asarray(group_v)
    k = int(rank)
    nu0 = float(k if nu0 is None else nu0)
    w0_chol = np.eye(k)
    mu = float(ratings.mean() if offset is None else offset)
    n_users, n_items = bag_u.shape[0], bag_v.shape[0]
    coords = {"user": np.arange(n_users), "item": np.arange(n_items), "latent": np.arange(k)}
    for prefix, group in (("Y", group_u), ("Z", group_v)):
        for g in np.unique(group):
            coords[f"{prefix}{g}_col"] = np.flatnonzero(group == g)
    if eval_users is not None:
        coords["eval_cell"] = np.arange(len(eval_users))
    with pm.Model(coords=coords) as model:
        U = _factor_side("U", n_users, k, "user", True, beta0, nu0, w0_chol, 1.0)
        V = _factor_side("V", n_items, k, "item", True, beta0, nu0, w0_chol, 1.0)
        tau_b = pm.Gamma("tau_b", alpha=bias_prior[0], beta=bias_prior[1])
        tau_c = pm.Gamma("tau_c", alpha=bias_prior[0], beta=bias_prior[1])
        b = pm.Normal("z_b", 0, 1, dims="user") / pt.sqrt(tau_b)
        c = pm.Normal("z_c", 0, 1, dims="item") / pt.sqrt(tau_c)
        y_lat, y_lin = _group_factors("Y", bag_u, group_u, linear_u, k, beta0, nu0, w0_chol,
                                      linear_prior)
        z_lat, z_lin = _group_factors("Z", bag_v, group_v, linear_v, k, beta0, nu0, w0_chol,
                                      linear_prior)
        P = pm.Deterministic("P", U + pt.as_tensor(bag_u) @ y_lat, dims=("user", "latent"))
        Q = pm.Deterministic("Q", V + pt.as_tensor(bag_v) @ z_lat, dims=("item", "latent"))
        wu = b + pt.as_tensor(bag_u) @ y_lin
        wi = c + pt.as_tensor(bag_v) @ z_lin
        if alpha == "sample":
            a = pm.Gamma("alpha", alpha=alpha_prior[0], beta=alpha_prior[1])
        else:
            a = float(alpha)

        def mean(u, i):
            return mu + wu[u] + wi[i] + (P[u] * Q[i]).sum(axis=-1)

        pm.Normal("r", mean(users, items), sigma=1.0 / pt.sqrt(a), observed=ratings)
        if eval_users is not None:
            pm.Deterministic("pred", mean(np.asarray(eval_users), np.asarray(eval_items)),
                             dims="eval_cell")
    return model
