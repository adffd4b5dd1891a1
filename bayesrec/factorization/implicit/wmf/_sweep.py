"""One Gibbs (or ALS) sweep of the Bayesian weighted MF model over ALL cells, never formed.

Model (Hu, Koren & Volinsky, ICDM 2008, read as a Gaussian likelihood; BPMF's hyperpriors,
Salakhutdinov & Mnih, ICML 2008)::

    p_ui = 1[y_ui > 0],   c_ui = 1 + confidence * y_ui           (every cell u, i)
    p_ui | u_u, v_i ~ N(u_u . v_i, 1 / (alpha c_ui))
    u_u ~ N(mu_U, Lambda_U^-1),  v_i ~ N(mu_V, Lambda_V^-1)
    (mu_U, Lambda_U), (mu_V, Lambda_V) ~ NormalWishart(mu0 = 0, beta0, nu0, W0)
    alpha fixed (default 1), or alpha ~ Gamma(a, b)

User ``u``'s conditional is Gaussian, ``u_u ~ N(P_u^-1 h_u, P_u^-1)`` with::

    P_u = Lambda_U + alpha V^T C_u V,   V^T C_u V = V^T V + sum_{i in N(u)} (c_ui - 1) v_i v_i^T
    h_u = Lambda_U mu_U + alpha V^T C_u p_u = Lambda_U mu_U + alpha sum_{i in N(u)} c_ui v_i

where ``N(u)`` are the user's positive cells: the zeros of the dense matrix enter only through
``V^T V``, computed once per sweep (Hu et al.'s speed-up).  Items are symmetric.  A sweep costs
O(nnz K^2) for the sums (one compiled pass over the CSR, parallel over rows: from a table of
the other side's outer products when it fits in cache, else by gathering each row's factors
into a contiguous block and forming rank-8 updates, a loop that vectorizes) plus
O((n_users + n_items) K^3) for the batched Cholesky draws of
:func:`bayesrec.factorization.bpmf._linalg.draw_rows` (BPMF's machinery, reused).

The weighted sum of squares over all cells comes for free from the item step's blocks::

    S = sum_{u,i} c_ui (p_ui - u_u . v_i)^2 = sum_i [ t_i - 2 v_i . g_i + v_i^T G_i v_i ],
    G_i = U^T U + sum_{u in N(i)} w_ui u_u u_u^T,  g_i = sum_{u in N(i)} c_ui u_u,
    t_i = sum_{u in N(i)} c_ui

and feeds the ``alpha`` draw ``Gamma(a + n_cells / 2, b + S / 2)`` and the training loss.
After the two sides, BPMF's exact moves along the likelihood's flat directions (scale,
``U -> U A, V -> V A^-T``; :mod:`bayesrec.factorization.bpmf._moves`) are applied: the
likelihood depends on ``U V^T`` only, so they hold unchanged for this model.

``mode=True`` replaces every draw by the conditional mean with the hyperparameters held: with
``Lambda = reg I, mu = 0, alpha = 1`` that is one iteration of implicit ALS (the MAP).

``sampler="coordinate"`` replaces the two row-block factor steps by single-site updates, one
coordinate of a row at a time (:mod:`._coordinate`, O(nnz K + n K^2) per sweep, no Gram
block); everything else in the sweep (hyperparameters, ``alpha``, the moves) is shared.
"""

from __future__ import annotations

import numba
import numpy as np

from ....exceptions import ConvergenceError
from ...bpmf._linalg import draw_rows
from ...bpmf._moves import linear_move, rescale
from ...bpmf._sweep import BPMFPrior, State, _prior_blocks, _sample_hyper
from ._coordinate import coordinate_side
from ._crossprod import cross_product as _cross
from ._data import WMFData


