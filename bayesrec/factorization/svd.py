"""Truncated SVD of the imputed rating matrix: the matrix-factorization <-> SVD relation.

The course's notes: fill the missing cells of the ratings matrix ``R`` (here with a baseline
``B_ui = mu + b_u + c_i``), take the rank-K truncated SVD ``X ~ U S V^T`` and read off a matrix
factorization with ``W = U S^1/2`` (user factors) and ``V = S^1/2 V^T`` (item factors,
transposed), so that ``X ~ W V``.  Predictions are ``B_ui + u_u . v_i``.

No dense matrix is ever formed (``n_users x n_items`` is 3.7e9 cells for MovieLens-20M):

* **sparse centring trick**: the imputed matrix minus the baseline is zero on every missing
  cell, so ``X - B`` is the sparse matrix of residuals ``r_ui - B_ui`` on the observed cells,
  and its SVD is what ``scipy.sparse.linalg.svds`` computes;
* optional **EM refinement** (``n_iter > 0``, "hard impute", Mazumder, Hastie & Tibshirani
  2010): re-impute the missing cells with the current rank-K fit ``L = U S V^T`` instead of 0
  and recompute the SVD.  The matrix ``P_obs(X - B - L) + L`` is sparse plus low rank, handed
  to ``svds`` as a ``LinearOperator`` (matvec ``x -> S x + U (S (V^T x))``), never densified.

The baseline (``center``):

* ``"baseline"`` (default): regularized biases in closed form, item first (Koren 2010,
  eq. 2-3): ``c_i = sum_u (r_ui - mu) / (|R(i)| + reg_bias)``, then
  ``b_u = sum_i (r_ui - mu - c_i) / (|R(u)| + reg_bias)``;
* ``"user"``: user means (``c_i = 0``), ``"item"``: item means, ``"global"``: ``mu`` only
  (the plainly mean-imputed matrix).

Deterministic given ``random_state`` (it only draws ARPACK's starting vector).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, svds

from .._validation import Boolean, Choice, Integer, RandomState, Real
from ..baseline import baseline_biases as _biases
from ..data import Ratings
from ..exceptions import ConvergenceError
from ..rng import check_random_state
from ._common import FactorModel, SparseSides, eval_rmse, factor_dots, history_frame

_CENTERS = ("baseline", "user", "item", "global")


def baseline_biases(ratings: Ratings, center: str, reg: float) -> tuple[float, np.ndarray,
                                                                          np.ndarray]:
    """``(mu, b, c)`` of the baseline ``mu + b_u + c_i`` (see module docstring); the damped
    means of :mod:`bayesrec.baseline` (``"user"`` / ``"item"``: undamped means)."""
    if center == "baseline":
        return _biases(ratings, user=True, item=True, damping=reg)
    if center == "user":
        return _biases(ratings, user=True, item=False, damping=0.0)
    if center == "item":
        return _biases(ratings, user=False, item=True, damping=0.0)
    return _biases(ratings, user=False, item=False, damping=0.0)


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
    n_iter : int
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
        Per SVD (1 + n_iter rows): ``train_rmse`` (clipped), ``test_rmse`` (if ``fit`` got an
        ``eval_set``), ``seconds``.
    """

    _checks = {"rank": Integer(), "center": Choice(*_CENTERS), "reg_bias": Real(closed="left"),
               "n_iter": Integer(low=0), "tol": Real(closed="left"),
               "random_state": RandomState(), "verbose": Boolean()}
    _test_params = {"rank": 2, "n_iter": 1}

    def __init__(self, rank: int = 10, center: str = "baseline", reg_bias: float = 10.0,
                 n_iter: int = 0, tol: float = 0.0, random_state=None,
                 verbose: bool = False):
        self.rank = rank
        self.center = center
        self.reg_bias = reg_bias
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings, eval_set) -> dict:
        p = self._validated()
        K = p["rank"]
        if K >= min(ratings.shape):
            raise ValueError(f"rank must be < min(n_users, n_items) = {min(ratings.shape)}, "
                             f"got {K}")
        rng = check_random_state(p["random_state"])
        mu, b, c = baseline_biases(ratings, p["center"], p["reg_bias"])

        sides = SparseSides(ratings)
        sides.fill_targets(mu, b, c)
        resid = sides.targets_u.copy()                # X - B on the observed cells (CSR)
        resid_data = resid.data.copy()
        with np.errstate(over="ignore"):
            finite = np.isfinite(np.dot(resid_data, resid_data))
        if not finite:  # ARPACK would fail with a message about the rank
            raise ValueError("the ratings are too large: the sum of squares of their "
                             "deviations from the baseline overflows float64; rescale them")
        v0 = rng.uniform(-1.0, 1.0, min(ratings.shape))
        rows = []
        U = s = Vt = None
        for _ in range(p["n_iter"] + 1):
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
                U, s, Vt = _svds(op, K, p["tol"], v0)
            order = np.argsort(s)[::-1]
            U, s, Vt = U[:, order], s[order], Vt[order]
            seconds = time.perf_counter() - t0
            W, V = _factors(U, s, Vt)
            err = resid_data - factor_dots(W, V, sides.u_rows, sides.u_cols)
            pred = sides.u_r - err
            if ratings.rating_scale is not None:
                pred = np.clip(pred, *ratings.rating_scale)
            row = {"train_rmse": float(np.sqrt(np.mean((sides.u_r - pred) ** 2))),
                   "seconds": seconds}
            row.update(eval_rmse(eval_set, mu, b, c, W, V))
            rows.append(row)
        return {"global_mean_": float(mu), "user_bias_": b, "item_bias_": c,
                "singular_values_": s, "user_factors_": W, "item_factors_": V,
                "history_": history_frame(rows, "iteration")}


def _factors(U, s, Vt) -> tuple[np.ndarray, np.ndarray]:
    root = np.sqrt(s)
    return U * root, Vt.T * root      # U S^1/2 and (S^1/2 V^T)^T


def _svds(op, k: int, tol: float, v0: np.ndarray):
    """``svds`` with ARPACK's failures turned into errors that name the setting to change."""
    try:
        return svds(op, k=k, tol=tol, v0=v0, solver="arpack")
    except ArpackNoConvergence:
        raise ConvergenceError(f"ARPACK did not converge for rank {k} at tol={tol:g}: raise tol or "
                         "lower rank") from None
    except ArpackError as exc:
        raise ValueError(f"ARPACK failed for rank {k} ({exc}); lower rank") from None
    except OverflowError:  # scipy scales its tolerance: tol = 1e300 overflows there
        raise ValueError(f"tol={tol:g} is too large for ARPACK; use a tolerance below 1 (0: "
                         "machine precision)") from None


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
