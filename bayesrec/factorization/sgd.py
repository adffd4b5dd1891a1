"""Stochastic-gradient matrix factorization: FunkSVD (biased MF) and SVD++.

FunkSVD (Funk 2006; Koren, Bell & Volinsky 2009), the Netflix-prize model::

    r_hat_ui = mu + b_u + c_i + p_u . q_i
    J = sum_{(u,i) observed} (r_ui - r_hat_ui)^2
        + reg (|p_u|^2 + |q_i|^2) + reg_bias (b_u^2 + c_i^2)   (penalty per visited rating)

minimized by per-rating SGD (updates in :func:`~bayesrec.factorization._sgd_kernels.funk_epoch`),
optionally with momentum (the course's Keras run used SGD with momentum).

SVD++ (Koren 2008, "Factorization meets the neighborhood", eq. 15) adds the implicit feedback
of *which* items the user rated, ``N(u)``::

    r_hat_ui = mu + b_u + c_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)

The SGD loops are compiled with numba rather than mini-batched (the reason is in
:mod:`bayesrec.factorization._sgd_kernels`); SVD++ uses an exact O(K)-per-rating rewrite of the
``y_j`` updates, so an epoch costs O(n_ratings K) instead of Surprise's
O(sum_u |N(u)|^2 K).

``mu`` is the training mean (fixed).  Randomness, all from ``random_state`` in this order: the
initial factors ``p ~ N(0, init_std^2)`` (users), ``q`` (items), ``y`` (SVD++ only), then one
visiting order per epoch.  Biases start at 0.  The learned user vector of SVD++ for prediction
is ``p_u + |N(u)|^-1/2 sum_j y_j`` with ``N(u)`` the user's training items.
"""

from __future__ import annotations

import time

import numpy as np

from ..base import check_positive
from ..data import Ratings
from ..progress import progress_bar
from ..rng import check_random_state
from ._common import FactorModel, history_frame
from ._sgd_kernels import funk_epoch, sum_squared_errors, svdpp_epoch


class _SGDBase(FactorModel):
    """Shared validation, initialization and per-epoch history of the SGD models."""

    def _check_common(self):
        self._K = check_positive("rank", self.rank, integer=True)
        self._n_epochs = check_positive("n_epochs", self.n_epochs, integer=True)
        self._init_std = check_positive("init_std", self.init_std, allow_zero=True)

    @staticmethod
    def _rate(name, value, default):
        return default if value is None else check_positive(name, value)

    @staticmethod
    def _penalty(name, value, default):
        return default if value is None else check_positive(name, value, allow_zero=True)

    @staticmethod
    def _check_diverged(model: str, epoch: int, sse: float, arrays, advice: str) -> None:
        """Raise ``FloatingPointError`` when the epoch's loss or any parameter is not finite.

        SGD with too large a step overshoots and grows without bound; stopping here keeps a
        ``nan`` model from being published (its predictions would all be ``nan``).
        """
        if np.isfinite(sse) and all(np.isfinite(a).all() for a in arrays):
            return
        raise FloatingPointError(f"{model} diverged at epoch {epoch} (the training loss or the "
                                 f"parameters are no longer finite): {advice}")

    def _record(self, ratings: Ratings, users, items, values, epoch_sse: float,
                seconds: float, penalty: float) -> dict:
        scale = ratings.rating_scale or (-np.inf, np.inf)
        sse, sse_clipped = sum_squared_errors(users, items, values, self.global_mean_,
                                              self.user_bias_, self.item_bias_,
                                              self._user_vectors(), self.item_factors_,
                                              float(scale[0]), float(scale[1]))
        row = {"loss": sse + penalty, "train_rmse": float(np.sqrt(sse_clipped / len(ratings))),
               "epoch_rmse": float(np.sqrt(epoch_sse / len(ratings))), "seconds": seconds}
        if self._eval_set is not None:
            row["test_rmse"] = self._eval_set.rmse(self)
        return row


