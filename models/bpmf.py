"""PyMC twin of Bayesian PMF (:class:`bayesrec.factorization.BPMF`).

Salakhutdinov & Mnih (ICML 2008), with the toolkit's optional biases::

    Lambda_U ~ Wishart(W0, nu0),   mu_U | Lambda_U ~ N(mu0, (beta0 Lambda_U)^-1)
    u_i ~ N(mu_U, Lambda_U^-1)                   (items: same with V)
    tau_b, tau_c ~ Gamma(a_b, b_b),  b_i ~ N(0, 1/tau_b),  c_j ~ N(0, 1/tau_c)   (biases)
    alpha fixed or ~ Gamma(a_alpha, b_alpha)
    r_ij ~ N(mu + b_i + c_j + u_i . v_j, 1/alpha),   mu = training mean (constant)

The Wishart is written by its Bartlett decomposition (``Lambda = (L A)(L A)^T``, ``L =
chol(W0)``, ``A_kk^2 ~ chi2(nu0 - k)``, ``A_kl ~ N(0, 1)`` below the diagonal) and every
Gaussian is non-centred (``u_i = mu_U + (L A)^-T z_i``), which is the same distribution in a
geometry NUTS can explore.  ``pred`` holds the mean rating at the evaluation pairs (dims
``eval_cell``) so predictions can be compared with the Gibbs sampler's.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.linalg import solve_triangular


def _wishart_factor(name: str, k: int, nu0: float, w0_chol: np.ndarray):
    """Lower-triangular ``L A`` with ``(L A)(L A)^T ~ Wishart(W0, nu0)`` (Bartlett)."""
    c = pm.ChiSquared(f"{name}_chi2", nu=nu0 - np.arange(k), shape=k)
    n_off = k * (k - 1) // 2
    a = pt.diag(pt.sqrt(c))
    if n_off:
        z = pm.Normal(f"{name}_offdiag", 0.0, 1.0, shape=n_off)
        rows, cols = np.tril_indices(k, -1)
        a = pt.set_subtensor(a[rows, cols], z)
    return pt.as_tensor(w0_chol) @ a


def _factor_side(side: str, n: int, k: int, dim: str, hyper: bool, beta0, nu0, w0_chol,
                 factor_precision):
    z = pm.Normal(f"z_{side}", 0.0, 1.0, dims=(dim, "latent"))
    if not hyper:
        return pm.Deterministic(side, z / np.sqrt(factor_precision), dims=(dim, "latent"))
    la = _wishart_factor(f"Lambda_{side}", k, nu0, w0_chol)
    pm.Deterministic(f"Lambda_{side}", la @ la.T)
    z_mu = pm.Normal(f"z_mu_{side}", 0.0, 1.0, shape=k)
    # x = (L A)^-T z has covariance ((L A)(L A)^T)^-1 = Lambda^-1
    mu = pm.Deterministic(f"mu_{side}",
                          solve_triangular(la.T, z_mu, lower=False) / np.sqrt(beta0))
    dev = solve_triangular(la.T, z.T, lower=False).T
    return pm.Deterministic(side, mu[None, :] + dev, dims=(dim, "latent"))


def bpmf_model(users, items, ratings, n_users: int, n_items: int, rank: int,
               eval_users=None, eval_items=None, biases: bool = True, alpha="sample",
               hyperprior: bool = True, beta0: float = 2.0, nu0: float | None = None,
               W0=None, factor_precision: float = 1.0, bias_prior=(1.0, 1.0),
               alpha_prior=(1.0, 1.0), offset: float | None = None) -> pm.Model:
    """The model on dense index arrays; ``alpha`` a number (fixed) or ``"sample"``."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float64)
    k = int(rank)
    nu0 = float(k if nu0 is None else nu0)
    w0_chol = np.linalg.cholesky(np.eye(k) if W0 is None else np.asarray(W0, float))
    mu = float(ratings.mean() if offset is None else offset)
    coords = {"user": np.arange(n_users), "item": np.arange(n_items), "latent": np.arange(k)}
    if eval_users is not None:
        coords["eval_cell"] = np.arange(len(eval_users))
    with pm.Model(coords=coords) as model:
        U = _factor_side("U", n_users, k, "user", hyperprior, beta0, nu0, w0_chol,
                         factor_precision)
        V = _factor_side("V", n_items, k, "item", hyperprior, beta0, nu0, w0_chol,
                         factor_precision)
        if biases:
            tau_b = pm.Gamma("tau_b", alpha=bias_prior[0], beta=bias_prior[1])
            tau_c = pm.Gamma("tau_c", alpha=bias_prior[0], beta=bias_prior[1])
            b = pm.Deterministic("b", pm.Normal("z_b", 0, 1, dims="user") / pt.sqrt(tau_b),
                                 dims="user")
            c = pm.Deterministic("c", pm.Normal("z_c", 0, 1, dims="item") / pt.sqrt(tau_c),
                                 dims="item")
        if alpha == "sample":
            a = pm.Gamma("alpha", alpha=alpha_prior[0], beta=alpha_prior[1])
        else:
            a = float(alpha)

        def mean(u, i):
            m = mu + (U[u] * V[i]).sum(axis=-1)
            return m + b[u] + c[i] if biases else m

        pm.Normal("r", mean(users, items), sigma=1.0 / pt.sqrt(a), observed=ratings)
        if eval_users is not None:
            pm.Deterministic("pred", mean(np.asarray(eval_users), np.asarray(eval_items)),
                             dims="eval_cell")
    return model
