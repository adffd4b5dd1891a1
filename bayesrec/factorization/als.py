"""Alternating least squares with biases: the course's matrix-factorization baseline.

Prediction and objective (Koren, Bell & Volinsky 2009; the course's "Matrix Factorization"
chapter)::

    r_hat_ij = mu + b_i + c_j + w_i . u_j
    J = sum_{(i,j) observed} (r_ij - r_hat_ij)^2
        + reg * (sum_i |w_i|^2 + sum_j |u_j|^2 + sum_i b_i^2 + sum_j c_j^2)

with ``mu`` fixed at the training mean.  Each iteration sets, in order, every block to its exact
minimizer given the others (so ``J`` never increases)::

    w_i = (sum_{j in Psi_i} u_j u_j^T + reg I)^{-1} sum_{j in Psi_i} (r_ij - b_i - c_j - mu) u_j
    b_i = sum_{j in Psi_i} (r_ij - w_i . u_j - c_j - mu) / (|Psi_i| + reg)
    u_j = (sum_{i in Omega_j} w_i w_i^T + reg I)^{-1} sum_{i in Omega_j} (r_ij - b_i - c_j - mu) w_i
    c_j = sum_{i in Omega_j} (r_ij - w_i . u_j - b_i - mu) / (|Omega_j| + reg)

Vectorized: per side, the ``(n, K, K)`` Gram matrices are one sparse product (0/1 pattern times
the item-wise outer products ``u_j u_j^T``, with ``sum_j u_j`` for the bias step riding along),
the right-hand sides and residual sums another (``targets @ [U, 1]``), then one batched
``numpy.linalg.solve`` (see :func:`bayesrec.factorization._common.ridge_half_step`).  No loop per
user or item: a MovieLens-20M-sized iteration at K=10 is four sparse products over 20M
entries (about 13 s and 0.7 GB above the data on the shared 2-core machine; see
``experiments/bench_mf.py``).  For large K the rows are solved in blocks so the Gram
workspace stays under 256 MB.  ``rank=0`` gives the biases-only regularized baseline.
"""

from __future__ import annotations

import numpy as np

from .._validation import Boolean, Integer, RandomState, Real
from ..data import Ratings
from ..rng import check_random_state
from ._common import ALSState, FactorModel, als_run, learned_factors


class ALS(FactorModel):
    """Biased matrix factorization fitted by alternating least squares.

    Parameters
    ----------
    rank : int
        Latent dimension K (0: biases only).
    reg : float
        L2 regularization of factors and biases (the course's lambda).
    n_iter : int
        Maximum number of sweeps (each updates U, b, V, c once).
    tol : float
        Stop when the relative decrease of the objective ``(J_prev - J) / J`` falls to
        ``tol`` or below (0 runs all ``n_iter`` sweeps).
    biases : bool
        Learn ``b_u`` and ``c_i``; ``False`` keeps them at 0 (``mu`` is still subtracted).
    init_scale : float
        Item factors start as ``rng.normal(0, init_scale, (n_items, K))`` (the first and only
        draw from ``random_state``); user factors are solved first.
    random_state : int or numpy.random.Generator, optional
    verbose : bool
        Show a progress bar.

    Attributes
    ----------
    user_factors_, item_factors_, user_bias_, item_bias_, global_mean_
    history_ : DataFrame
        Per iteration: ``loss`` (J), ``train_rmse``, ``test_rmse`` (if ``fit`` got an
        ``eval_set``), ``seconds`` (time of the sweep alone).
    n_iter_ : int
        Sweeps run.
    """

    _checks = {"rank": Integer(low=0), "reg": Real(), "n_iter": Integer(),
               "tol": Real(closed="left"), "biases": Boolean(), "init_scale": Real(),
               "random_state": RandomState(), "verbose": Boolean()}
    _test_params = {"rank": 3, "n_iter": 3}

    def __init__(self, rank: int = 10, reg: float = 20.0, n_iter: int = 25,
                 tol: float = 0.0, biases: bool = True, init_scale: float = 0.1,
                 random_state=None, verbose: bool = False):
        self.rank = rank
        self.reg = reg
        self.n_iter = n_iter
        self.tol = tol
        self.biases = biases
        self.init_scale = init_scale
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings, eval_set) -> dict:
        p = self._validated()
        K = p["rank"]
        if K == 0 and not p["biases"]:
            raise ValueError("rank=0 with biases=False leaves nothing to learn")
        rng = check_random_state(p["random_state"])
        st = ALSState(mu=ratings.global_mean, b=np.zeros(ratings.n_users),
                      c=np.zeros(ratings.n_items), W=np.zeros((ratings.n_users, K)),
                      V=rng.normal(0.0, p["init_scale"], (ratings.n_items, K)))
        reg = p["reg"]
        history = als_run(ratings, st, p["n_iter"], (reg, reg, reg, reg), p["biases"], "ALS",
                          p["verbose"], eval_set, tol=p["tol"])
        return {**learned_factors(st), "history_": history, "n_iter_": len(history)}