def _stats_rows(indptr, indices, w, t, f, outer, gram, g, t2):  # pragma: no cover
    # per row s (parallel over rows; each row's sums in a fixed order, so the result does not
    # depend on the thread count): W_s = sum_p w_p outer_j (outer_j = packed upper triangle
    # of f_j f_j^T: contiguous axpys, four stored cells per pass over the row's W_s),
    # g_s = sum_p (1 + w_p) t_p f_j, t2_s = sum_p (1 + w_p) t_p^2
    n, d = g.shape
    m = outer.shape[1]
    for s in numba.prange(n):
        p0, p1 = indptr[s], indptr[s + 1]
        acc2 = 0.0
        for p in range(p0, p1):
            j = indices[p]
            ct = (1.0 + w[p]) * t[p]
            acc2 += ct * t[p]
            for a in range(d):
                g[s, a] += ct * f[j, a]
        t2[s] += acc2
        p = p0
        while p + 4 <= p1:
            j0, j1, j2, j3 = indices[p], indices[p + 1], indices[p + 2], indices[p + 3]
            w0, w1, w2, w3 = w[p], w[p + 1], w[p + 2], w[p + 3]
            for q in range(m):
                gram[s, q] += (w0 * outer[j0, q] + w1 * outer[j1, q]
                               + w2 * outer[j2, q] + w3 * outer[j3, q])
            p += 4
        while p < p1:
            j = indices[p]
            wp = w[p]
            for q in range(m):
                gram[s, q] += wp * outer[j, q]
            p += 1


#: cells gathered at a time by the direct kernel (a multiple of 8: the grouping of the
#: rank-8 updates, hence every sum, does not depend on it)
GATHER_BLOCK = 256


@numba.njit(cache=True)
def _stats_rows_gather(indptr, indices, w, t, f, gram, g, t2, lo, hi, buf,
                       full):  # pragma: no cover - compiled
    # rows lo..hi-1 with each w_p f_j f_j^T formed on the fly: for a side whose table of outer
    # products would not stay in cache.  Per block of GATHER_BLOCK cells the rows f_j are first
    # copied into the contiguous buf (independent loads, many in flight), then the full
    # (K, K) sum is built by rank-8 updates whose inner loop (over K, contiguous) vectorizes;
    # its upper triangle is packed at the end.  One row's sums always run in the same order.
    d = f.shape[1]
    nb = buf.shape[0]
    for s in range(lo, hi):
        full[:, :] = 0.0
        acc2 = 0.0
        for a in range(d):
            g[s, a] = 0.0
        for b0 in range(indptr[s], indptr[s + 1], nb):
            m = min(nb, indptr[s + 1] - b0)
            for k in range(m):
                j = indices[b0 + k]
                for a in range(d):
                    buf[k, a] = f[j, a]
            for k in range(m):
                p = b0 + k
                ct = (1.0 + w[p]) * t[p]
                acc2 += ct * t[p]
                for a in range(d):
                    g[s, a] += ct * buf[k, a]
            k = 0
            while k + 8 <= m:               # rank-8 updates (each pass over `full` does 8)
                w0, w1, w2, w3 = w[b0 + k], w[b0 + k + 1], w[b0 + k + 2], w[b0 + k + 3]
                w4, w5, w6, w7 = w[b0 + k + 4], w[b0 + k + 5], w[b0 + k + 6], w[b0 + k + 7]
                for a in range(d):
                    c0 = w0 * buf[k, a]
                    c1 = w1 * buf[k + 1, a]
                    c2 = w2 * buf[k + 2, a]
                    c3 = w3 * buf[k + 3, a]
                    c4 = w4 * buf[k + 4, a]
                    c5 = w5 * buf[k + 5, a]
                    c6 = w6 * buf[k + 6, a]
                    c7 = w7 * buf[k + 7, a]
                    for b in range(d):
                        full[a, b] += (c0 * buf[k, b] + c1 * buf[k + 1, b]
                                       + c2 * buf[k + 2, b] + c3 * buf[k + 3, b]
                                       + c4 * buf[k + 4, b] + c5 * buf[k + 5, b]
                                       + c6 * buf[k + 6, b] + c7 * buf[k + 7, b])
                k += 8
            while k + 4 <= m:
                w0, w1, w2, w3 = w[b0 + k], w[b0 + k + 1], w[b0 + k + 2], w[b0 + k + 3]
                for a in range(d):
                    c0 = w0 * buf[k, a]
                    c1 = w1 * buf[k + 1, a]
                    c2 = w2 * buf[k + 2, a]
                    c3 = w3 * buf[k + 3, a]
                    for b in range(d):
                        full[a, b] += (c0 * buf[k, b] + c1 * buf[k + 1, b]
                                       + c2 * buf[k + 2, b] + c3 * buf[k + 3, b])
                k += 4
            while k < m:
                c = w[b0 + k]
                for a in range(d):
                    c0 = c * buf[k, a]
                    for b in range(d):
                        full[a, b] += c0 * buf[k, b]
                k += 1
        t2[s] = acc2
        q = 0
        for a in range(d):
            for b in range(a, d):
                gram[s, q] = full[a, b]
                q += 1


