"""Stochastic-gradient matrix factorization: FunkSVD (biased MF) and SVD++.

FunkSVD (Funk 2006; Koren, Bell & Volinsky 2009), the Netflix-prize model::

    r_hat_ui = mu + b_u + c_i + u_u . v_i
    J = sum_{(u,i) observed} (r_ui - r_hat_ui)^2
        + reg (|u_u|^2 + |v_i|^2) + reg_bias (b_u^2 + c_i^2)   (penalty per visited rating)

minimized by per-rating SGD (updates in :func:`~bayesrec.factorization._sgd_kernels.funk_epoch`),
optionally with momentum (the course's Keras run used SGD with momentum).

SVD++ (Koren 2008, "Factorization meets the neighborhood", eq. 15) adds the implicit feedback
of *which* items the user rated, ``N(u)``::

    r_hat_ui = mu + b_u + c_i + v_i . (u_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)

The SGD loops are compiled with numba rather than mini-batched (the reason is in
:mod:`bayesrec.factorization._sgd_kernels`); SVD++ uses an exact O(K)-per-rating rewrite of the
``y_j`` updates, so an epoch costs O(n_ratings K) instead of Surprise's
O(sum_u |N(u)|^2 K).

``mu`` is the training mean (fixed).  Randomness, all from ``random_state`` in this order: the
initial factors ``u ~ N(0, init_scale^2)`` (users), ``v`` (items), ``y`` (SVD++ only), then one
visiting order per epoch.  Biases start at 0.  The learned user vector of SVD++ for prediction
is ``u_u + |N(u)|^-1/2 sum_j y_j`` with ``N(u)`` the user's training items.
"""

from __future__ import annotations

import time

import numpy as np

from .._validation import Boolean, Integer, OptionalCheck, RandomState, Real
from ..data import Ratings
from ..exceptions import ConvergenceError
from ..progress import progress_bar
from ..rng import check_random_state
from ._common import FactorModel, eval_rmse, history_frame
from ._sgd_kernels import funk_epoch, sum_squared_errors, svdpp_epoch

_RATE = OptionalCheck(Real())
_PENALTY = OptionalCheck(Real(closed="left"))


def _record(ratings: Ratings, users, items, values, mu, b, c, W, V, epoch_sse: float,
            seconds: float, penalty: float, eval_set, lr_name: str) -> dict:
    """One row of the per-epoch history; refuses a diverged fit (non-finite loss)."""
    scale = ratings.rating_scale or (-np.inf, np.inf)
    sse, sse_clipped = sum_squared_errors(users, items, values, mu, b, c, W, V,
                                          float(scale[0]), float(scale[1]))
    loss = sse + penalty
    if not np.isfinite(loss):
        raise ConvergenceError(f"SGD diverged (non-finite loss); lower {lr_name}, or check "
                               "reg (each step shrinks by 1 - lr * reg, which must stay in "
                               "(0, 1)), init_scale and the size of the ratings")
    row = {"loss": loss, "train_rmse": float(np.sqrt(sse_clipped / len(ratings))),
           "epoch_rmse": float(np.sqrt(epoch_sse / len(ratings))), "seconds": seconds}
    row.update(eval_rmse(eval_set, mu, b, c, W, V))
    return row