class FunkSVD(_SGDBase):
    """Biased matrix factorization trained by SGD (Funk 2006), optionally with momentum.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    lr : float
        Learning rate of the factors.
    reg : float
        L2 penalty of the factors.
    n_epochs : int
        Passes over the training ratings.
    lr_bias, reg_bias : float, optional
        Learning rate and penalty of the biases (default: ``lr`` and ``reg``).
    momentum : float in [0, 1)
        Heavy-ball momentum (0: plain SGD, as Surprise's ``SVD``).
    biases : bool
        Learn ``b_u`` and ``c_i`` (``False``: plain Funk MF around ``mu``).
    init_std : float
        Initial factors ``~ N(0, init_std^2)``.
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
        during the epoch), ``test_rmse`` (if ``fit`` got ``test``), ``seconds``.
    """

    def __init__(self, rank: int = 10, lr: float = 0.005, reg: float = 0.02,
                 n_epochs: int = 20, lr_bias: float | None = None,
                 reg_bias: float | None = None, momentum: float = 0.0, biases: bool = True,
                 init_std: float = 0.1, shuffle: bool = True, random_state=None,
                 verbose: bool = False):
        self.rank = rank
        self.lr = lr
        self.reg = reg
        self.n_epochs = n_epochs
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.momentum = momentum
        self.biases = biases
        self.init_std = init_std
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings) -> None:
        self._check_common()
        lr = check_positive("lr", self.lr)
        reg = check_positive("reg", self.reg, allow_zero=True)
        lr_b = self._rate("lr_bias", self.lr_bias, lr)
        reg_b = self._penalty("reg_bias", self.reg_bias, reg)
        m = check_positive("momentum", self.momentum, allow_zero=True)
        if m >= 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        rng = check_random_state(self.random_state)
        K = self._K
        users = np.ascontiguousarray(ratings.users)
        items = np.ascontiguousarray(ratings.items)
        r = np.ascontiguousarray(ratings.ratings)
        self.global_mean_ = ratings.global_mean
        self.user_factors_ = rng.normal(0.0, self._init_std, (ratings.n_users, K))
        self.item_factors_ = rng.normal(0.0, self._init_std, (ratings.n_items, K))
        self.user_bias_ = np.zeros(ratings.n_users)
        self.item_bias_ = np.zeros(ratings.n_items)
        vel = [np.zeros_like(a) if m > 0 else np.zeros((0,) * a.ndim)
               for a in (self.user_bias_, self.item_bias_, self.user_factors_,
                         self.item_factors_)]
        # visiting order: a fresh permutation per epoch, or by user (the CSR order)
        fixed = None if self.shuffle else np.ascontiguousarray(ratings.csr_order, np.int64)
        rows = []
        with progress_bar(self._n_epochs, "FunkSVD", enabled=self.verbose) as bar:
            for epoch in range(self._n_epochs):
                order = rng.permutation(len(r)) if fixed is None else fixed
                t0 = time.perf_counter()
                sse = funk_epoch(users, items, r, order, self.global_mean_, self.user_bias_,
                                 self.item_bias_, self.user_factors_, self.item_factors_,
                                 lr, reg, lr_b, reg_b, m, *vel, bool(self.biases))
                seconds = time.perf_counter() - t0
                self._check_diverged(
                    "FunkSVD", epoch, sse, (self.user_bias_, self.item_bias_,
                                            self.user_factors_, self.item_factors_),
                    f"lower lr (now {lr:g}), lr_bias (now {lr_b:g})"
                    + (f" or momentum (now {m:g})" if m > 0 else ""))
                penalty = (reg * (np.sum(self.user_factors_ ** 2)
                                  + np.sum(self.item_factors_ ** 2))
                           + reg_b * (self.user_bias_ @ self.user_bias_
                                      + self.item_bias_ @ self.item_bias_))
                rows.append(self._record(ratings, users, items, r, sse, seconds, penalty))
                bar.update(rmse=rows[-1]["train_rmse"])
        self.history_ = history_frame(rows, "epoch")