def _direct_chunks(indptr, indices, w, t, f, gram, g, t2, n_chunks):  # pragma: no cover
    # contiguous chunks of rows, each with its own buffers (rows never split: the result does
    # not depend on the number of chunks or threads)
    n = len(indptr) - 1
    d = f.shape[1]
    for c in numba.prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        buf = np.empty((GATHER_BLOCK, d))
        full = np.empty((d, d))
        _stats_rows_gather(indptr, indices, w, t, f, gram, g, t2, lo, hi, buf, full)


_direct_parallel = numba.njit(parallel=True, cache=True)(_direct_chunks)
_direct_serial = numba.njit(cache=True)(_direct_chunks)
#: above this size (bytes) the table of the other side's outer products is not formed
OUTER_TABLE_MAX_BYTES = 8 << 20
_stats_parallel = numba.njit(parallel=True, cache=True)(_stats_rows)
_stats_serial = numba.njit(cache=True)(_stats_rows)
#: below this many stored cells one thread is faster (thread start-up dominates small sides)
PARALLEL_MIN_CELLS = 200_000


def packed(mat: np.ndarray) -> np.ndarray:
    """Upper triangle of a symmetric (K, K) matrix, row by row (the ``_linalg`` packing)."""
    iu = np.triu_indices(mat.shape[0])
    return np.ascontiguousarray(mat[iu])


