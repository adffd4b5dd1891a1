"""PyMC twin of :class:`bayesrec.factorization.NeuralRecommender` (the course's Keras models).

Prediction for user ``i`` and item ``j`` (``mu`` is a constant, the training mean, as the
course subtracts it before training)::

    dot:       f_ij = mu + u_i . v_j + b_i + c_j
    mlp:       f_ij = mu + w2 . g(W1^T [u_i, v_j] + b1) + b2           (g: the activation)
    residual:  f_ij = mu + u_i . v_j + b_i + c_j + w2 . g(W1^T [u_i, v_j] + b1) + b2

Priors (the course's L2 penalties stated as Gaussian priors) and likelihood::

    u_i, v_j ~ N(0, factor_sd^2 I_K)        b_i, c_j ~ N(0, bias_sd^2)
    W1 (2K x H), b1 (H), w2 (H), b2 ~ N(0, weight_sd^2) entrywise
    sigma = noise (fixed)   or   sigma ~ HalfNormal(noise_prior_sd)  (noise=None)
    r_ij ~ N(f_ij, sigma^2)

With ``batch_size`` the likelihood is evaluated on a random ``pm.Minibatch`` of the ratings and
rescaled by ``total_size = N`` (an unbiased estimate of the full log likelihood), which is what
mean-field ADVI (``pm.fit(method="advi")``) needs on large data.  Without it, the model is the
full-data posterior; ``tests/test_neural.py`` checks the library's hand-written MAP objective
against this model's ``logp``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

ARCHITECTURES = ("dot", "mlp", "residual")
ACTIVATIONS = {
    "relu": lambda x: pt.maximum(x, 0.0),
    "tanh": pt.tanh,
    "sigmoid": pt.sigmoid,
    "softplus": pt.softplus,
    "linear": lambda x: x,
}


def neural_model(users, items, ratings, n_users: int, n_items: int, *,
                 architecture: str = "dot", rank: int = 10, hidden: int = 400,
                 activation: str = "relu", factor_sd: float = 0.3, bias_sd: float = 0.5,
                 weight_sd: float = 0.3, noise: float | None = None,
                 noise_prior_sd: float = 1.0, global_mean: float | None = None,
                 batch_size: int | None = None) -> pm.Model:
    """The neural recommender's posterior as a ``pm.Model``.

    Parameters
    ----------
    users, items : int arrays
        Dense training indices of every rating.
    ratings : float array
    n_users, n_items : int
    architecture : {"dot", "mlp", "residual"}
    rank, hidden : int
        Embedding size K and hidden width H.
    activation : {"relu", "tanh", "sigmoid", "softplus", "linear"}
    factor_sd, bias_sd, weight_sd : float
        Prior standard deviations (see the module docstring).
    noise : float or None
        Fixed noise sd, or ``None`` for ``sigma ~ HalfNormal(noise_prior_sd)``.
    global_mean : float, optional
        The constant ``mu`` (default: mean of ``ratings``).
    batch_size : int, optional
        Use ``pm.Minibatch`` of this size with ``total_size=len(ratings)``.

    Variables: ``U`` (user, latent), ``V`` (item, latent), ``b`` (user), ``c`` (item) for the
    dot branch; ``W1`` (input, hidden), ``b1`` (hidden), ``w2`` (hidden), ``b2`` for the MLP
    branch; ``sigma`` when learned; observed ``rating``.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    users = np.asarray(users, np.int64)
    items = np.asarray(items, np.int64)
    ratings = np.asarray(ratings, np.float64)
    mu = float(ratings.mean()) if global_mean is None else float(global_mean)
    coords = {"user": np.arange(n_users), "item": np.arange(n_items),
              "latent": np.arange(rank)}
    if architecture != "dot":
        coords.update(input=np.arange(2 * rank), hidden=np.arange(hidden))
    with pm.Model(coords=coords) as model:
        if batch_size is None:
            u_idx, i_idx, y = pt.as_tensor(users), pt.as_tensor(items), pt.as_tensor(ratings)
            total_size = None
        else:
            u_idx, i_idx, y = pm.Minibatch(users, items, ratings, batch_size=int(batch_size))
            total_size = len(ratings)
        U = pm.Normal("U", 0.0, factor_sd, dims=("user", "latent"))
        V = pm.Normal("V", 0.0, factor_sd, dims=("item", "latent"))
        u, v = U[u_idx], V[i_idx]
        f = mu
        if architecture in ("dot", "residual"):
            b = pm.Normal("b", 0.0, bias_sd, dims="user")
            c = pm.Normal("c", 0.0, bias_sd, dims="item")
            f = f + (u * v).sum(axis=1) + b[u_idx] + c[i_idx]
        if architecture in ("mlp", "residual"):
            W1 = pm.Normal("W1", 0.0, weight_sd, dims=("input", "hidden"))
            b1 = pm.Normal("b1", 0.0, weight_sd, dims="hidden")
            w2 = pm.Normal("w2", 0.0, weight_sd, dims="hidden")
            b2 = pm.Normal("b2", 0.0, weight_sd)
            # [u, v] @ W1 written as u @ W1[:K] + v @ W1[K:] (same numbers): the Numba
            # backend runs the gradient of a concatenation ~10x slower than two GEMMs
            h = ACTIVATIONS[activation](u @ W1[:rank] + v @ W1[rank:] + b1)
            f = f + h @ w2 + b2
        sigma = pm.HalfNormal("sigma", noise_prior_sd) if noise is None else float(noise)
        pm.Normal("rating", mu=f, sigma=sigma, observed=y, total_size=total_size)
    return model
