"""PageRank as the stationary distribution of a smoothed random surfer, with a posterior.

The course's Google matrix is ``G = alpha P + (1 - alpha) 1 p^T``: with probability ``alpha``
(the damping, 0.85) the surfer follows an out-link of the current page ``i`` in proportion to
its weight, ``P_ij = w_ij / sum_k w_ik``; otherwise she teleports to a page drawn from the
personalization vector ``p`` (uniform by default).  A dangling page (no out-links) sends its
whole mass to the ``dangling`` distribution (``p`` by default), exactly as
``networkx.pagerank`` does.  PageRank is the stationary distribution ``x = x G``, found by the
power iteration (Page, Brin, Motwani & Winograd 1999; Langville & Meyer 2004)::

    x_{t+1} = alpha (x_t P + (x_t . dangling_mask) d) + (1 - alpha) p,      x_0 = 1 / N,

stopped when ``||x_{t+1} - x_t||_1 < tol``.  ``G`` is never formed: one step is one sparse
product with ``P^T`` (stored once as the CSR of ``W^T``; the row normalisation is applied to the
small vector ``x``, not to the matrix) plus rank-one corrections.  The step is a single fused
numba loop (SpMV, teleport, L1 change and the next scaled vector in one pass, no temporaries)
because NumPy/SciPy would need five passes over length-``N`` arrays per step.  For an
unweighted graph (all weights 1) only the sparsity pattern of ``W^T`` is built (a numba
counting sort, half the memory traffic of SciPy's ``tocsc``) and the kernel never reads
weights; indices are unsigned 32-bit whenever they fit.

Stopping rule.  ``tol`` bounds the *absolute* L1 change, so the error of the result is at most
``tol * alpha / (1 - alpha)`` whatever ``N`` is.  ``networkx.pagerank`` instead stops when the
change is below ``N * tol``: at ``N = 10^6`` its default ``tol = 1e-6`` accepts an L1 change of
1, i.e. it stops after the first step with errors near 100%.  Compare with networkx run at
``tol = 1e-14`` (which is our ``tol = N * 1e-14``).

Posterior.  :func:`pagerank_posterior` treats page ``i``'s observed clicks ``c_i`` as
multinomial data with a ``Dirichlet(prior / N * 1_N)`` prior, so its transition row has
posterior ``Dirichlet(c_i + prior / N)``; each posterior draw of the click matrix gives one
PageRank vector, and their spread gives credible intervals per page.  Draws stay sparse +
rank-one (see :mod:`bayesrec.inference.dirichlet`): ``g_ij ~ Gamma(c_ij)`` on observed links and
the row's total prior mass ``G0_i ~ Gamma(prior)`` is spread uniformly, like a teleport term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import check_bool, check_positive, check_probability, check_sparse
from .exceptions import ConvergenceError
from .inference.dirichlet import DirichletRows
from .rng import check_random_state


class PowerIterationFailedConvergence(ConvergenceError):
    """The power iteration did not reach ``tol`` within ``max_iter`` steps."""


# --------------------------------------------------------------------------- kernels
def _make_kernel(weighted: bool, dangling_leak: bool):
    """A fused power iteration.

    ``weighted=False`` never reads the CSR data (all ones); ``dangling_leak=True`` means the
    leaked share of a row is 1 exactly when its ``scale`` is 0 (a dangling page), so the
    ``leak`` array is not read.
    """

    @numba.njit(cache=True, nogil=True, boundscheck=False)
    def power(indptr, indices, data, scale, leak, p, d, alpha, x, tol, max_iter, y, y_next):
        # x: current iterate (overwritten in place; x[i] is only read at row i)
        # y: x * scale, the vector the SpMV gathers from; y_next its double buffer
        n = x.shape[0]
        p_uniform = p.shape[0] == 1
        d_uniform = d.shape[0] == 1
        leaked = 0.0
        for i in range(n):
            y[i] = x[i] * scale[i]
            if dangling_leak:
                if scale[i] == 0.0:
                    leaked += x[i]
            else:
                leaked += x[i] * leak[i]
        beta = 1.0 - alpha
        err = np.inf
        for it in range(max_iter):
            c_leak = alpha * leaked
            err = 0.0
            leaked = 0.0
            jj = indptr[0]
            for i in range(n):
                end = indptr[i + 1]
                s = 0.0
                if weighted:
                    while jj < end:
                        s += data[jj] * y[indices[jj]]
                        jj += 1
                else:
                    while jj < end:
                        s += y[indices[jj]]
                        jj += 1
                di = d[0] if d_uniform else d[i]
                pi = p[0] if p_uniform else p[i]
                v = alpha * s + c_leak * di + beta * pi
                err += abs(v - x[i])
                x[i] = v
                sc = scale[i]
                y_next[i] = v * sc
                if dangling_leak:
                    if sc == 0.0:
                        leaked += v
                else:
                    leaked += v * leak[i]
            y, y_next = y_next, y
            if err < tol:
                return it + 1, err
        return -1, err

    return power


_KERNELS = {(w, dl): _make_kernel(w, dl) for w in (True, False) for dl in (True, False)}


@numba.njit(cache=True, nogil=True)
def _transpose_pattern(indptr, indices, n_cols, out_ptr, out_idx):
    """Sparsity pattern of ``A^T`` in CSR (a counting sort; rows keep ascending columns)."""
    for jj in range(indices.shape[0]):
        out_ptr[indices[jj] + 1] += 1
    for j in range(n_cols):
        out_ptr[j + 1] += out_ptr[j]
    nxt = out_ptr[:-1].copy()
    for i in range(indptr.shape[0] - 1):
        for jj in range(indptr[i], indptr[i + 1]):
            j = indices[jj]
            out_idx[nxt[j]] = i
            nxt[j] += 1


@numba.njit(cache=True, nogil=True)
def _scan_weights(data):
    """(all finite, any negative, all equal to one) in one pass."""
    finite, negative, ones = True, False, True
    for v in data:
        if not np.isfinite(v):
            finite = False
        elif v < 0:
            negative = True
        if v != 1.0:
            ones = False
    return finite, negative, ones


def _index_dtype(n: int, nnz: int):
    # unsigned 32-bit indices when they fit: numba then skips its negative-index wrap-around
    # test on every gather (~2x in this memory-bound loop); int64 otherwise (mixing uint64
    # with Python ints would promote to float in numba)
    return np.uint32 if max(n, nnz) < 2**32 - 1 else np.int64


def _as_index(a: np.ndarray, dtype) -> np.ndarray:
    a = np.ascontiguousarray(a)
    if dtype == np.uint32 and a.dtype == np.int32:
        return a.view(np.uint32)
    return a.astype(dtype, copy=False)


def _transpose(a: sp.csr_matrix, weighted: bool):
    """(indptr, indices, data) of ``W^T`` in CSR; pattern only (data empty) if unweighted."""
    n = a.shape[0]
    if weighted:
        at = a.T.tocsr()
        dt = _index_dtype(n, at.nnz)
        return _as_index(at.indptr, dt), _as_index(at.indices, dt), at.data
    dt = _index_dtype(n, a.nnz)
    out_ptr = np.zeros(n + 1, dt)
    out_idx = np.empty(a.nnz, dt)
    _transpose_pattern(_as_index(a.indptr, dt), _as_index(a.indices, dt), n, out_ptr, out_idx)
    return out_ptr, out_idx, np.empty(0)


def _power_iteration(at, scale, leak, p, d, alpha, x0, tol, max_iter):
    """Run the fused kernel on ``at = (indptr, indices, data)`` of ``W^T``; returns (x, n_iter).

    ``leak=None`` means the dangling pages (``scale == 0``) leak everything, others nothing.
    """
    indptr, indices, data = at
    n = len(indptr) - 1
    x = np.array(x0, dtype=np.float64, copy=True)
    y = np.empty(n)
    y_next = np.empty(n)
    kernel = _KERNELS[(len(data) > 0 or len(indices) == 0, leak is None)]
    if len(data) == 0 and len(indices) == 0:
        data = np.zeros(0)
    n_iter, err = kernel(indptr, indices, data, scale, np.empty(0) if leak is None else leak,
                         p, d, float(alpha), x, float(tol), int(max_iter), y, y_next)
    if n_iter < 0:
        raise PowerIterationFailedConvergence(
            f"PageRank power iteration did not converge in {max_iter} iterations "
            f"(last L1 change {err:.3g} >= tol {tol:.3g})")
    return x, n_iter


# --------------------------------------------------------------------------- input checks
def _as_adjacency(adjacency) -> tuple[sp.csr_matrix, bool]:
    """Validated CSR float64 adjacency (duplicates summed) and whether any weight is not 1."""
    if sp.issparse(adjacency):
        a = check_sparse("adjacency", adjacency)
        if a.dtype != np.float64:
            a = a.astype(np.float64)
    else:
        raw = np.asarray(adjacency)
        if raw.dtype.kind not in "biuf":
            raise ValueError(f"adjacency must be a matrix of numbers, got dtype {raw.dtype}")
        a = sp.csr_matrix(raw.astype(np.float64))
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {a.shape}")
    if not a.has_canonical_format:
        a = a.copy()
        a.sum_duplicates()
    finite, negative, ones = _scan_weights(a.data)
    if not finite:
        raise ValueError("adjacency contains NaN or infinite weights")
    if negative:
        raise ValueError("adjacency weights must be non-negative")
    if not ones and (a.data == 0).any():
        a = a.copy()
        a.eliminate_zeros()  # an explicit zero is not a link (it would hide a dangling page)
        ones = bool(a.nnz) and bool((a.data == 1.0).all())
    return a, not ones


def _check_damping(damping) -> float:
    if isinstance(damping, bool) or not isinstance(damping, (int, float, np.integer,
                                                             np.floating)):
        raise ValueError(f"damping must be a number in [0, 1), got {damping!r}")
    alpha = float(damping)
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    return alpha


def _check_tol(tol, max_iter) -> None:
    check_positive("tol", tol)  # True is no tolerance
    if (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer))
            or max_iter < 1):
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")


def _distribution(vec, n: int, name: str) -> np.ndarray:
    """A length-1 array meaning 'uniform' when ``vec`` is None, else the normalised vector."""
    if vec is None:
        return np.array([1.0 / n])
    v = np.asarray(vec, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    if not np.isfinite(v).all() or (v < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    with np.errstate(over="ignore"):
        total = v.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum")
    if not np.isfinite(total):  # finite entries whose sum overflows: v / inf would be all 0
        v = v / v.max()
        total = v.sum()
    return v / total


def _start(x0, n: int) -> np.ndarray:
    if x0 is None:
        return np.full(n, 1.0 / n)
    return _distribution(x0, n, "x0")


# --------------------------------------------------------------------------- point PageRank
def pagerank(adjacency, damping: float = 0.85, personalization=None, tol: float = 1e-10,
             max_iter: int = 1000, dangling=None, x0=None, return_n_iter: bool = False):
    """PageRank of a weighted directed graph by sparse power iteration.

    Parameters
    ----------
    adjacency : (N, N) sparse matrix or array
        ``adjacency[i, j]`` is the weight of the link ``i -> j`` (networkx's orientation);
        duplicates are summed, weights must be non-negative.
    damping : float in [0, 1), default 0.85
        Probability of following a link (networkx's ``alpha``).
    personalization : (N,) array, optional
        Teleport distribution (normalised here); uniform if omitted.
    tol : float, default 1e-10
        Stop when the absolute L1 change of one step is below ``tol`` (not ``N * tol``).
    max_iter : int, default 1000
    dangling : (N,) array, optional
        Where dangling pages send their mass; defaults to the personalization vector.
    x0 : (N,) array, optional
        Starting vector (uniform if omitted), e.g. a previous solution.
    return_n_iter : bool
        Also return the number of iterations.

    Returns
    -------
    x : (N,) ndarray, sums to one; ``(x, n_iter)`` if ``return_n_iter``.

    Raises
    ------
    PowerIterationFailedConvergence
        When ``max_iter`` steps do not reach ``tol``.
    """
    a, weighted = _as_adjacency(adjacency)
    alpha = _check_damping(damping)
    _check_tol(tol, max_iter)
    return_n_iter = check_bool("return_n_iter", return_n_iter)
    n = a.shape[0]
    if n == 0:
        return (np.zeros(0), 0) if return_n_iter else np.zeros(0)
    p = _distribution(personalization, n, "personalization")
    d = p if dangling is None else _distribution(dangling, n, "dangling")
    out_weight = (np.asarray(a.sum(axis=1)).ravel() if weighted
                  else np.diff(a.indptr).astype(np.float64))
    scale = np.divide(1.0, out_weight, out=np.zeros(n), where=out_weight > 0)
    at = _transpose(a, weighted)  # W^T: row i lists the pages linking to i
    x, n_iter = _power_iteration(at, scale, None, p, d, alpha, _start(x0, n), tol, max_iter)
    return (x, n_iter) if return_n_iter else x


# --------------------------------------------------------------------------- posterior
@dataclass
class PageRankPosterior:
    """Posterior draws of PageRank and their summaries.

    Attributes
    ----------
    draws : (n_samples, N) ndarray, one PageRank vector per posterior draw of the click rows.
    point : (N,) ndarray, PageRank of the posterior-mean chain ``(c_ij + prior/N) / (n_i + prior)``.
    pages : (N,) labels of the pages (``0..N-1`` unless given).
    n_iter : (n_samples,) power iterations per draw.
    """

    draws: np.ndarray
    point: np.ndarray
    pages: np.ndarray
    n_iter: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.draws.mean(axis=0)

    @property
    def sd(self) -> np.ndarray:
        return self.draws.std(axis=0, ddof=1) if len(self.draws) > 1 else np.zeros_like(self.point)

    def interval(self, prob: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed credible interval per page (ArviZ's ``eti``)."""
        prob = check_probability("prob", prob)
        lo, hi = np.quantile(self.draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        return lo, hi

    def summary(self, prob: float = 0.9, top: int | None = None) -> pd.DataFrame:
        """Per-page point, posterior mean, sd, equal-tailed interval and rank; best first.

        ``rank_lb``/``rank_ub`` are the equal-tailed interval of the page's rank across draws.
        A page's rank in a draw is 1 + the number of pages with a strictly larger PageRank, so
        exactly tied pages (e.g. all pages without in-links) share a rank.
        """
        from scipy.stats import rankdata

        lo, hi = self.interval(prob)
        pct = int(round(100 * prob))
        ranks = rankdata(-self.draws, method="min", axis=1).astype(np.int64)
        rlo, rhi = np.quantile(ranks, [(1 - prob) / 2, (1 + prob) / 2], axis=0,
                               method="inverted_cdf")  # ranks stay integers
        df = pd.DataFrame({"page": self.pages, "point": self.point, "mean": self.mean,
                           "sd": self.sd, f"eti{pct}_lb": lo, f"eti{pct}_ub": hi,
                           f"rank_eti{pct}_lb": rlo, f"rank_eti{pct}_ub": rhi})
        df = df.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)
        return df if top is None else df.head(check_positive("top", top, integer=True,
                                                             allow_zero=True))

    def to_datatree(self):
        """ArviZ ``DataTree``: variable ``pagerank`` with dims (chain=1, draw, page).

        The draws are independent Monte Carlo draws (not MCMC), so one chain is stored;
        ``arviz.summary(post.to_datatree(), ci_prob=0.9)`` gives the same intervals.
        """
        import arviz as az

        return az.from_dict({"posterior": {"pagerank": self.draws[None]}},
                            dims={"pagerank": ["page"]}, coords={"page": self.pages})


def _transpose_permutation(c: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """CSR of ``c^T`` and the permutation ``perm`` with ``(c^T).data == c.data[perm]``."""
    marker = sp.csr_matrix((np.arange(c.nnz, dtype=np.float64), c.indices, c.indptr),
                           shape=c.shape)
    t = marker.T.tocsr()
    perm = t.data.astype(np.int64)
    return t, perm


def pagerank_posterior(link_counts, damping: float = 0.85, prior: float = 1.0,
                       n_samples: int = 200, rng=None, personalization=None,
                       tol: float = 1e-10, max_iter: int = 1000, pages=None,
                       progress: bool = False) -> PageRankPosterior:
    """Posterior distribution of PageRank given observed click counts.

    Model, for every page ``i`` with click counts ``c_ij`` on its links (``N`` pages)::

        theta_i ~ Dirichlet(prior / N * 1_N)       (prior pseudo-clicks spread over all pages)
        c_i | theta_i ~ Multinomial(n_i, theta_i)
        theta_i | c_i ~ Dirichlet(c_i + prior / N)
        PageRank(theta) = stationary distribution of alpha theta + (1 - alpha) 1 p^T

    ``prior`` is the total prior concentration of a row (``MarkovChain(epsilon=prior / N)``
    has the same posterior mean); a page without clicks has the uniform row, as a dangling
    page in :func:`pagerank`.  Each draw keeps the click part exact (``Gamma(c_ij)`` on the
    observed links) and the row's total prior mass exact (``Gamma(prior)``), spreading that
    mass uniformly over the pages (its posterior mean), so the draw stays sparse + rank-one and
    costs one sparse PageRank.  As counts grow the draws concentrate on the PageRank of the
    posterior mean chain, :attr:`PageRankPosterior.point`.

    Parameters
    ----------
    link_counts : (N, N) sparse or dense non-negative counts, ``[i, j]`` = clicks ``i -> j``.
    damping, personalization, tol, max_iter : as in :func:`pagerank`.
    prior : float >= 0, default 1.0
    n_samples : int, default 200
    rng : seed or Generator
    pages : (N,) labels, optional
    progress : bool
        Show a progress bar.

    Returns
    -------
    PageRankPosterior (``draws`` uses ``n_samples * N`` floats of memory).
    """
    from .progress import progress_bar

    alpha = _check_damping(damping)
    _check_tol(tol, max_iter)
    prior = check_positive("prior", prior, allow_zero=True)
    n_samples = check_positive("n_samples", n_samples, integer=True)
    progress = check_bool("progress", progress)
    rng = check_random_state(rng)
    counts, _ = _as_adjacency(link_counts)
    n = counts.shape[0]
    if n == 0:
        raise ValueError("link_counts is empty")
    post = DirichletRows(counts, prior / n)
    c = post.counts
    pages = np.arange(n) if pages is None else np.asarray(pages)
    if len(pages) != n:
        raise ValueError(f"pages must have length {n}, got {len(pages)}")
    p = _distribution(personalization, n, "personalization")
    uniform = np.array([1.0 / n])
    at, perm = _transpose_permutation(c)
    dt = _index_dtype(n, at.nnz)
    indptr, indices = _as_index(at.indptr, dt), _as_index(at.indices, dt)

    def solve(chain, x0):
        # chain = diag(scale) W + leak 1^T with leak per entry; the kernel wants the row's
        # total leaked fraction (leak * N), sent to the uniform distribution
        data = chain.weights.data[perm]
        return _power_iteration((indptr, indices, data), chain.scale, chain.leak * n, p,
                                uniform, alpha, x0, tol, max_iter)

    point, _ = solve(post.mean(), np.full(n, 1.0 / n))
    draws = np.empty((int(n_samples), n))
    n_iter = np.empty(int(n_samples), dtype=np.int64)
    with progress_bar(int(n_samples), "PageRank posterior", progress) as bar:
        for s in range(int(n_samples)):
            draws[s], n_iter[s] = solve(post.sample_sparse(rng), point)  # warm start
            bar.update()
    return PageRankPosterior(draws, point, pages, n_iter)