class FunkSVD(FactorModel):
    """Biased matrix factorization trained by SGD (Funk 2006), optionally with momentum.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    lr : float
        Learning rate of the factors.
    reg : float
        L2 penalty of the factors.
    n_iter : int
        Epochs: passes over the training ratings.
    lr_bias, reg_bias : float, optional
        Learning rate and penalty of the biases (default: ``lr`` and ``reg``).
    momentum : float in [0, 1)
        Heavy-ball momentum (0: plain SGD, as Surprise's ``SVD``).
    biases : bool
        Learn ``b_u`` and ``c_i`` (``False``: plain Funk MF around ``mu``).
    init_scale : float
        Initial factors ``~ N(0, init_scale^2)``.
    shuffle : bool
        Visit the ratings in a fresh random order each epoch (``False``: by user, like
        Surprise).
    random_state : int or numpy.random.Generator, optional
    verbose : bool

    Attributes
    ----------
    user_factors_, item_factors_, user_bias_, item_bias_, global_mean_
    history_ : DataFrame
        Per epoch: ``loss`` (J with the penalty of the final parameters, end of epoch),
        ``train_rmse`` (end of epoch, clipped predictions), ``epoch_rmse`` (running error
        during the epoch), ``test_rmse`` (if ``fit`` got an ``eval_set``), ``seconds``.
    """

    _checks = {"rank": Integer(), "lr": Real(), "reg": Real(closed="left"),
               "n_iter": Integer(), "lr_bias": _RATE, "reg_bias": _PENALTY,
               "momentum": Real(0.0, 1.0, closed="left"), "biases": Boolean(),
               "init_scale": Real(closed="left"), "shuffle": Boolean(),
               "random_state": RandomState(), "verbose": Boolean()}
    _test_params = {"rank": 3, "n_iter": 2}

    def __init__(self, rank: int = 10, lr: float = 0.005, reg: float = 0.02,
                 n_iter: int = 20, lr_bias: float | None = None,
                 reg_bias: float | None = None, momentum: float = 0.0, biases: bool = True,
                 init_scale: float = 0.1, shuffle: bool = True, random_state=None,
                 verbose: bool = False):
        self.rank = rank
        self.lr = lr
        self.reg = reg
        self.n_iter = n_iter
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.momentum = momentum
        self.biases = biases
        self.init_scale = init_scale
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings, eval_set) -> dict:
        p = self._validated()
        K, lr, reg, m = p["rank"], p["lr"], p["reg"], p["momentum"]
        lr_b = lr if p["lr_bias"] is None else p["lr_bias"]
        reg_b = reg if p["reg_bias"] is None else p["reg_bias"]
        rng = check_random_state(p["random_state"])
        users = np.ascontiguousarray(ratings.users)
        items = np.ascontiguousarray(ratings.items)
        r = np.ascontiguousarray(ratings.ratings)
        mu = ratings.global_mean
        P = rng.normal(0.0, p["init_scale"], (ratings.n_users, K))
        Q = rng.normal(0.0, p["init_scale"], (ratings.n_items, K))
        bu = np.zeros(ratings.n_users)
        bi = np.zeros(ratings.n_items)
        vel = [np.zeros_like(a) if m > 0 else np.zeros((0,) * a.ndim)
               for a in (bu, bi, P, Q)]
        # visiting order: a fresh permutation per epoch, or by user (the CSR order)
        fixed = None if p["shuffle"] else np.ascontiguousarray(ratings.csr_order, np.int64)
        rows = []
        with progress_bar(p["n_iter"], "FunkSVD", enabled=p["verbose"]) as bar:
            for _ in range(p["n_iter"]):
                order = rng.permutation(len(r)) if fixed is None else fixed
                t0 = time.perf_counter()
                sse = funk_epoch(users, items, r, order, mu, bu, bi, P, Q,
                                 lr, reg, lr_b, reg_b, m, *vel, p["biases"])
                seconds = time.perf_counter() - t0
                penalty = (reg * (np.sum(P ** 2) + np.sum(Q ** 2))
                           + reg_b * (bu @ bu + bi @ bi))
                rows.append(_record(ratings, users, items, r, mu, bu, bi, P, Q, sse, seconds,
                                    penalty, eval_set, "lr"))
                bar.update(rmse=rows[-1]["train_rmse"])
        return {"global_mean_": float(mu), "user_factors_": P, "item_factors_": Q,
                "user_bias_": bu, "item_bias_": bi, "history_": history_frame(rows, "epoch")}