def side_stats(indptr, indices, w, t, other: np.ndarray):
    """Per row: packed ``W = sum w o o^T`` (stored cells only), ``g = sum c t o``,
    ``sum c t^2``, and the common ``B = O^T O`` (K, K) over all cells.

    The row's ``V^T C_u V`` is ``B + unpack(W)``: ``B`` is shared by every row, so it joins
    the prior precision in :func:`draw_side` instead of being copied into each row.
    ``other`` holds the other side's factor rows (rows outside the likelihood are 0).
    """
    n, d = len(indptr) - 1, other.shape[1]
    f = np.ascontiguousarray(other, dtype=np.float64)
    base = _cross(f)
    gram = np.zeros((n, d * (d + 1) // 2))
    g = np.zeros((n, d))
    t2 = np.zeros(n)
    parallel = len(indices) >= PARALLEL_MIN_CELLS
    if len(f) * gram.shape[1] * 8 > OUTER_TABLE_MAX_BYTES:
        n_chunks = 8 * numba.get_num_threads() if parallel else 1
        (_direct_parallel if parallel else _direct_serial)(indptr, indices, w, t, f, gram, g,
                                                           t2, min(n_chunks, max(n, 1)))
    else:
        iu = np.triu_indices(d)
        outer = np.ascontiguousarray(f[:, iu[0]] * f[:, iu[1]])    # (n_other, D(D+1)/2)
        (_stats_parallel if parallel else _stats_serial)(indptr, indices, w, t, f, outer,
                                                         gram, g, t2)
    return gram, g, t2, base


@numba.njit(cache=True)
def _scale_rows(gram, g, t2, scale, base):  # pragma: no cover - compiled
    # in place (no temporaries of the size of gram): gram_s <- a_s gram_s + (a_s - 1) base,
    # g_s <- a_s g_s, t2_s <- a_s t2_s
    n, m = gram.shape
    for s in range(n):
        a = scale[s]
        for q in range(m):
            gram[s, q] = a * gram[s, q] + (a - 1.0) * base[q]
        for k in range(g.shape[1]):
            g[s, k] = a * g[s, k]
        t2[s] = a * t2[s]


def draw_side(side, other, mu, lam, prior: BPMFPrior, alpha: float, rng, mode: bool = False,
              backend: str = "fast", row_scale=None):
    """All rows of one side from their Gaussian conditionals (means with ``mode=True``).

    Per row ``P = Lambda + alpha (B + W_row)``, ``h = Lambda mu + alpha g_row``, drawn by
    :func:`~bayesrec.factorization.bpmf._linalg.draw_rows` with the shared part
    ``Lambda + alpha B`` as its prior precision.  Returns ``(x, sse, n_jitter)``: ``sse`` is
    ``sum_rows t - 2 x.g + x^T (B + W) x``, the weighted sum of squares over the side's cells.
    ``backend`` is ``draw_rows``'s (``"fast"``, ``"numba"`` or the ``"numpy"`` reference).
    ``row_scale`` (n_rows,): fixed factors ``a_s`` on every cell's precision of row ``s``.
    """
    gram, g, t2, base = side_stats(*side, other)
    if row_scale is not None:
        # row s's cells weighted by a_s: a_s (B + W_s) = B + [a_s W_s + (a_s - 1) B]
        gram, g, t2 = (np.ascontiguousarray(a, dtype=np.float64) for a in (gram, g, t2))
        _scale_rows(gram, g, t2, np.ascontiguousarray(row_scale, dtype=np.float64),
                    packed(base))
    pp, ph = _prior_blocks(prior, mu, lam, 1.0)
    x, sse_rows, n_jit = draw_rows(gram, g, t2, pp + alpha * base, ph, alpha, rng, mode,
                                   backend)
    sse = float(sse_rows.sum()) + float(np.einsum("nk,nk->", x @ base, x))
    return x, sse, n_jit


def weighted_sse(data: WMFData, xu: np.ndarray, xv: np.ndarray) -> float:
    """``sum_{u active, i} c_ui (p_ui - u_u . v_i)^2`` from the item-side blocks."""
    side, other = data.item_side_scaled(xu)
    gram, g, t2, base = side_stats(*side, other)
    d = xv.shape[1]
    iu = np.triu_indices(d)
    wts = np.where(iu[0] == iu[1], 1.0, 2.0)
    quad = (gram * (xv[:, iu[0]] * xv[:, iu[1]])) @ wts + np.einsum("nk,nk->n", xv @ base, xv)
    return float(np.sum(t2 - 2.0 * np.einsum("nd,nd->n", xv, g) + quad))


def sweep(state: State, data: WMFData, prior: BPMFPrior, rng: np.random.Generator,
          mode: bool = False, backend: str = "fast", sampler: str = "blocked") -> State:
    """One sweep ``(state, data, prior, rng) -> state``: alpha | S; (mu_U, Lambda_U) | U;
    U | V; (mu_V, Lambda_V) | V; V | U; then the scale and GL(K) moves.

    ``mode=True``: conditional means with the hyperparameters held (ALS).
    ``sampler="coordinate"``: the factor steps draw one coordinate at a time
    (:mod:`._coordinate`) instead of whole rows.
    """
    coordinate = sampler == "coordinate"
    draw_hyper = _hyper if coordinate else _sample_hyper

    def hyper(prior, x, rng):
        """``(mu, Lambda) | rows``; rows whose scatter overflowed name the settings."""
        try:
            return draw_hyper(prior, x, rng)
        except ConvergenceError as err:
            # the conjugate update refuses a non-finite scatter (e.g. init_scale 1e300)
            raise ConvergenceError(
                f"weighted MF sweep: the factor hyperparameter draw failed on an extreme "
                f"state ({err}); the hyperparameters are too extreme: reduce init_scale, w0 "
                f"or nu0") from None
    alpha = state.alpha
    if prior.alpha is None and not mode:
        alpha = float(rng.gamma(prior.alpha_a + 0.5 * data.n_cells,
                                1.0 / (prior.alpha_b + 0.5 * state.sse)))

    def step(side, other, start, mu, lam, row_scale=None, want_sse=True):
        """One side's factor step: ``(x, sse, n_jitter)``."""
        if coordinate:
            x, sse = coordinate_side(side, other, start, mu, lam, prior, alpha, rng, mode,
                                     row_scale, want_sse=want_sse)
            return x, sse, 0
        return draw_side(side, other, mu, lam, prior, alpha, rng, mode, backend, row_scale)

    act = data.active_users
    if mode:
        mu_u, lam_u = state.mu_u, state.lam_u
    else:
        mu_u, lam_u = hyper(prior, state.xu[act], rng)
    xu = np.zeros_like(state.xu)
    xu[act], _, j1 = step(data.user_side(), state.xv, state.xu[act], mu_u, lam_u,
                          data.active_scale(), want_sse=False)
    if mode:
        mu_v, lam_v = state.mu_v, state.lam_v
    else:
        mu_v, lam_v = hyper(prior, state.xv, rng)
    xv, sse, j2 = step(*data.item_side_scaled(xu), state.xv, mu_v, lam_v)
    new = State(xu, xv, alpha, mu_u, lam_u, mu_v, lam_v, 1.0, 1.0, max(sse, 0.0),
                state.n_jitter + j1 + j2)
    if not (np.isfinite(sse) and np.isfinite(xu).all() and np.isfinite(xv).all()):
        # overflow (e.g. init_scale 1e300): stop with the cause, not NaN scores or a
        # domain error deep inside the moves below
        raise ConvergenceError(
            "weighted MF sweep: the factors are no longer finite (float64 overflow); the "
            "hyperparameters are too extreme: reduce init_scale, confidence, w0 or the scale "
            "of the interaction counts")
    if not mode and prior.rescale and prior.nw is not None:
        try:
            rescale(new, prior, rng)
            linear_move(new, prior, rng)
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as err:
            # scipy's samplers refuse (or give up on) parameters that overflowed: name the
            # settings instead of a domain error of a distribution the user never chose
            raise ConvergenceError(
                f"weighted MF sweep: the scale / rotation moves failed on an extreme state "
                f"({err}); the hyperparameters are too extreme: reduce w0, nu0, beta0 or "
                f"init_scale"
            ) from None
    return new


def _hyper(prior: BPMFPrior, x: np.ndarray, rng):
    """``(mu, Lambda) | rows``, as :func:`~bayesrec.factorization.bpmf._sweep._sample_hyper`,
    with the rows' scatter from the compiled cross product (the coordinate sweep's rank can
    be large, where that scatter would cost as much as the factor updates)."""
    if prior.nw is None or len(x) == 0:
        return _sample_hyper(prior, x, rng)
    xbar = x.mean(axis=0)
    scatter = _cross(np.ascontiguousarray(x - xbar))
    return prior.nw.posterior_from_stats(len(x), xbar, scatter).sample(rng)


def init_state(data: WMFData, prior: BPMFPrior, rng: np.random.Generator,
               scale: float = 0.1, alpha: float = 1.0) -> State:
    """Small random factors (sd ``scale``) for the active users and every item."""
    k = prior.rank
    xu = np.zeros((data.n_users, k))
    xu[data.active_users] = scale * rng.standard_normal((data.n_active, k))
    xv = scale * rng.standard_normal((data.n_items, k))
    lam = np.eye(k) * (prior.factor_precision if prior.nw is None else 1.0)
    a = alpha if prior.alpha is None else prior.alpha
    return State(xu, xv, float(a), np.zeros(k), lam, np.zeros(k), lam.copy(), 1.0, 1.0,
                 weighted_sse(data, xu, xv))


def make_prior(rank: int, nw, factor_precision: float, alpha, alpha_prior) -> BPMFPrior:
    """The BPMF prior object without biases (``alpha=None``: sampled)."""
    return BPMFPrior(rank, nw, float(factor_precision), False, 1.0, 1.0, alpha,
                     float(alpha_prior[0]), float(alpha_prior[1]), rescale=nw is not None)
