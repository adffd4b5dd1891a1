"""Conjugate Dirichlet-multinomial posterior for many sparse rows of counts.

Model (one row ``i`` of a count matrix ``C`` with ``V`` columns, rows independent)::

    theta_i ~ Dirichlet(epsilon * 1_V)                      (symmetric prior)
    c_i | theta_i ~ Multinomial(n_i, theta_i),  n_i = sum_j c_ij
    =>  theta_i | c_i ~ Dirichlet(c_i + epsilon * 1_V)      (conjugacy)

    E[theta_ij | c_i] = (c_ij + epsilon) / (n_i + epsilon V)

``epsilon = 1`` is Laplace's add-one smoothing, ``epsilon -> 0`` the maximum-likelihood
estimate ``c_ij / n_i`` (an empty row then has the limit ``1 / V``: uniform).

Sparsity.  The posterior mean is a sparse matrix plus a rank-one term,

    A = diag(s) C + l 1_V^T,   s_i = 1 / (n_i + epsilon V),   l_i = epsilon / (n_i + epsilon V),

so ``A`` is never formed: ``pi A = (pi * s) C + (pi . l) 1^T`` and ``A v = s * (C v) + l (1 . v)``
cost one sparse product each.  This is what makes a Markov chain over 10^5 states usable.

Sampling.  A Dirichlet draw is a vector of independent Gamma draws divided by its sum:
``g_ij ~ Gamma(c_ij + epsilon)``, ``theta_i = g_i / sum_j g_ij``.
:meth:`DirichletRows.sample_dense`
does exactly this (dense ``V``-vectors, fine for small ``V``).  :meth:`DirichletRows.sample_sparse`
keeps the draw sparse + rank-one by splitting each Gamma with the additivity
``Gamma(c + epsilon) = Gamma(c) + Gamma(epsilon)``:

    g_ij  ~ Gamma(c_ij)                 on the stored (observed) entries
    G0_i  ~ Gamma(epsilon V)            the total prior mass of row i, exactly distributed
    theta_i = (g_i + (G0_i / V) 1_V) / (sum_j g_ij + G0_i)

The only approximation is that the split of the prior mass ``G0_i`` across the ``V`` columns,
a ``Dirichlet(epsilon 1_V)`` vector, is replaced by its mean ``1_V / V`` (a uniform,
teleport-like term).  The draw still has exactly the posterior mean
``(c_ij + epsilon) / (n_i + epsilon V)`` for every entry, the exact distribution of the total
prior mass, and the exact distribution of the observed part; only the tiny per-entry jitter of
the prior mass is dropped (its variance is ``O(epsilon / V)`` smaller per entry than the
posterior variance of any observed entry once ``V`` is large).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from .._validation import check_indices, check_positive, check_sparse
from ..rng import check_random_state

#: Largest number of float64 entries a dense sample may hold (about 800 MB).
MAX_DENSE_ENTRIES = 100_000_000


def _as_count_matrix(counts) -> sp.csr_matrix:
    """Validate a (sparse or dense) non-negative count matrix; return float64 CSR, no zeros."""
    if sp.issparse(counts):
        c = sp.csr_matrix(check_sparse("counts", counts), dtype=np.float64, copy=True)
    else:
        arr = np.asarray(counts, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"counts must be a 2-d matrix, got shape {arr.shape}")
        c = sp.csr_matrix(arr)
    c.sum_duplicates()
    if not np.all(np.isfinite(c.data)):
        raise ValueError("counts contain NaN or infinite values")
    if (c.data < 0).any():
        raise ValueError("counts must be non-negative")
    c.eliminate_zeros()
    c.sort_indices()
    return c


def _check_epsilon(epsilon) -> float:
    """The Dirichlet concentration: a finite number >= 0 (not a bool or a string)."""
    return check_positive("epsilon", epsilon, allow_zero=True)


@dataclass
class SparseRowStochastic:
    """A row-stochastic matrix stored as ``diag(scale) W + leak 1^T`` (never densified).

    ``W`` is a sparse non-negative matrix, ``scale`` and ``leak`` are per-row vectors with
    ``scale_i * sum_j W_ij + V * leak_i = 1``.
    """

    weights: sp.csr_matrix
    scale: np.ndarray
    leak: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def vecmat(self, pi: np.ndarray) -> np.ndarray:
        """``pi @ A`` for a vector ``(R,)`` or a stack of row vectors ``(m, R)``."""
        pi = np.asarray(pi, dtype=np.float64)
        out = np.asarray(self.weights.T @ (pi * self.scale).T).T
        out += (pi @ self.leak)[..., None] if pi.ndim == 2 else pi @ self.leak
        return out

    def matvec(self, v: np.ndarray) -> np.ndarray:
        """``A @ v`` for a vector ``(V,)``."""
        v = np.asarray(v, dtype=np.float64)
        return self.scale * (self.weights @ v) + self.leak * v.sum()

    def rows(self, idx) -> np.ndarray:
        """Dense rows ``A[idx]``, shape ``(len(idx), V)``."""
        idx = check_indices("idx", idx, self.shape[0])
        out = self.weights[idx].toarray()
        out *= self.scale[idx, None]
        out += self.leak[idx, None]
        return out

    def entries(self, i, j) -> np.ndarray:
        """``A[i, j]`` for paired index arrays."""
        i, j = np.asarray(i), np.asarray(j)
        if i.shape != j.shape:
            raise ValueError(f"i and j must have the same shape, got {i.shape} and {j.shape}")
        # validated flat (a negative index would silently read from the end)
        i = check_indices("i", i.ravel(), self.shape[0]).reshape(i.shape)
        j = check_indices("j", j.ravel(), self.shape[1]).reshape(j.shape)
        w = np.asarray(self.weights[i, j]).ravel() if i.size else np.zeros(0)
        return w.reshape(i.shape) * self.scale[i] + self.leak[i]

    def toarray(self) -> np.ndarray:
        """The dense matrix (only for small ``V``)."""
        r, v = self.shape
        if r * v > MAX_DENSE_ENTRIES:
            raise ValueError(f"refusing to densify a {r} x {v} matrix")
        return self.rows(np.arange(r))


def _row_stochastic(weights: sp.csr_matrix, totals: np.ndarray, prior_mass: np.ndarray,
                    n_cols: int) -> SparseRowStochastic:
    """``(W + prior_mass/V 1^T) / (totals + prior_mass)``; an all-zero row becomes uniform."""
    denom = totals + prior_mass
    empty = denom <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(empty, 0.0, 1.0 / denom)
        leak = np.where(empty, 1.0 / n_cols, prior_mass / n_cols * scale)
    return SparseRowStochastic(weights, scale, leak)


class DirichletRows:
    """Independent ``Dirichlet(c_i + epsilon)`` posteriors, one per row of a sparse count matrix.

    Parameters
    ----------
    counts : (R, V) sparse or dense array of non-negative counts (non-integers allowed).
    epsilon : float, default 1.0
        Symmetric Dirichlet concentration per entry (``0`` allowed for the mean only; sampling and
        the evidence need ``epsilon > 0``).

    Attributes
    ----------
    counts : CSR float64 ``(R, V)``, sorted indices, explicit zeros removed.
    totals : ``(R,)`` row totals ``n_i``.
    """

    def __init__(self, counts, epsilon: float = 1.0):
        self.counts = _as_count_matrix(counts)
        self.epsilon = _check_epsilon(epsilon)
        with np.errstate(over="ignore"):  # an overflowing total is refused just below
            self.totals = np.asarray(self.counts.sum(axis=1)).ravel()
        self.n_rows, self.n_cols = self.counts.shape
        if self.n_cols == 0:
            raise ValueError("counts must have at least one column")
        if not np.isfinite(self.epsilon * self.n_cols + self.totals.max(initial=0.0)):
            # the row's total concentration n_i + epsilon V overflows: every entry would be 0
            if np.isfinite(self.epsilon * self.n_cols):  # the counts, not epsilon
                raise ValueError(f"the counts are too large: a row total "
                                 f"{self.totals.max():g} plus epsilon * {self.n_cols} "
                                 f"overflows float64")
            raise ValueError(f"epsilon={self.epsilon!r} is too large: its total over "
                             f"{self.n_cols} states overflows")
        # row index of every stored entry (for per-row sums of per-entry quantities)
        self._entry_rows = np.repeat(np.arange(self.n_rows), np.diff(self.counts.indptr))

    # ------------------------------------------------------------------ posterior mean
    def mean(self) -> SparseRowStochastic:
        """Posterior mean ``(c_ij + epsilon) / (n_i + epsilon V)`` as sparse + rank-one."""
        prior_mass = np.full(self.n_rows, self.epsilon * self.n_cols)
        return _row_stochastic(self.counts, self.totals, prior_mass, self.n_cols)

    def concentration_rows(self, idx) -> np.ndarray:
        """Dense posterior concentrations ``c_i + epsilon`` of rows ``idx``."""
        idx = check_indices("idx", idx, self.n_rows)
        return self.counts[idx].toarray() + self.epsilon

    # ------------------------------------------------------------------ sampling
    def _need_positive(self, what: str) -> None:
        if self.epsilon <= 0:
            raise ValueError(f"{what} needs epsilon > 0 (a Dirichlet with zero concentrations "
                             "is improper)")

    def sample_dense(self, n: int, rng=None, rows=None) -> np.ndarray:
        """Exact posterior draws of dense rows, shape ``(n, len(rows), V)``.

        Each row is ``Gamma(c_ij + epsilon)`` draws normalised to sum one.  Memory is
        ``n * len(rows) * V`` floats, so this is for small ``V`` (refused above
        :data:`MAX_DENSE_ENTRIES`); use :meth:`sample_sparse` for large chains.
        """
        self._need_positive("sampling")
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = check_random_state(rng)
        rows = np.arange(self.n_rows) if rows is None else np.atleast_1d(np.asarray(rows))
        if n * len(rows) * self.n_cols > MAX_DENSE_ENTRIES:
            raise ValueError(f"{n} dense draws of {len(rows)} x {self.n_cols} rows exceed "
                             f"{MAX_DENSE_ENTRIES} entries; sample fewer rows or use sample_sparse")
        alpha = self.concentration_rows(rows)
        g = rng.standard_gamma(np.broadcast_to(alpha, (n,) + alpha.shape))
        g /= g.sum(axis=-1, keepdims=True)
        return g

    def sample_sparse(self, rng=None) -> SparseRowStochastic:
        """One posterior draw kept sparse + rank-one (see the module docstring).

        ``g_ij ~ Gamma(c_ij)`` on the stored entries, ``G0_i ~ Gamma(epsilon V)``, and
        ``theta_i = (g_i + G0_i / V) / (sum_j g_ij + G0_i)``.  Same sparsity pattern as the
        counts; cost ``O(nnz + R)``.  ``epsilon = 0`` is allowed here: each row is then a
        ``Dirichlet(c_i)`` over its observed entries only (proper, as stored counts are > 0) and
        an empty row is uniform, the same convention as :meth:`mean`.
        """
        rng = check_random_state(rng)
        c = self.counts
        g = sp.csr_matrix((rng.standard_gamma(c.data), c.indices, c.indptr), shape=c.shape)
        g.has_sorted_indices = True
        totals = np.bincount(self._entry_rows, weights=g.data, minlength=self.n_rows)
        prior_mass = rng.standard_gamma(np.full(self.n_rows, self.epsilon * self.n_cols))
        return _row_stochastic(g, totals, prior_mass, self.n_cols)

    # ------------------------------------------------------------------ evidence
    def log_evidence(self, per_row: bool = False):
        """Log marginal likelihood of the observed sequence of draws (no multinomial coefficient).

        ``log p(c_i | epsilon) = lgamma(eps V) - lgamma(n_i + eps V)
        + sum_j [lgamma(c_ij + eps) - lgamma(eps)]``; zero counts contribute nothing, so the
        sum runs over stored entries only.  Maximising it over ``epsilon`` is empirical Bayes.
        """
        self._need_positive("the evidence")
        eps, v = self.epsilon, self.n_cols
        per_entry = gammaln(self.counts.data + eps) - gammaln(eps)
        entry_sums = np.bincount(self._entry_rows, weights=per_entry, minlength=self.n_rows)
        rows = gammaln(eps * v) - gammaln(self.totals + eps * v) + entry_sums
        return rows if per_row else float(rows.sum())
