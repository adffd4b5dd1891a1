"""One Gibbs sweep of Bayesian PMF, vectorized over users and items.

Model (Salakhutdinov & Mnih, ICML 2008, with optional biases)::

    r_ij | .   ~ N(mu + b_i + c_j + u_i . v_j, 1 / alpha)
    u_i        ~ N(mu_U, Lambda_U^-1),  (mu_U, Lambda_U) ~ NormalWishart(mu0, beta0, nu0, W0)
    v_j        ~ N(mu_V, Lambda_V^-1),  (mu_V, Lambda_V) ~ NormalWishart(mu0, beta0, nu0, W0)
    b_i ~ N(0, 1/tau_b),  c_j ~ N(0, 1/tau_c),  tau_b, tau_c ~ Gamma(a_b, b_b)   (biases only)
    alpha fixed, or alpha ~ Gamma(a_alpha, b_alpha)                             ("sample")

``mu`` is a fixed offset (the training mean, as in the paper's code).  Without the hyperprior
(plain PMF) ``mu_U = mu_V = 0`` and ``Lambda_U = Lambda_V = lambda I`` stay fixed.

Blocking.  Each user's ``x_i = (u_i, b_i)`` is drawn jointly (one (K+1)-dim Gaussian) from::

    P_i = blockdiag(Lambda_U, tau_b) + alpha * sum_{j in I(i)} f_j f_j^T,   f_j = (v_j, 1)
    h_i = (Lambda_U mu_U, 0)         + alpha * sum_{j in I(i)} (r_ij - mu - c_j) f_j
    x_i ~ N(P_i^-1 h_i, P_i^-1)

and items likewise with ``f_i = (u_i, 1)`` and targets ``r_ij - mu - b_i``.  For all users at
once, the packed upper triangles of ``sum_j f_j f_j^T`` are ONE sparse product
``pattern @ [f_j f_j^T]_triu`` (CSR of ones, n_users x n_items, times an (n_items, D(D+1)/2)
dense matrix) and ``h`` is ``residual_csr @ F``; then a batched Cholesky and batched
triangular solves (:mod:`._linalg`).  Nothing loops over users, items or ratings in Python.

The training sum of squared errors is kept for free: after the item step,
``SSE = sum_j [ sum_i t_ij^2 - 2 x_j . g_j + x_j^T G_j x_j ]`` with the Gram blocks ``G_j`` and
``g_j`` the step already built.  It feeds the alpha update and the train RMSE trace.

Sweep order: alpha | SSE;  (mu_U, Lambda_U) | U;  tau_b | U, V (b integrated out);
(U, b) | V, c;  (mu_V, Lambda_V) | V;  tau_c | V, U, b (c integrated out);  (V, c) | U, b;
then a scale move ``(U, V) -> (cU, V/c)`` with the hyperparameters (:func:`rescale`) and, with
biases, translation moves ``V -> V + d, b -> b - U d`` and mirror (:func:`translate`); after
each side's draw, ``mu`` moves together with the weakly-rated rows (:func:`weighted_shift`).
Finally a Metropolis walk over all of GL(K) (``U -> U A, V -> V A^-T``, :func:`linear_move`)
covers the remaining flat directions.  These extra steps are exact MCMC moves along the
likelihood's flat directions (checked by the Geweke test); without them ||V||, tau_c,
||mu_U|| and ||mu_V|| drift for hundreds of sweeps on MovieLens (r_hat up to 2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numba
import numpy as np
import scipy.sparse as sp

from ..._validation import check_positive
from ...data import Ratings
from ...inference.normal_wishart import NormalWishart
from ...inference.slice import slice_sample
from ._linalg import draw_rows
from ._moves import linear_move, rescale, translate, weighted_shift


def check_noise_precision(alpha) -> float:
    """A fixed noise precision ``alpha > 0`` whose square is finite: the bias-precision step
    uses ``alpha^2`` (``alpha = 1e300`` raised a bare ``OverflowError`` there)."""
    value = check_positive("alpha", alpha)
    if not np.isfinite(value * value):
        raise ValueError(f"alpha must be a number > 0 whose square is finite in float64, got "
                         f"{alpha!r}")
    return value


@dataclass(frozen=True)
class BPMFPrior:
    """Fixed hyperparameters of the model (see module docstring)."""

    rank: int
    nw: NormalWishart | None          # None: no hyperprior (plain PMF, fixed precision)
    factor_precision: float           # lambda of plain PMF (used when nw is None)
    biases: bool
    bias_a: float
    bias_b: float
    alpha: float | None               # None: sampled
    alpha_a: float
    alpha_b: float
    rescale: bool = True              # the scale move of :func:`rescale` (needs mu0 = 0)

    def __post_init__(self):
        if self.rescale and self.nw is not None and np.any(self.nw.mu0 != 0):
            object.__setattr__(self, "rescale", False)   # the move's algebra assumes mu0 = 0

    @property
    def w0_inv(self) -> np.ndarray:
        return np.linalg.inv(self.nw.W0)

    @property
    def dim(self) -> int:
        return self.rank + int(self.biases)


@dataclass
class State:
    """The sampler state: ``xu`` = (U | b) rows per user, ``xv`` = (V | c) rows per item."""

    xu: np.ndarray
    xv: np.ndarray
    alpha: float
    mu_u: np.ndarray
    lam_u: np.ndarray
    mu_v: np.ndarray
    lam_v: np.ndarray
    tau_b: float
    tau_c: float
    sse: float
    n_jitter: int = 0


class SweepData:
    """The training ratings arranged for the sweep: both sparse views and their values.

    Parameters
    ----------
    ratings : Ratings
    offset : float, optional
        ``mu`` (default: the training mean).
    """

    def __init__(self, ratings: Ratings, offset: float | None = None):
        self.n_users, self.n_items = ratings.n_users, ratings.n_items
        self.n_ratings = len(ratings)
        self.offset = float(ratings.global_mean if offset is None else offset)
        csr = ratings.csr
        csc = ratings.csc
        ones_u = np.ones(csr.nnz)
        self.pattern_u = sp.csr_matrix((ones_u, csr.indices, csr.indptr), shape=csr.shape)
        # CSC of (users x items) == CSR of (items x users)
        self.pattern_v = sp.csr_matrix((ones_u, csc.indices, csc.indptr),
                                       shape=(self.n_items, self.n_users))
        self.values_u = np.asarray(csr.data, dtype=np.float64) - self.offset
        self.values_v = np.asarray(csc.data, dtype=np.float64) - self.offset
        self.ratings = ratings

    def with_values(self, values_in_row_order: np.ndarray) -> SweepData:
        """Same pattern, new rating values (given in the Ratings' row order); for Geweke tests."""
        new = object.__new__(SweepData)
        new.__dict__.update(self.__dict__)
        r = self.ratings
        new.values_u = values_in_row_order[r.csr_order] - self.offset
        order_v = np.lexsort((r.users, r.items))
        new.values_v = values_in_row_order[order_v] - self.offset
        return new


@numba.njit(cache=True)
def _packed_outer_kernel(f, out):  # pragma: no cover - compiled
    n, d = f.shape
    for j in range(n):
        k = 0
        for a in range(d):
            fa = f[j, a]
            for b in range(a, d):
                out[j, k] = fa * f[j, b]
                k += 1


def _packed_outer(f: np.ndarray) -> np.ndarray:
    """Rows ``triu(f_j f_j^T)`` packed row by row, shape (n, D(D+1)/2), C-contiguous."""
    n, d = f.shape
    out = np.empty((n, d * (d + 1) // 2))
    _packed_outer_kernel(np.ascontiguousarray(f, dtype=np.float64), out)
    return out


def _features(x: np.ndarray, biases: bool) -> np.ndarray:
    """``f = (latent, 1)`` when biases are on (the bias column becomes a constant 1)."""
    if not biases:
        return x
    f = x.copy()
    f[:, -1] = 1.0
    return f


@numba.njit(parallel=True, cache=True)
def _side_stats_kernel(indptr, indices, t, f, gram, g, t2):  # pragma: no cover - compiled
    # per row s (in parallel over rows; each row's sums run in a fixed order, so the result
    # does not depend on the number of threads): G_s = sum_j triu(f_j f_j^T) packed,
    # g_s = sum_j t_sj f_j, t2_s = sum_j t_sj^2
    n, d = g.shape
    for s in numba.prange(n):
        for p in range(indptr[s], indptr[s + 1]):
            j = indices[p]
            tp = t[p]
            t2[s] += tp * tp
            k = 0
            for a in range(d):
                fa = f[j, a]
                g[s, a] += tp * fa
                for b in range(a, d):
                    gram[s, k] += fa * f[j, b]
                    k += 1


#: below this many ratings the two scipy products are as fast as the parallel pass (measured
#: on 2 cores: 100K ratings 13 vs 15 ms per sweep; 20M ratings 2.25 vs 1.54 s per sweep)
PARALLEL_MIN_RATINGS = 1_000_000


def side_stats(pattern: sp.csr_matrix, values: np.ndarray, f_other: np.ndarray,
               other_bias: np.ndarray | None):
    """Per-row ``G = sum f f^T`` (packed upper triangles), ``g = sum t f`` and ``sum t^2``.

    Targets ``t = r - mu - other side's bias``.  Large sets use :func:`side_stats_compiled`
    (parallel over rows), small ones :func:`side_stats_scipy`; both give the same sums.
    """
    if len(values) < PARALLEL_MIN_RATINGS:
        return side_stats_scipy(pattern, values, f_other, other_bias)
    return side_stats_compiled(pattern, values, f_other, other_bias)


def side_stats_compiled(pattern: sp.csr_matrix, values: np.ndarray, f_other: np.ndarray,
                        other_bias: np.ndarray | None):
    """:func:`side_stats` in one compiled pass over the CSR structure, parallel over rows
    (both cores): the same sums as the sparse products ``pattern @ [f_j f_j^T]_triu`` and
    ``resid_csr @ F`` without materialising the (n_other, D(D+1)/2) outer-product matrix."""
    n, d = pattern.shape[0], f_other.shape[1]
    t = values if other_bias is None else values - other_bias[pattern.indices]
    gram = np.zeros((n, d * (d + 1) // 2))
    g = np.zeros((n, d))
    t2 = np.zeros(n)
    _side_stats_kernel(pattern.indptr, pattern.indices, np.ascontiguousarray(t, np.float64),
                       np.ascontiguousarray(f_other, np.float64), gram, g, t2)
    return gram, g, t2


def side_stats_scipy(pattern: sp.csr_matrix, values: np.ndarray, f_other: np.ndarray,
                     other_bias: np.ndarray | None):
    """:func:`side_stats` by two scipy sparse products (single-threaded): ONE product of the
    rating pattern with the other side's packed outer products, one residual-CSR product."""
    n = pattern.shape[0]
    t = values if other_bias is None else values - other_bias[pattern.indices]
    resid = sp.csr_matrix((t, pattern.indices, pattern.indptr), shape=pattern.shape)
    gram = pattern @ _packed_outer(f_other)                   # (n, D(D+1)/2)
    g = resid @ f_other                                       # (n, D)
    # per-row sums by bincount (np.add.reduceat fails when the last rows are empty)
    rows = np.repeat(np.arange(n), np.diff(pattern.indptr))
    t2 = np.bincount(rows, weights=t * t, minlength=n)
    return gram, g, t2


def sample_side(pattern: sp.csr_matrix, values: np.ndarray, f_other: np.ndarray,
                other_bias: np.ndarray | None, prior_prec: np.ndarray, prior_h: np.ndarray,
                alpha: float, rng, mode: bool = False, backend: str = "numba"):
    """Draw every row's (latent | bias) jointly given the other side's features.

    Returns ``(x, sse, n_jitter)``: ``sse`` is the training sum of squared errors at the new
    rows (from ``G = sum f f^T``, ``g = sum t f`` and ``sum t^2`` per row, targets
    ``t = r - mu - other side's bias``).
    """
    gram, g, t2 = side_stats(pattern, values, f_other, other_bias)
    x, sse_rows, n_jit = draw_rows(gram, g, t2, prior_prec,
                                   np.asarray(prior_h, dtype=np.float64), alpha, rng, mode,
                                   backend)
    return x, float(sse_rows.sum()), n_jit


def collapsed_tau(gram: np.ndarray, g: np.ndarray, own: np.ndarray, prior: BPMFPrior,
                  alpha: float, tau: float, rng) -> float:
    """Bias precision drawn with the biases integrated out (partially collapsed Gibbs).

    With ``S_j = sum_i (t_ij - u_i . v_j)`` and ``n_j`` ratings of row ``j`` (both read off the
    sweep's Gram blocks: the bias feature is the constant 1)::

        log p(tau | rest) = (a - 1) log tau - b tau
            + sum_j [ log(tau / (tau + alpha n_j)) / 2 + alpha^2 S_j^2 / (2 (tau + alpha n_j)) ]

    sampled by slice sampling in ``log tau``.  The biases are redrawn right after (jointly
    with the factors), which keeps this a valid partially collapsed sampler (van Dyk & Park
    2008).  Centred draws ``tau | b`` mix slowly when most rows have few ratings (the
    funnel); this step does not depend on the current biases at all.
    """
    k = prior.rank
    d = k + 1
    iu = np.triu_indices(d)
    pos = {(i, j): t for t, (i, j) in enumerate(zip(*iu))}
    n = gram[:, pos[(k, k)]]
    sum_f = gram[:, [pos[(r, k)] for r in range(k)]]          # sum of the other side's factors
    s = g[:, k] - np.einsum("nk,nk->n", own[:, :k], sum_f)
    keep = n > 0
    m = alpha * n[keep]
    q = 0.5 * alpha ** 2 * s[keep] ** 2
    a, b = prior.bias_a, prior.bias_b
    n_keep = float(keep.sum())

    def logf(y):
        t = np.exp(y)
        return (a * y - b * t + 0.5 * n_keep * y - 0.5 * np.sum(np.log(t + m))
                + np.sum(q / (t + m)))

    return float(np.exp(slice_sample(logf, np.log(tau), rng)))


def direct_sse(data: SweepData, xu: np.ndarray, xv: np.ndarray, biases: bool,
               chunk: int = 1 << 20) -> float:
    """Training SSE by gathering rows (chunked, so memory stays O(chunk * K))."""
    pat = data.pattern_u
    users = np.repeat(np.arange(data.n_users, dtype=np.int32), np.diff(pat.indptr))
    items = pat.indices
    vals = data.values_u
    k = xu.shape[1] - int(biases)
    total = 0.0
    for s in range(0, len(users), chunk):
        u, i = users[s:s + chunk], items[s:s + chunk]
        pred = np.einsum("nk,nk->n", xu[u, :k], xv[i, :k])
        if biases:
            pred += xu[u, k] + xv[i, k]
        total += float(((vals[s:s + chunk] - pred) ** 2).sum())
    return total


def _prior_blocks(prior: BPMFPrior, mu: np.ndarray, lam: np.ndarray, tau: float):
    d, k = prior.dim, prior.rank
    prec = np.zeros((d, d))
    prec[:k, :k] = lam
    h = np.zeros(d)
    h[:k] = lam @ mu
    if prior.biases:
        prec[k, k] = tau
    return prec, h


def _sample_hyper(prior: BPMFPrior, x: np.ndarray, rng):
    """(mu, Lambda) | latent rows (fixed ``0, lambda I`` without hyperprior)."""
    k = prior.rank
    if prior.nw is not None:
        return prior.nw.posterior(x[:, :k]).sample(rng)
    return np.zeros(k), prior.factor_precision * np.eye(k)


def _update_side(prior, pattern, values, own, other, mu, lam, tau, alpha, rng, mode, backend):
    """Bias precision (collapsed), all rows' (latent | bias) jointly, then a shift move."""
    k = prior.rank
    f = _features(other, prior.biases)
    gram, g, t2 = side_stats(pattern, values, f, other[:, k] if prior.biases else None)
    if prior.biases and not mode:
        tau = collapsed_tau(gram, g, own, prior, alpha, tau, rng)
    pp, ph = _prior_blocks(prior, mu, lam, tau)
    x, sse_rows, n_jit = draw_rows(gram, g, t2, pp, ph, alpha, rng, mode, backend)
    sse = float(sse_rows.sum())
    if prior.nw is not None and not mode:
        mu, d_sse = weighted_shift(x, gram, g, np.diff(pattern.indptr), mu, lam, prior, alpha,
                                   rng)
        sse += d_sse
    return x, mu, tau, sse, n_jit


def sweep(state: State, data: SweepData, prior: BPMFPrior, rng: np.random.Generator,
          mode: bool = False, backend: str = "numba") -> State:
    """One full Gibbs sweep ``(state, data, prior, rng) -> state`` (order in the module doc).

    ``mode=True`` replaces every factor draw by its conditional mean with hyperparameters
    held at their current values: iterating it is coordinate ascent to the MAP (ALS-like).
    """
    alpha = state.alpha
    if prior.alpha is None and not mode:
        alpha = float(rng.gamma(prior.alpha_a + 0.5 * data.n_ratings,
                                1.0 / (prior.alpha_b + 0.5 * state.sse)))
    if mode:
        mu_u, lam_u = state.mu_u, state.lam_u
    else:
        mu_u, lam_u = _sample_hyper(prior, state.xu, rng)
    xu, mu_u, tau_b, _, j1 = _update_side(prior, data.pattern_u, data.values_u, state.xu,
                                          state.xv, mu_u, lam_u, state.tau_b, alpha, rng,
                                          mode, backend)
    if mode:
        mu_v, lam_v = state.mu_v, state.lam_v
    else:
        mu_v, lam_v = _sample_hyper(prior, state.xv, rng)
    xv, mu_v, tau_c, sse, j2 = _update_side(prior, data.pattern_v, data.values_v, state.xv,
                                            xu, mu_v, lam_v, state.tau_c, alpha, rng, mode,
                                            backend)
    sse = max(sse, 0.0)
    new = State(xu, xv, alpha, mu_u, lam_u, mu_v, lam_v, tau_b, tau_c, sse,
                state.n_jitter + j1 + j2)
    if not mode and prior.rescale:
        rescale(new, prior, rng)
        if prior.nw is not None:
            linear_move(new, prior, rng)
    if not mode and prior.biases:
        translate(new, prior, rng)
    return new


def init_state(data: SweepData, prior: BPMFPrior, rng: np.random.Generator,
               scale: float = 0.1) -> State:
    """Small random factors (sd ``scale``); biases at shrunk mean residuals; tau from them.

    Starting the biases at zero would make the first ``tau`` draw huge (``Gamma(n/2, b0)``)
    and pin the biases near zero for a hundred sweeps; shrunk means (item: ``sum(r - mu) /
    (n_j + 10)``, then user likewise on the item-adjusted residual) start near the posterior.
    """
    d, k = prior.dim, prior.rank
    xu = np.zeros((data.n_users, d))
    xv = np.zeros((data.n_items, d))
    xu[:, :k] = scale * rng.standard_normal((data.n_users, k))
    xv[:, :k] = scale * rng.standard_normal((data.n_items, k))
    tau_b = tau_c = 1.0
    if prior.biases:
        cnt_v = np.diff(data.pattern_v.indptr)
        rows_v = np.repeat(np.arange(data.n_items), cnt_v)
        xv[:, k] = np.bincount(rows_v, data.values_v, data.n_items) / (cnt_v + 10.0)
        cnt_u = np.diff(data.pattern_u.indptr)
        rows_u = np.repeat(np.arange(data.n_users), cnt_u)
        res = data.values_u - xv[data.pattern_u.indices, k]
        xu[:, k] = np.bincount(rows_u, res, data.n_users) / (cnt_u + 10.0)
        tau_b = 1.0 / max(float(np.var(xu[:, k])), 1e-6)
        tau_c = 1.0 / max(float(np.var(xv[:, k])), 1e-6)
    alpha = 2.0 if prior.alpha is None else prior.alpha
    lam = np.eye(k) * (prior.factor_precision if prior.nw is None else 1.0)
    st = State(xu, xv, alpha, np.zeros(k), lam, np.zeros(k), lam.copy(), tau_b, tau_c, 0.0)
    return replace(st, sse=direct_sse(data, xu, xv, prior.biases))
