"""Shared machinery of the factor models: prediction with biases, batched ridge solves, histories.

Every factor model here predicts::

    r_hat_ui = mu + b_u + c_i + u_u . v_i

with user factors ``u_u`` (``user_factors_``), item factors ``v_i`` (``item_factors_``), user and
item biases ``b_u``, ``c_i`` and global mean ``mu``.  A user (item) unknown to the training data
has ``b_u = 0`` and ``u_u = 0`` (its prior mean), so its prediction falls back to
``mu + c_i`` (``mu + b_u``), and to ``mu`` when both are unknown.

The alternating-least-squares machinery (:class:`SparseSides`, :func:`ridge_half_step`,
:func:`als_sweep`, :func:`als_run`) is shared by :class:`~bayesrec.factorization.ALS` and
:class:`~bayesrec.factorization.PMF`, whose MAP estimate is the same block coordinate descent
with separate regularization strengths.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..base import EvalSet, RatingModel
from ..data import Ratings

_CHUNK = 1 << 20  # ratings per chunk when gathering factor rows (bounds temporary memory)


# ---------------------------------------------------------------------- predictions
def factor_dots(W: np.ndarray, V: np.ndarray, users: np.ndarray, items: np.ndarray,
                chunk: int = _CHUNK) -> np.ndarray:
    """``u_u . v_i`` for index pairs, computed in chunks (memory O(chunk * K))."""
    out = np.empty(len(users))
    if W.shape[1] == 0:
        out[:] = 0.0
        return out
    for s in range(0, len(users), chunk):
        u = users[s:s + chunk]
        i = items[s:s + chunk]
        out[s:s + chunk] = np.einsum("nk,nk->n", W[u], V[i])
    return out


def biased_predict(mu: float, b: np.ndarray, c: np.ndarray, W: np.ndarray, V: np.ndarray,
                   users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``mu + b_u + c_i + u_u . v_i`` at index pairs; ``-1`` (unknown) drops that side's
    terms (its prior mean is 0)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    ku, ki = users >= 0, items >= 0
    pred = np.full(len(users), mu, dtype=np.float64)
    pred[ku] += b[users[ku]]
    pred[ki] += c[items[ki]]
    both = ku & ki
    pred[both] += factor_dots(W, V, users[both], items[both])
    return pred


def eval_rmse(eval_set: EvalSet | None, mu, b, c, W, V) -> dict:
    """``{"test_rmse": ...}`` of the biased prediction on a held-out set (empty without one)."""
    if eval_set is None:
        return {}
    return {"test_rmse": eval_set.rmse(biased_predict(mu, b, c, W, V, eval_set.users,
                                                      eval_set.items))}


class FactorModel(RatingModel):
    """Base of the biased factor models: prediction, fallback, user scoring.

    Subclasses implement ``_fit(ratings, eval_set)`` returning at least ``global_mean_``,
    ``user_bias_``, ``item_bias_``, ``user_factors_``, ``item_factors_`` and ``history_``.
    """

    # the user-side vector that multiplies the item factors (SVD++ adds its implicit term)
    def _user_vectors(self) -> np.ndarray:
        return self.user_factors_

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return biased_predict(self.global_mean_, self.user_bias_, self.item_bias_,
                              self._user_vectors(), self.item_factors_, users, items)

    def _score_users(self, users: np.ndarray, **options) -> np.ndarray:
        self._check_options(**options)
        W = self._user_vectors()
        users = np.asarray(users, dtype=np.int64)
        return (self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
                + W[users] @ self.item_factors_.T)

    def _item_embeddings(self) -> np.ndarray:
        return self.item_factors_


def history_frame(rows: list[dict], index: str) -> pd.DataFrame:
    """Loss history as a DataFrame indexed by ``iteration``/``epoch`` (1-based)."""
    df = pd.DataFrame(rows)
    df.index = pd.RangeIndex(1, len(df) + 1, name=index)
    return df


# ---------------------------------------------------------------------- ALS machinery
class SparseSides:
    """The training ratings as one by-user CSR structure, seen from both sides, built once.

    ``pattern_u`` is the ``(n_users, n_items)`` 0/1 CSR pattern and ``pattern_i`` its
    transpose, a CSC view of the same arrays (no by-item copy).  ``targets_u`` and
    ``targets_i`` likewise share one data buffer holding ``r_ui - mu - b_u - c_i``
    (:meth:`fill_targets`).  Products with the item-side views run scipy's CSC kernel, which
    reads the dense user-side operand row by row and scatters into the (smaller) item-side
    result: better memory locality than a by-item CSR at MovieLens-20M scale, and half the
    index memory.
    """

    def __init__(self, ratings: Ratings):
        csr = ratings.csr
        self.n_users, self.n_items = ratings.shape
        self.user_counts = np.asarray(ratings.user_counts, np.float64)
        self.item_counts = np.asarray(ratings.item_counts, np.float64)
        self.u_indptr, self.u_cols, self.u_r = csr.indptr, csr.indices, csr.data
        self.u_rows = np.repeat(np.arange(self.n_users, dtype=np.int32),
                                np.diff(self.u_indptr))
        self.pattern_u, self.pattern_i = self._views(np.ones(len(self.u_r)))
        # target buffer overwritten in place (building a scipy matrix re-validates all
        # indices, an O(nnz) pass per call)
        self.targets_u, self.targets_i = self._views(np.empty(len(self.u_r)))

    def _views(self, data: np.ndarray) -> tuple[sp.csr_matrix, sp.csc_matrix]:
        by_user = sp.csr_matrix((data, self.u_cols, self.u_indptr),
                                shape=(self.n_users, self.n_items))
        by_user.has_sorted_indices = True
        by_item = by_user.T                  # the CSC of the transpose: same three arrays
        by_item.data, by_item.indices, by_item.indptr = (by_user.data, by_user.indices,
                                                         by_user.indptr)
        return by_user, by_item

    def item_rows_csr(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """By-item CSR copies ``(pattern, targets)`` for row-blocked solves (large K only).

        Slicing rows of the CSC view would be O(nnz) per block, so the by-item layout is built
        once on first use; its targets are gathered from the shared buffer on every call.
        """
        if not hasattr(self, "_item_order"):
            self._item_order = np.argsort(self.u_cols, kind="stable")
            counts = np.bincount(self.u_cols, minlength=self.n_items)
            indptr = np.zeros(self.n_items + 1, np.int64)
            np.cumsum(counts, out=indptr[1:])
            rows = self.u_rows[self._item_order]
            self._pattern_i_csr = sp.csr_matrix((np.ones(len(rows)), rows, indptr),
                                                shape=(self.n_items, self.n_users))
            self._targets_i_csr = sp.csr_matrix((np.empty(len(rows)), rows, indptr),
                                                shape=(self.n_items, self.n_users))
        np.take(self.targets_u.data, self._item_order, out=self._targets_i_csr.data)
        return self._pattern_i_csr, self._targets_i_csr

    def fill_targets(self, mu, b, c) -> None:
        """Set ``targets_u`` / ``targets_i`` to ``r_ui - mu - b_u - c_i``."""
        buf = self.targets_u.data
        np.subtract(self.u_r, mu, out=buf)
        buf -= b[self.u_rows]
        buf -= c[self.u_cols]

    def sse(self, mu, b, c, W, V, scale=None) -> tuple[float, float]:
        """Sum of squared residuals of ``mu + b_u + c_i + u_u . v_i`` (raw and with predictions
        clipped to ``scale``), one compiled pass without O(nnz K) temporaries."""
        from ._sgd_kernels import sum_squared_errors
        lo, hi = scale if scale is not None else (-np.inf, np.inf)
        return sum_squared_errors(self.u_rows, self.u_cols, self.u_r, float(mu), b, c,
                                  np.ascontiguousarray(W), np.ascontiguousarray(V),
                                  float(lo), float(hi))


_BLAS_CONTROLLER = None


def _single_threaded_blas():
    """Context limiting BLAS/LAPACK to one thread during the batched solve.

    ``numpy.linalg.solve`` on a stack calls LAPACK once per small ``K x K`` matrix; extra
    BLAS threads only add synchronization there, and with busy cores they stall (measured
    on 2 busy cores at K=100: 0.72 s vs 0.12 s for 2000 systems).  Uses threadpoolctl,
    which PyMC already requires; a no-op if it is missing.
    """
    global _BLAS_CONTROLLER
    try:
        if _BLAS_CONTROLLER is None:
            from threadpoolctl import ThreadpoolController
            _BLAS_CONTROLLER = ThreadpoolController()
        return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl ships with PyMC
        return contextlib.nullcontext()


def ridge_half_step(pattern, targets, F: np.ndarray, own_bias: np.ndarray,
                    counts: np.ndarray, reg: float, reg_bias: float, biases: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """One side of an ALS iteration: every row's factors, then every row's bias, exactly.

    With ``targets`` holding ``t_ij = r_ij - mu - b_i - c_j`` (current biases) and the other
    side's factors ``F`` fixed, for each row ``i`` (observed set ``Psi_i``)::

        w_i = (sum_{j in Psi_i} f_j f_j^T + reg I)^{-1} sum_{j in Psi_i} t_ij f_j
        b_i = sum_{j in Psi_i} (r_ij - w_i . f_j - c_j - mu) / (|Psi_i| + reg_bias)
            = (sum_j t_ij + |Psi_i| b_i - w_i . sum_j f_j) / (|Psi_i| + reg_bias)

    The ``(n, K, K)`` Gram matrices come from ONE sparse product of the 0/1 pattern with the
    outer products ``f_j f_j^T`` (the ``K(K+1)/2`` upper-triangle columns, then mirrored by a
    gather; ``sum_j f_j`` rides along as ``K`` extra columns), the right-hand sides and
    ``sum_j t_ij`` from one product ``targets @ [F, 1]``, and the systems are solved by one
    batched ``numpy.linalg.solve``.  A row without observations gets ``w_i = 0``, ``b_i = 0``.
    Returns ``(W, b)`` (``b`` is ``own_bias`` unchanged when ``biases`` is false).
    """
    n_rows = pattern.shape[0]
    K = F.shape[1]
    iu, ju = np.triu_indices(K)
    m = len(iu)
    left = [F[:, iu] * F[:, ju]] + ([F] if biases else [])
    right = [F] + ([np.ones((F.shape[0], 1))] if biases else [])
    left = np.hstack(left)
    P = pattern @ left if left.shape[1] else np.zeros((n_rows, 0))
    Q = targets @ np.hstack(right)
    if K:
        packed = np.empty((K, K), np.int64)
        packed[iu, ju] = np.arange(m)
        packed[ju, iu] = np.arange(m)
        G = np.take(P, packed.ravel(), axis=1)           # (n_rows, K*K), symmetric
        G[:, ::K + 1] += reg                              # the diagonal entries
        with _single_threaded_blas():
            G = G.reshape(n_rows, K, K)
            try:
                W = np.linalg.solve(G, Q[:, :K, None])[..., 0]
            except np.linalg.LinAlgError:
                W = None
            if W is None or not np.isfinite(W).all():
                # reg ~ 0 and a row with fewer ratings than K: the system is singular; its
                # minimum-norm solution is the reg -> 0 limit of the ridge solution
                W = (np.linalg.pinv(G, hermitian=True) @ Q[:, :K, None])[..., 0]
        del G
    else:
        W = np.zeros((n_rows, 0))
    if not biases:
        return W, own_bias
    fsum = P[:, m:m + K]
    num = Q[:, K] + counts * own_bias - np.einsum("nk,nk->n", W, fsum)
    den = counts + reg_bias
    # a row without observations keeps its prior mean 0 (also when reg_bias = 0)
    b = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return W, b


@dataclass
class ALSState:
    """Parameters during alternating least squares."""

    mu: float
    b: np.ndarray   # user biases
    c: np.ndarray   # item biases
    W: np.ndarray   # user factors (n_users, K)
    V: np.ndarray   # item factors (n_items, K)


def als_objective(sides: SparseSides, st: ALSState, reg_w: float, reg_v: float,
                  reg_b: float, reg_c: float, scale=None) -> tuple[float, float]:
    """``J = sum err^2 + reg_w |W|^2 + reg_v |V|^2 + reg_b |b|^2 + reg_c |c|^2``, and the sum
    of squared errors of the predictions clipped to ``scale``."""
    sse, sse_clipped = sides.sse(st.mu, st.b, st.c, st.W, st.V, scale)
    J = (sse + reg_w * float(np.sum(st.W ** 2)) + reg_v * float(np.sum(st.V ** 2))
         + reg_b * float(st.b @ st.b) + reg_c * float(st.c @ st.c))
    return J, sse_clipped


_GRAM_BUDGET = 1 << 28   # bytes of Gram workspace per block of rows (256 MB)


def _rows_per_block(K: int) -> int:
    # packed products, the full Gram matrices and LAPACK's copy: about 3 K^2 doubles per row
    return max(256, _GRAM_BUDGET // (8 * 3 * max(K, 1) ** 2))


def ridge_side(pattern: sp.csr_matrix, targets: sp.csr_matrix, F, own_bias, counts, reg,
               reg_bias, biases, block: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ridge_half_step` over blocks of ``block`` rows (CSR inputs), so the
    ``(rows, K, K)`` workspace stays bounded for large K; one block when it all fits."""
    n = pattern.shape[0]
    if n <= block:
        return ridge_half_step(pattern, targets, F, own_bias, counts, reg, reg_bias, biases)
    parts = [ridge_half_step(pattern[s:s + block], targets[s:s + block], F,
                             own_bias[s:s + block], counts[s:s + block], reg, reg_bias, biases)
             for s in range(0, n, block)]
    return np.concatenate([w for w, _ in parts]), np.concatenate([b for _, b in parts])