class SVDpp(_SGDBase):
    """SVD++ (Koren 2008): biased MF plus the implicit term ``|N(u)|^-1/2 sum_{j in N(u)} y_j``.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    lr, reg : float
        Learning rate and penalty shared by all parameters unless overridden.
    lr_bias, reg_bias, lr_user, reg_user, lr_item, reg_item, lr_implicit, reg_implicit : float,
        optional
        Per-parameter-group overrides (biases, ``p_u``, ``q_i``, ``y_j``), as in Surprise.
    n_epochs : int
    init_std : float
        Initial ``p``, ``q``, ``y ~ N(0, init_std^2)``.
    random_state : int or numpy.random.Generator, optional
    verbose : bool

    Attributes
    ----------
    user_factors_ : ndarray (n_users, K)
        ``p_u`` (explicit part).
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

    def __init__(self, rank: int = 20, lr: float = 0.007, reg: float = 0.02,
                 n_epochs: int = 20, lr_bias=None, reg_bias=None, lr_user=None, reg_user=None,
                 lr_item=None, reg_item=None, lr_implicit=None, reg_implicit=None,
                 init_std: float = 0.1, random_state=None, verbose: bool = False):
        self.rank = rank
        self.lr = lr
        self.reg = reg
        self.n_epochs = n_epochs
        self.lr_bias = lr_bias
        self.reg_bias = reg_bias
        self.lr_user = lr_user
        self.reg_user = reg_user
        self.lr_item = lr_item
        self.reg_item = reg_item
        self.lr_implicit = lr_implicit
        self.reg_implicit = reg_implicit
        self.init_std = init_std
        self.random_state = random_state
        self.verbose = verbose

    def _user_vectors(self) -> np.ndarray:
        # p_u + |N(u)|^-1/2 sum_j y_j, cached: recommend() asks for it once per block of users
        cached = getattr(self, "_effective", None)
        if cached is None or cached[0] is not self.user_implicit_:
            cached = (self.user_implicit_, self.user_factors_ + self.user_implicit_)
            self._effective = cached
        return cached[1]

    def _update_implicit(self, pattern, norm) -> None:
        # a new array each epoch (p_u also changed in place, so the cache key must change)
        self.user_implicit_ = (pattern @ self.implicit_factors_) * norm[:, None]

    def _fit(self, ratings: Ratings) -> None:
        self._check_common()
        lr = check_positive("lr", self.lr)
        reg = check_positive("reg", self.reg, allow_zero=True)
        rates = [self._rate(n, getattr(self, n), lr)
                 for n in ("lr_bias", "lr_user", "lr_item", "lr_implicit")]
        pens = [self._penalty(n, getattr(self, n), reg)
                for n in ("reg_bias", "reg_user", "reg_item", "reg_implicit")]
        rng = check_random_state(self.random_state)
        K = self._K
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
        self.global_mean_ = ratings.global_mean
        self.user_factors_ = rng.normal(0.0, self._init_std, (ratings.n_users, K))
        self.item_factors_ = rng.normal(0.0, self._init_std, (ratings.n_items, K))
        self.implicit_factors_ = rng.normal(0.0, self._init_std, (ratings.n_items, K))
        self.user_bias_ = np.zeros(ratings.n_users)
        self.item_bias_ = np.zeros(ratings.n_items)
        rows = []
        with progress_bar(self._n_epochs, "SVD++", enabled=self.verbose) as bar:
            for epoch in range(self._n_epochs):
                # users in random order, each user's ratings in random order
                user_rank = rng.permutation(ratings.n_users)
                within = rng.permutation(len(vals))
                visit = within[np.argsort(user_rank[u_rows[within]], kind="stable")]
                t0 = time.perf_counter()
                sse = svdpp_epoch(indptr, cols, vals, visit, self.global_mean_,
                                  self.user_bias_, self.item_bias_, self.user_factors_,
                                  self.item_factors_, self.implicit_factors_,
                                  rates[0], pens[0], rates[1], pens[1], rates[2], pens[2],
                                  rates[3], pens[3])
                seconds = time.perf_counter() - t0
                self._check_diverged(
                    "SVD++", epoch, sse, (self.user_bias_, self.item_bias_, self.user_factors_,
                                          self.item_factors_, self.implicit_factors_),
                    "lower lr (now " + ", ".join(
                        f"{n}={v:g}" for n, v in zip(("lr_bias", "lr_user", "lr_item",
                                                      "lr_implicit"), rates)) + ")")
                self._update_implicit(pattern, norm)
                penalty = (pens[0] * (self.user_bias_ @ self.user_bias_
                                      + self.item_bias_ @ self.item_bias_)
                           + pens[1] * np.sum(self.user_factors_ ** 2)
                           + pens[2] * np.sum(self.item_factors_ ** 2)
                           + pens[3] * np.sum(self.implicit_factors_ ** 2))
                rows.append(self._record(ratings, u_rows32, cols, vals, sse, seconds,
                                         penalty))
                bar.update(rmse=rows[-1]["train_rmse"])
        self.history_ = history_frame(rows, "epoch")
