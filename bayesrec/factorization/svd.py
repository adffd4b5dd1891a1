"""Truncated SVD of the imputed rating matrix: the matrix-factorization <-> SVD relation.

The course's notes: fill the missing cells of the ratings matrix ``R`` (here with a baseline
``B_ij = mu + b_i + c_j``), take the rank-K truncated SVD ``X ~ U S V^T`` and read off a matrix
factorization with ``W = U S^1/2`` (user factors) and ``V = S^1/2 V^T`` (item factors,
transposed), so that ``X ~ W V``.  Predictions are ``B_ij + w_i . v_j``.

No dense matrix is ever formed (``n_users x n_items`` is 3.7e9 cells for MovieLens-20M):

* **sparse centring trick**: the imputed matrix minus the baseline is zero on every missing
  cell, so ``X - B`` is the sparse matrix of residuals ``r_ij - B_ij`` on the observed cells,
  and its SVD is what ``scipy.sparse.linalg.svds`` computes;
* optional **EM refinement** (``n_iters > 0``, "hard impute", Mazumder, Hastie & Tibshirani
  2010): re-impute the missing cells with the current rank-K fit ``L = U S V^T`` instead of 0
  and recompute the SVD.  The matrix ``P_obs(X - B - L) + L`` is sparse plus low rank, handed
  to ``svds`` as a ``LinearOperator`` (matvec ``x -> S x + U (S (V^T x))``), never densified.

The baseline (``center``):

* ``"baseline"`` (default): regularized biases in closed form, item first (Koren 2010,
  eq. 2-3): ``c_j = sum_i (r_ij - mu) / (|Omega_j| + reg_bias)``, then
  ``b_i = sum_j (r_ij - mu - c_j) / (|Psi_i| + reg_bias)``;
* ``"user"``: user means (``c_j = 0``), ``"item"``: item means, ``"global"``: ``mu`` only
  (the plainly mean-imputed matrix).

Deterministic given ``random_state`` (it only draws ARPACK's starting vector).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, svds

from ..base import check_positive
from ..data import Ratings
from ..rng import check_random_state
from ._common import FactorModel, SparseSides, factor_dots, history_frame

_CENTERS = ("baseline", "user", "item", "global")


def baseline_biases(ratings: Ratings, center: str, reg: float) -> tuple[float, np.ndarray,
                                                                          np.ndarray]:
    """``(mu, b, c)`` of the baseline ``mu + b_i + c_j`` (see module docstring)."""
    mu = ratings.global_mean
    nu = np.asarray(ratings.user_counts, np.float64)
    ni = np.asarray(ratings.item_counts, np.float64)
    b = np.zeros(ratings.n_users)
    c = np.zeros(ratings.n_items)
    if center == "baseline":
        # rows without ratings keep 0 (also when reg = 0)
        c = np.divide(ratings.item_sums() - mu * ni, ni + reg, out=np.zeros(ratings.n_items),
                      where=ni + reg > 0)
        sums = np.bincount(ratings.users, weights=ratings.ratings - mu - c[ratings.items],
                           minlength=ratings.n_users)
        b = np.divide(sums, nu + reg, out=np.zeros(ratings.n_users), where=nu + reg > 0)
    elif center == "user":
        b = np.where(nu > 0, ratings.user_sums() / np.maximum(nu, 1) - mu, 0.0)
    elif center == "item":
        c = np.where(ni > 0, ratings.item_sums() / np.maximum(ni, 1) - mu, 0.0)
    return mu, b, c


class TruncatedSVD(FactorModel):
    """Rank-K SVD of the baseline-imputed ratings matrix, as a matrix factorization.

    Parameters
    ----------
    rank : int
        Number of singular triplets K (``< min(n_users, n_items)``).
    center : {"baseline", "user", "item", "global"}
        How missing cells are imputed before the SVD (module docstring).
    reg_bias : float
        Shrinkage of the ``"baseline"`` biases.
    n_iters : int
        EM ("hard impute") refinements after the first SVD (0: the plain SVD of the imputed
        matrix).
    tol : float
        ARPACK tolerance (0: machine precision).
    random_state : int or numpy.random.Generator, optional
    verbose : bool

    Attributes
    ----------
    user_factors_ : ndarray (n_users, K)
        ``W = U S^1/2``.
    item_factors_ : ndarray (n_items, K)
        ``(S^1/2 V^T)^T``.
    singular_values_ : ndarray (K,)
        ``S``, descending.
    user_bias_, item_bias_, global_mean_ : the baseline.
    history_ : DataFrame
        Per SVD (1 + n_iters rows): ``train_rmse`` (clipped), ``test_rmse`` (if ``fit`` got
        ``test``), ``seconds``.
    """

    def __init__(self, rank: int = 10, center: str = "baseline", reg_bias: float = 10.0,
                 n_iters: int = 0, tol: float = 0.0, random_state=None,
                 verbose: bool = False):
        self.rank = rank
        self.center = center
        self.reg_bias = reg_bias
        self.n_iters = n_iters
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings) -> None:
        K = check_positive("rank", self.rank, integer=True)
        if K >= min(ratings.shape):
            raise ValueError(f"rank must be < min(n_users, n_items) = {min(ratings.shape)}, "
                             f"got {K}")
        if self.center not in _CENTERS:
            raise ValueError(f"center must be one of {_CENTERS}, got {self.center!r}")
        reg = check_positive("reg_bias", self.reg_bias, allow_zero=True)
        n_iters = check_positive("n_iters", self.n_iters, integer=True, allow_zero=True)
        tol = check_positive("tol", self.tol, allow_zero=True)
        rng = check_random_state(self.random_state)
        mu, b, c = baseline_biases(ratings, self.center, reg)
        self.global_mean_, self.user_bias_, self.item_bias_ = mu, b, c

        sides = SparseSides(ratings)
        sides.fill_targets(mu, b, c)
        resid = sides.targets_u.copy()                # X - B on the observed cells (CSR)
        resid_data = resid.data.copy()
        v0 = rng.uniform(-1.0, 1.0, min(ratings.shape))
        rows = []
        U = s = Vt = None
        for _ in range(n_iters + 1):
            t0 = time.perf_counter()
            if U is None:
                op = resid
            else:
                # P_obs(X - B - L) + L with L = U diag(s) Vt: sparse plus low rank
                fit_obs = factor_dots(U * s, Vt.T, sides.u_rows, sides.u_cols)
                S = sp.csr_matrix((resid_data - fit_obs, resid.indices, resid.indptr),
                                  shape=resid.shape)
                op = _sparse_plus_lowrank(S, U, s, Vt)
            if not resid_data.any():
                # every rating equals its baseline (constant ratings, for one): X - B = 0,
                # whose SVD is all zeros; ARPACK would stop on its zero Krylov vector
                U, s, Vt = (np.zeros((ratings.n_users, K)), np.zeros(K),
                            np.zeros((K, ratings.n_items)))
            else:
                U, s, Vt = _svds(op, K, tol, v0)
            order = np.argsort(s)[::-1]
            U, s, Vt = U[:, order], s[order], Vt[order]
            seconds = time.perf_counter() - t0
            self._set_factors(U, s, Vt)
            err = resid_data - factor_dots(self.user_factors_, self.item_factors_,
                                           sides.u_rows, sides.u_cols)
            pred = sides.u_r - err
            if ratings.rating_scale is not None:
                pred = np.clip(pred, *ratings.rating_scale)
            row = {"train_rmse": float(np.sqrt(np.mean((sides.u_r - pred) ** 2))),
                   "seconds": seconds}
            if self._eval_set is not None:
                row["test_rmse"] = self._eval_set.rmse(self)
            rows.append(row)
        self.history_ = history_frame(rows, "iteration")

    def _set_factors(self, U, s, Vt) -> None:
        root = np.sqrt(s)
        self.singular_values_ = s
        self.user_factors_ = U * root             # W = U S^1/2
        self.item_factors_ = Vt.T * root          # V = S^1/2 V^T (stored transposed)


def _svds(op, k: int, tol: float, v0: np.ndarray):
    """``svds`` with ARPACK's failures turned into errors that name the setting to change."""
    try:
        return svds(op, k=k, tol=tol, v0=v0, solver="arpack")
    except ArpackNoConvergence:
        raise ValueError(f"ARPACK did not converge for rank {k} at tol={tol:g}: raise tol or "
                         "lower rank") from None
    except ArpackError as exc:
        raise ValueError(f"ARPACK failed for rank {k} ({exc}); lower rank") from None


def _sparse_plus_lowrank(S: sp.csr_matrix, U: np.ndarray, s: np.ndarray,
                         Vt: np.ndarray) -> LinearOperator:
    """``S + U diag(s) Vt`` as a LinearOperator (never densified)."""
    St = S.T.tocsr()

    def matvec(x):
        return S @ x + U @ (s * (Vt @ x))

    def rmatvec(y):
        return St @ y + Vt.T @ (s * (U.T @ y))

    def matmat(X):
        return S @ X + U @ (s[:, None] * (Vt @ X))

    def rmatmat(Y):
        return St @ Y + Vt.T @ (s[:, None] * (U.T @ Y))

    return LinearOperator(S.shape, matvec=matvec, rmatvec=rmatvec, matmat=matmat,
                          rmatmat=rmatmat, dtype=np.float64)