def als_sweep(sides: SparseSides, st: ALSState, reg_w: float, reg_v: float, reg_b: float,
              reg_c: float, biases: bool) -> None:
    """One iteration of exact block coordinate descent: W, then b, then V, then c.

    Each block update is the exact minimizer of the objective of :func:`als_objective` given
    the other blocks, so the objective never increases.  All rows of a side are solved at
    once unless their ``(rows, K, K)`` workspace would exceed ``_GRAM_BUDGET`` (large K):
    then in blocks of rows.
    """
    block = _rows_per_block(st.W.shape[1])
    sides.fill_targets(st.mu, st.b, st.c)
    st.W, st.b = ridge_side(sides.pattern_u, sides.targets_u, st.V, st.b, sides.user_counts,
                            reg_w, reg_b, biases, block)
    sides.fill_targets(st.mu, st.b, st.c)
    if sides.n_items <= block:
        st.V, st.c = ridge_half_step(sides.pattern_i, sides.targets_i, st.W, st.c,
                                     sides.item_counts, reg_v, reg_c, biases)
    else:
        pattern, targets = sides.item_rows_csr()
        st.V, st.c = ridge_side(pattern, targets, st.W, st.c, sides.item_counts, reg_v, reg_c,
                                biases, block)


def als_run(ratings: Ratings, st: ALSState, n_iter: int,
            regs: tuple[float, float, float, float], biases: bool, description: str,
            verbose: bool, eval_set: EvalSet | None = None, loss_name: str = "loss",
            loss_scale: float = 1.0, tol: float = 0.0) -> pd.DataFrame:
    """Run up to ``n_iter`` sweeps, updating ``st`` in place; returns the history.

    History columns: ``loss_name`` (``loss_scale`` times the objective of
    :func:`als_objective`), ``train_rmse`` (clipped predictions), ``test_rmse`` (with an
    ``eval_set``), ``seconds`` (the sweep alone).  Stops once the relative decrease of the
    objective, ``(J_prev - J) / J``, is at most ``tol`` (``tol=0``: runs all ``n_iter``).
    """
    from ..exceptions import ConvergenceError
    from ..progress import progress_bar

    sides = SparseSides(ratings)
    rows, prev = [], np.inf
    with progress_bar(n_iter, description, enabled=verbose) as bar:
        for _ in range(n_iter):
            t0 = time.perf_counter()
            als_sweep(sides, st, *regs, biases=biases)
            seconds = time.perf_counter() - t0
            J, sse_clipped = als_objective(sides, st, *regs, scale=ratings.rating_scale)
            if not np.isfinite(J):
                raise ConvergenceError(f"{description}: the objective became non-finite; "
                                       "check the ratings and the regularization")
            loss = loss_scale * J
            row = {loss_name: loss, "train_rmse": float(np.sqrt(sse_clipped / len(sides.u_r))),
                   "seconds": seconds}
            row.update(eval_rmse(eval_set, st.mu, st.b, st.c, st.W, st.V))
            rows.append(row)
            bar.update(rmse=row["train_rmse"])
            converged = np.isfinite(prev) and prev - loss <= tol * abs(loss)
            prev = loss
            if tol > 0 and converged:
                break
    return history_frame(rows, "iteration")


def learned_factors(st: ALSState) -> dict:
    """The learned attributes of a factor model from its state."""
    return {"global_mean_": float(st.mu), "user_bias_": st.b, "item_bias_": st.c,
            "user_factors_": st.W, "item_factors_": st.V}