class SVDpp(FactorModel):
    """SVD++ (Koren 2008): biased MF plus the implicit term ``|N(u)|^-1/2 sum_{j in N(u)} y_j``.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    lr, reg : float
        Learning rate and penalty shared by all parameters unless overridden.
    lr_bias, reg_bias, lr_user, reg_user, lr_item, reg_item, lr_implicit, reg_implicit : float,
        optional
        Per-parameter-group overrides (biases, ``u_u``, ``v_i``, ``y_j``), as in Surprise.
    n_iter : int
        Epochs.
    init_scale : float
        Initial ``u``, ``v``, ``y ~ N(0, init_scale^2)``.
    random_state : int or numpy.random.Generator, optional
    verbose : bool

    Attributes
    ----------
    user_factors_ : ndarray (n_users, K)
        ``u_u`` (explicit part).
    implicit_factors_ : ndarray (n_items, K)
        ``y_j``.
    user_implicit_ : ndarray (n_users, K)
        ``|N(u)|^-1/2 sum_{j in N(u)} y_j`` on the training items.
    item_factors_, user_bias_, item_bias_, global_mean_, history_ : as in :class:`FunkSVD`.

    Notes
    -----
    Each epoch visits the users in a random order and each user's ratings in a random order
    (grouping by user is what makes the O(K) implicit update exact); Surprise visits users in
    a fixed order.
    """

    _checks = {"rank": Integer(), "lr": Real(), "reg": Real(closed="left"),
               "n_iter": Integer(), "lr_bias": _RATE, "reg_bias": _PENALTY,
               "lr_user": _RATE, "reg_user": _PENALTY, "lr_item": _RATE, "reg_item": _PENALTY,
               "lr_implicit": _RATE, "reg_implicit": _PENALTY,
               "init_scale": Real(closed="left"), "random_state": RandomState(),
               "verbose": Boolean()}
    _test_params = {"rank": 3, "n_iter": 2}

    def __init__(self, rank: int = 20, lr: float = 0.007, reg: float = 0.02,
                 n_iter: int = 20, lr_bias=None, reg_bias=None, lr_user=None, reg_user=None,
                 lr_item=None, reg_item=None, lr_implicit=None, reg_implicit=None,
                 init_scale: float = 0.1, random_state=None, verbose: bool = False):
        self.rank = rank
        self.lr = lr
        self.reg = reg
        self.n_iter = n_iter
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.lr_user = lr_user
        self.reg_user = reg_user
        self.lr_item = lr_item
        self.reg_item = reg_item
        self.lr_implicit = lr_implicit
        self.reg_implicit = reg_implicit
        self.init_scale = init_scale
        self.random_state = random_state
        self.verbose = verbose

    def _user_vectors(self) -> np.ndarray:
        # u_u + |N(u)|^-1/2 sum_j y_j, cached: recommend() asks for it once per block of users
        cached = vars(self).get("_effective")
        if cached is None or cached[0] is not self.user_implicit_:
            cached = (self.user_implicit_, self.user_factors_ + self.user_implicit_)
            self._effective = cached
        return cached[1]

    def _fit(self, ratings: Ratings, eval_set) -> dict:
        p = self._validated()
        lr, reg, K = p["lr"], p["reg"], p["rank"]
        rates = [lr if p[n] is None else p[n]
                 for n in ("lr_bias", "lr_user", "lr_item", "lr_implicit")]
        pens = [reg if p[n] is None else p[n]
                for n in ("reg_bias", "reg_user", "reg_item", "reg_implicit")]
        rng = check_random_state(p["random_state"])
        csr = ratings.csr
        indptr = np.ascontiguousarray(csr.indptr, np.int64)
        cols = np.ascontiguousarray(csr.indices)
        vals = np.ascontiguousarray(csr.data)
        counts = np.diff(indptr)
        u_rows = np.repeat(np.arange(ratings.n_users), counts)
        u_rows32 = u_rows.astype(np.int32)
        norm = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
        pattern = csr.copy()
        pattern.data = np.ones_like(pattern.data)
        mu = ratings.global_mean
        P = rng.normal(0.0, p["init_scale"], (ratings.n_users, K))
        Q = rng.normal(0.0, p["init_scale"], (ratings.n_items, K))
        Y = rng.normal(0.0, p["init_scale"], (ratings.n_items, K))
        bu = np.zeros(ratings.n_users)
        bi = np.zeros(ratings.n_items)
        implicit = np.zeros((ratings.n_users, K))
        rows = []
        with progress_bar(p["n_iter"], "SVD++", enabled=p["verbose"]) as bar:
            for _ in range(p["n_iter"]):
                # users in random order, each user's ratings in random order
                user_rank = rng.permutation(ratings.n_users)
                within = rng.permutation(len(vals))
                visit = within[np.argsort(user_rank[u_rows[within]], kind="stable")]
                t0 = time.perf_counter()
                sse = svdpp_epoch(indptr, cols, vals, visit, mu, bu, bi, P, Q, Y,
                                  rates[0], pens[0], rates[1], pens[1], rates[2], pens[2],
                                  rates[3], pens[3])
                seconds = time.perf_counter() - t0
                implicit = (pattern @ Y) * norm[:, None]
                penalty = (pens[0] * (bu @ bu + bi @ bi) + pens[1] * np.sum(P ** 2)
                           + pens[2] * np.sum(Q ** 2) + pens[3] * np.sum(Y ** 2))
                rows.append(_record(ratings, u_rows32, cols, vals, mu, bu, bi, P + implicit,
                                    Q, sse, seconds, penalty, eval_set, "lr"))
                bar.update(rmse=rows[-1]["train_rmse"])
        return {"global_mean_": float(mu), "user_factors_": P, "item_factors_": Q,
                "implicit_factors_": Y, "user_implicit_": implicit, "user_bias_": bu,
                "item_bias_": bi, "history_": history_frame(rows, "epoch")}
