"""MAP fit of the neural recommenders: one compiled PyTensor mini-batch step, a Python epoch loop.

Objective (the negative log posterior of :mod:`models.neural` per rating, constants dropped)::

    L(theta) = 1/N * sum_{n} [ (r_n - mu - f_n)^2 / (2 sigma^2) + log sigma ]
             + 1/N * sum_w  w^2 / (2 s_w^2)     [ + 1/N * sigma^2 / (2 s_sigma^2) if sigma learned ]

On a mini-batch B the data sum is estimated by ``N/|B| * sum_{n in B}`` (so the minibatch
average replaces ``1/N sum``) and the prior term is kept whole: an unbiased estimate of
``L``, exactly what Keras minimises with the penalty on the full embedding matrices.  With a
fixed ``sigma`` the objective is ``(MSE + sum_w reg_w |w|^2) / (2 sigma^2)``, the course's Keras
loss with an L2 penalty ``reg_w = sigma^2 / (N s_w^2)`` per weight group; hence
``s_w = sigma / sqrt(N reg_w)`` (:func:`prior_sd_from_l2`).  A learned ``sigma`` is optimised
as ``log sigma`` with the density of ``sigma`` (no Jacobian, like ``pm.find_MAP``).

The step function is compiled once per (architecture, activation, optimizer, dtype) and
called per mini-batch; it updates weights and optimizer state in place (shared variables)
and returns the mini-batch objective and squared error.
"""

from __future__ import annotations

import time

import numpy as np
import pytensor
import pytensor.tensor as pt

from ._graph import PRIOR_OF, forward
from ._optim import adam_updates, momentum_updates


def prior_sd_from_l2(reg: float, n_ratings: int, noise: float) -> float:
    """Prior sd equivalent to a Keras L2 penalty ``reg * |w|^2`` added to the MSE loss."""
    return float(noise / np.sqrt(n_ratings * reg))


def l2_from_prior_sd(prior_sd: float, n_ratings: int, noise: float) -> float:
    """Keras L2 penalty equivalent to a Gaussian prior sd (inverse of :func:`prior_sd_from_l2`)."""
    return float(noise ** 2 / (n_ratings * prior_sd ** 2))


def objective(p: dict, users, items, y, n_total: int, architecture: str, activation: str,
              prior_sds: dict, noise, noise_prior_sd: float, xp, dtype="float64"):
    """Mini-batch estimate of ``L`` (module docstring) and the batch mean squared error.

    ``y`` are centred ratings ``r - mu``; ``noise`` is the fixed sigma or ``None`` (then
    ``p["log_sigma"]`` holds log sigma).  Works for numpy (``xp=np``) and PyTensor.
    """
    c = lambda x: np.asarray(x, dtype)  # noqa: E731  keep float32 graphs in float32
    err = y - forward(p, users, items, architecture, activation, xp)
    mse = (err * err).mean()
    if noise is None:
        log_sigma = p["log_sigma"]
        like = c(0.5) * mse * xp.exp(c(-2.0) * log_sigma) + log_sigma
        prior = c(0.5 / noise_prior_sd ** 2) * xp.exp(c(2.0) * log_sigma)
    else:
        like = c(0.5 / noise ** 2) * mse
        prior = c(0.0)
    for name, value in p.items():
        if name in PRIOR_OF:
            prior = prior + c(0.5 / prior_sds[PRIOR_OF[name]] ** 2) * (value * value).sum()
    return like + c(1.0 / n_total) * prior, mse


class MapStep:
    """Compiled mini-batch step: ``step(users, items, y) -> (objective, mse)`` (updates weights).

    Parameters are PyTensor shared variables in ``dtype`` (``params``: name -> shared).
    """

    def __init__(self, init: dict, n_total: int, architecture: str, activation: str,
                 prior_sds: dict, noise, noise_prior_sd: float, optimizer: str, lr: float,
                 momentum: float, dtype: str, mode=None):
        self.dtype = dtype
        self.params = {k: pytensor.shared(np.asarray(v, dtype), name=k)
                       for k, v in init.items()}
        u = pt.ivector("users")
        i = pt.ivector("items")
        y = pt.vector("y", dtype=dtype)
        loss, mse = objective(self.params, u, i, y, n_total, architecture, activation,
                              prior_sds, noise, noise_prior_sd, pt, dtype)
        shared = list(self.params.values())
        grads = pytensor.grad(loss, shared)
        if optimizer == "adam":
            updates = adam_updates(shared, grads, lr)
        else:
            updates = momentum_updates(shared, grads, lr, momentum)
        t0 = time.perf_counter()
        self.fn = pytensor.function([u, i, y], [loss, mse], updates=updates, mode=mode)
        self.fn.trust_input = True  # inputs are prepared with the exact dtypes below
        self.compile_seconds = time.perf_counter() - t0

    def __call__(self, users: np.ndarray, items: np.ndarray, y: np.ndarray):
        return self.fn(users, items, y)

    def values(self) -> dict[str, np.ndarray]:
        """Current weights as float64 numpy arrays."""
        return {k: np.asarray(v.get_value(), np.float64) for k, v in self.params.items()}
