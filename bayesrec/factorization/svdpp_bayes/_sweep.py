"""One Gibbs sweep of Bayesian SVD++, vectorized over users and items.

Notation (``D = K + 1``; the last coordinate is the linear/bias part)::

    P_u = x_u + sum_c M^U_uc y_c,   x_u = (u_u, b_u)          (user total, see ``_design``)
    Q_i = x_i + sum_c M^V_ic z_c,   x_i = (v_i, c_i)
    r_ui ~ N(mu + P_u[:K] . Q_i[:K] + P_u[K] + Q_i[K], 1/alpha)

Updating the user side with the item totals fixed is a Bayesian linear regression per rating
with features ``f_i = (Q_i[:K], 1)`` and target ``t_ui = r_ui - mu - Q_i[K]``:
``t_ui ~ N(P_u . f_i, 1/alpha)``.  Everything the user-side conditionals need is in three
per-user statistics, built by one sparse pass over the ratings (BPMF's ``side_stats``)::

    G_u = sum_{i in R(u)} f_i f_i^T,   g_u = sum_i t_ui f_i,   t2_u = sum_i t_ui^2

Conditionals (all exact; ``Lambda, mu`` the group's Normal-Wishart draw, ``tau`` the bias or
linear-weight precision):

* own rows, independent across users (batched, BPMF's ``draw_rows``), with the bag offset
  ``o_u = sum_c M_uc y_c``::

      Prec = blockdiag(Lambda_U, tau_b) + alpha G_u,
      h = (Lambda_U mu_U, 0) + alpha (g_u - G_u o_u)

* bag column ``c`` (implicit item ``j`` or feature ``f``), given all other columns, with the
  side's own rows ``x`` INTEGRATED OUT (partially collapsed Gibbs, van Dyk & Park 2008):
  given the Gaussian prior ``x_u ~ N(m0, Pi^-1)``, ``Pi = blockdiag(Lambda_U, tau_b)``, user
  ``u``'s ratings are a Gaussian in ``a_u = m0 + o_u`` with precision and residual::

      S_u = Pi - Pi A_u^-1 Pi,   s_u = Pi (A_u^-1 (alpha g_u + Pi a_u) - a_u),
      A_u = Pi + alpha G_u                                       (``collapse_stats``)

  so that ``Prec_c = prior_c + sum_{u: M_uc != 0} M_uc^2 S_u`` and ``h_c = prior_c mean term
  + sum_u M_uc s_u + (Prec_c - prior_c) y_c(old)``; then ``s_u -= M_uc S_u (new - old)`` and
  ``o_u += M_uc (new - old)`` for the rows of column ``c``: a sequential pass over the
  columns (compiled; implicit groups update the K latent coordinates only, feature groups
  K + 1).  Cost O(nnz(M) D^2) per side.  Conditioning on ``x`` instead (plain Gibbs) pins
  ``y`` to the current split ``p_u = u_u + o_u`` and the bag factors crawl.
* then the own rows given the new bags (the first bullet), which completes the blocked draw
  of ``(y, x)``.

Hyperpriors (the same family for every group; see the estimator docstring for the choice)::

    (mu_g, Lambda_g) ~ NormalWishart(0, beta0, nu0, I)  for U, V and every bag group
    b_u ~ N(0, 1/tau_b), c_i ~ N(0, 1/tau_c), linear weights w_f ~ N(0, 1/tau_g),
    tau ~ Gamma(a, b);  alpha ~ Gamma(a_alpha, b_alpha) or fixed

``tau_b`` / ``tau_c`` are drawn with the biases integrated out (BPMF's ``collapsed_tau``).
The training SSE for the alpha update comes from the own-row draw (BPMF's ``draw_rows``).

Sweep order: alpha; user bias precision; user bag (collapsed); user rows; the split move of
:mod:`._moves` (own factor vs bag offset, per bag group); the same for items; the global
scale and GL(K) moves (user side ``A``, item side ``A^-T``); every Normal-Wishart block and
linear-weight precision redrawn from its conditional (the moves integrate them out, so they
are stale until this); the translation moves (``q_i -> q_i + d``, ``b_u -> b_u - p_u . d``
and mirror).  The state's hyperparameters are therefore always conditional draws given its
factors, and the next sweep uses them directly.  Every move is exact
(``tests/test_bayesian_svdpp_moves.py``); without them ``||Y||``, ``||V||``, ``tau_c`` and
``alpha`` drift for hundreds of sweeps on MovieLens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from ...inference.normal_wishart import NormalWishart
from ..bpmf._linalg import draw_rows, packed_matvec
from ..bpmf._sweep import BPMFPrior, SweepData, collapsed_tau, side_stats
from ._design import Bag
from ._moves import linear_move, scale_move, split_move, translate


@dataclass(frozen=True)
class SVDppPrior:
    """Fixed hyperparameters: ``own`` (BPMF's prior object: NW of U and V, bias Gamma, alpha)
    plus the bag groups' Normal-Wishart and the linear-weight Gamma prior."""

    own: BPMFPrior
    bag_nw: NormalWishart
    linear_a: float
    linear_b: float

    @property
    def rank(self) -> int:
        return self.own.rank


@dataclass
class BagHyper:
    """Per-group hyperparameters of a bag: means (G, K), precisions (G, K, K), tau (G,)."""

    mu: np.ndarray
    lam: np.ndarray
    tau: np.ndarray

    @classmethod
    def initial(cls, n_groups: int, k: int) -> BagHyper:
        return cls(np.zeros((n_groups, k)), np.tile(np.eye(k), (n_groups, 1, 1)),
                   np.ones(n_groups))


@dataclass
class SVDppState:
    """Own rows ``xu``/``xv`` (n, D), bag factors ``yu``/``yv`` (n_cols, D), totals
    ``pu``/``pv`` (n, D) = own + bag offset, and every hyperparameter."""

    xu: np.ndarray
    xv: np.ndarray
    yu: np.ndarray
    yv: np.ndarray
    pu: np.ndarray
    pv: np.ndarray
    alpha: float
    mu_u: np.ndarray
    lam_u: np.ndarray
    mu_v: np.ndarray
    lam_v: np.ndarray
    tau_b: float
    tau_c: float
    hyper_u: BagHyper
    hyper_v: BagHyper
    sse: float
    n_jitter: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class SVDppData:
    """Training ratings in both sparse layouts (BPMF's :class:`SweepData`) plus both bags."""

    ratings: SweepData
    bag_u: Bag
    bag_v: Bag

    @property
    def n_ratings(self) -> int:
        return self.ratings.n_ratings

    @property
    def offset(self) -> float:
        return self.ratings.offset


def packed_index(d: int) -> np.ndarray:
    """(d, d) map from ``(a, b)`` to the position of ``G[min, max]`` in the packed triangle."""
    iu = np.triu_indices(d)
    idx = np.empty((d, d), dtype=np.int64)
    idx[iu[0], iu[1]] = np.arange(len(iu[0]))
    idx[iu[1], iu[0]] = np.arange(len(iu[0]))
    return idx


@numba.njit(cache=True)
def _bag_kernel(order, col_indptr, col_rows, col_vals, col_group, group_dim, pidx, gram, s,
                total, y, prior_prec, prior_h, alpha, z):  # pragma: no cover - compiled
    n_d = y.shape[1]
    prec = np.empty((n_d, n_d))
    chol = np.empty((n_d, n_d))
    h = np.empty(n_d)
    w = np.empty(n_d)
    new = np.empty(n_d)
    delta = np.empty(n_d)
    acc = np.empty(pidx.max() + 1)
    n_jit = 0
    for jj in range(order.shape[0]):
        j = order[jj]
        grp = col_group[j]
        d = group_dim[grp]
        acc[:] = 0.0
        for a in range(n_d):
            h[a] = 0.0
        # data precision sum_u M_uj^2 G_u (packed) and sum_u M_uj s_u
        for p in range(col_indptr[j], col_indptr[j + 1]):
            u = col_rows[p]
            m = col_vals[p]
            m2 = m * m
            for t in range(acc.shape[0]):
                acc[t] += m2 * gram[u, t]
            for a in range(d):
                h[a] += m * s[u, a]
        for a in range(d):
            lin = 0.0
            for b in range(n_d):
                lin += acc[pidx[a, b]] * y[j, b]
            h[a] = prior_h[grp, a] + alpha * (h[a] + lin)
            for b in range(d):
                prec[a, b] = prior_prec[grp, a, b] + alpha * acc[pidx[a, b]]
        # Cholesky (jitter only if round-off breaks definiteness)
        eps = 0.0
        scale = 0.0
        for a in range(d):
            scale += abs(prec[a, a])
        scale /= d
        for _attempt in range(12):
            good = True
            for c in range(d):
                v = prec[c, c] + eps * scale
                for k in range(c):
                    v -= chol[c, k] * chol[c, k]
                if not v > 0.0:
                    good = False
                    break
                chol[c, c] = np.sqrt(v)
                for r in range(c + 1, d):
                    v2 = prec[r, c]
                    for k in range(c):
                        v2 -= chol[r, k] * chol[c, k]
                    chol[r, c] = v2 / chol[c, c]
            if good:
                break
            eps = 1e-10 if eps == 0.0 else eps * 100.0
            n_jit += 1
        # new = L^-T (L^-1 h + z)
        for a in range(d):
            v = h[a]
            for b in range(a):
                v -= chol[a, b] * w[b]
            w[a] = v / chol[a, a]
        for a in range(d):
            w[a] += z[j, a]
        for a in range(d - 1, -1, -1):
            v = w[a]
            for b in range(a + 1, d):
                v -= chol[b, a] * new[b]
            new[a] = v / chol[a, a]
        for a in range(d):
            delta[a] = new[a] - y[j, a]
            y[j, a] = new[a]
        # propagate to the rows of column j: totals and cached residual correlations
        for p in range(col_indptr[j], col_indptr[j + 1]):
            u = col_rows[p]
            m = col_vals[p]
            for a in range(d):
                w[a] = m * delta[a]
                total[u, a] += w[a]
            for a in range(n_d):
                v = 0.0
                for b in range(d):
                    v += gram[u, pidx[a, b]] * w[b]
                s[u, a] -= v
    return n_jit


@numba.njit(cache=True)
def _collapse_kernel(gram, g, prior_prec, prior_h, alpha, offset, s_mat, s_vec):
    # pragma: no cover - compiled
    # per row u:
    #   A = Pi + alpha G_u = L L^T,  W = L^-1 Pi,  S_u = Pi - W^T W  (= Pi A^-1 alpha G_u),
    #   s_u = Pi (A^-1 (alpha g_u + Pi a_u) - a_u),  a_u = m0 + o_u,  Pi m0 = prior_h
    n, d = g.shape
    chol = np.empty((d, d))
    wmat = np.empty((d, d))
    v = np.empty(d)
    for u in range(n):
        t = 0
        for i in range(d):
            for j in range(i, d):
                val = prior_prec[i, j] + alpha * gram[u, t]
                chol[i, j] = val
                chol[j, i] = val
                t += 1
        for j in range(d):
            acc = chol[j, j]
            for k in range(j):
                acc -= chol[j, k] * chol[j, k]
            if not acc > 0.0:
                acc = 1e-300   # cannot happen for Pi > 0, G >= 0 (guards round-off only)
            chol[j, j] = np.sqrt(acc)
            for i in range(j + 1, d):
                acc2 = chol[i, j]
                for k in range(j):
                    acc2 -= chol[i, k] * chol[j, k]
                chol[i, j] = acc2 / chol[j, j]
        # W = L^-1 Pi (column by column)
        for c in range(d):
            for i in range(d):
                acc = prior_prec[i, c]
                for k in range(i):
                    acc -= chol[i, k] * wmat[k, c]
                wmat[i, c] = acc / chol[i, i]
        t = 0
        for i in range(d):
            for j in range(i, d):
                acc = prior_prec[i, j]
                for k in range(d):
                    acc -= wmat[k, i] * wmat[k, j]
                s_mat[u, t] = acc
                t += 1
        # a = m0 + o_u with Pi m0 = prior_h;  v = alpha g + Pi a = alpha g + prior_h + Pi o
        for i in range(d):
            acc = alpha * g[u, i] + prior_h[i]
            for j in range(d):
                acc += prior_prec[i, j] * offset[u, j]
            v[i] = acc
        # v <- A^-1 v
        for i in range(d):
            acc = v[i]
            for k in range(i):
                acc -= chol[i, k] * v[k]
            v[i] = acc / chol[i, i]
        for i in range(d - 1, -1, -1):
            acc = v[i]
            for k in range(i + 1, d):
                acc -= chol[k, i] * v[k]
            v[i] = acc / chol[i, i]
        # s = Pi (v - a) = Pi v - prior_h - Pi o
        for i in range(d):
            acc = -prior_h[i]
            for j in range(d):
                acc += prior_prec[i, j] * (v[j] - offset[u, j])
            s_vec[u, i] = acc


def collapse_stats(gram, g, prior_prec, prior_h, alpha, offset):
    """Per-row ``S_u`` (packed) and ``s_u`` of the bag update with the own rows integrated out
    (see the module docstring)."""
    n, d = g.shape
    s_mat = np.empty_like(gram)
    s_vec = np.empty((n, d))
    _collapse_kernel(np.ascontiguousarray(gram), np.ascontiguousarray(g),
                     np.ascontiguousarray(prior_prec), np.ascontiguousarray(prior_h),
                     float(alpha), np.ascontiguousarray(offset), s_mat, s_vec)
    return s_mat, s_vec


def bag_prior(hyper: BagHyper, linear: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group prior precision (G, D, D) and ``Lambda mu`` term (G, D) of the bag columns."""
    n_g = len(linear)
    prec = np.zeros((n_g, k + 1, k + 1))
    h = np.zeros((n_g, k + 1))
    for g in range(n_g):
        prec[g, :k, :k] = hyper.lam[g]
        prec[g, k, k] = hyper.tau[g] if linear[g] else 1.0
        h[g, :k] = hyper.lam[g] @ hyper.mu[g]
    return prec, h


def draw_bag(bag: Bag, gram: np.ndarray, s: np.ndarray, total: np.ndarray, y: np.ndarray,
             hyper: BagHyper, alpha: float, rng, order: np.ndarray | None = None) -> int:
    """Sequential exact Gibbs update of the bag columns (in place on ``y``, ``s``, ``total``).

    ``order`` (default: every column, in index order) selects the columns and their order.
    Returns the number of jittered conditionals.
    """
    if bag.n_cols == 0:
        return 0
    k = y.shape[1] - 1
    prec, h = bag_prior(hyper, bag.linear, k)
    dims = np.where(bag.linear, k + 1, k).astype(np.int64)
    order = np.arange(bag.n_cols, dtype=np.int64) if order is None else np.asarray(order,
                                                                                   np.int64)
    z = rng.standard_normal((bag.n_cols, k + 1))
    return int(_bag_kernel(order, bag.col_indptr, bag.col_rows, bag.col_vals,
                           bag.group.astype(np.int64), dims, packed_index(k + 1),
                           np.ascontiguousarray(gram), s, total, y, prec, h, float(alpha), z))


def sample_bag_hyper(prior: SVDppPrior, bag: Bag, y: np.ndarray, rng) -> BagHyper:
    """``(mu_g, Lambda_g) | y`` (Normal-Wishart) and ``tau_g | w`` (Gamma) for every group."""
    k = prior.rank
    hyp = BagHyper.initial(bag.n_groups, k)
    for g in range(bag.n_groups):
        rows = y[bag.columns(g)]
        hyp.mu[g], hyp.lam[g] = prior.bag_nw.posterior(rows[:, :k]).sample(rng)
        if bag.linear[g]:
            w = rows[:, k]
            hyp.tau[g] = rng.gamma(prior.linear_a + 0.5 * len(w),
                                   1.0 / (prior.linear_b + 0.5 * float(w @ w)))
    return hyp


def stats_for(pattern, values, other_total: np.ndarray):
    """Per-row ``G, g, t2`` for features ``(Q[:K], 1)`` and targets ``r - mu - Q[K]``."""
    k = other_total.shape[1] - 1
    f = np.array(other_total, dtype=np.float64, copy=True)
    f[:, k] = 1.0
    return side_stats(pattern, values, f, other_total[:, k])


def own_prior(lam: np.ndarray, mu: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    k = len(mu)
    prec = np.zeros((k + 1, k + 1))
    prec[:k, :k] = lam
    prec[k, k] = tau
    h = np.zeros(k + 1)
    h[:k] = lam @ mu
    return prec, h


def draw_own(gram, g, t2, x_offset, mu, lam, tau, alpha, rng):
    """Own rows ``x = (latent, bias)`` given the bag offsets (batched Gaussian draws).

    Returns ``(x, sse, n_jitter)``; ``sse`` is the side's training SSE at the new totals
    ``x + x_offset``."""
    go = packed_matvec(gram, x_offset)
    g_own = g - go
    t2_own = t2 - 2.0 * np.einsum("nd,nd->n", x_offset, g) + np.einsum("nd,nd->n", x_offset, go)
    prec, h = own_prior(lam, mu, tau)
    x, sse_rows, n_jit = draw_rows(gram, g_own, t2_own, prec, h, alpha, rng)
    return x, float(np.sum(sse_rows)), n_jit


def update_side(prior: SVDppPrior, pattern, values, bag: Bag, x, y, other_total, mu, lam,
                tau, hyper: BagHyper, alpha: float, rng, fixed_tau: bool = False):
    """One side: bias precision (collapsed), the bag columns with the own rows integrated
    out, then the own rows given the bags.

    Returns ``(x, y, total, tau, sse, n_jitter)``; the SSE is over all training ratings.
    """
    gram, g, t2 = stats_for(pattern, values, other_total)
    y = np.array(y, copy=True)
    offset = np.asarray(bag.csr @ y) if bag.n_cols else np.zeros_like(x)
    if not fixed_tau:
        go = packed_matvec(gram, offset)
        tau = collapsed_tau(gram, g - go, x, prior.own, alpha, tau, rng)
    n2 = 0
    if bag.n_cols:
        prec, h = own_prior(lam, mu, tau)
        s_mat, s_vec = collapse_stats(gram, g, prec, h, alpha, offset)
        n2 = draw_bag(bag, s_mat, s_vec, offset, y, hyper, 1.0, rng)
    x, sse, n1 = draw_own(gram, g, t2, offset, mu, lam, tau, alpha, rng)
    return x, y, x + offset, tau, max(sse, 0.0), n1 + n2


def draw_hypers(state: SVDppState, data: SVDppData, prior: SVDppPrior, rng) -> None:
    """Every Normal-Wishart block and linear-weight precision from its conditional (in place)."""
    nw, k = prior.own.nw, prior.rank
    state.mu_u, state.lam_u = nw.posterior(state.xu[:, :k]).sample(rng)
    state.hyper_u = sample_bag_hyper(prior, data.bag_u, state.yu, rng)
    state.mu_v, state.lam_v = nw.posterior(state.xv[:, :k]).sample(rng)
    state.hyper_v = sample_bag_hyper(prior, data.bag_v, state.yv, rng)


def global_scale(state: SVDppState, data: SVDppData, prior: SVDppPrior, rng) -> float:
    """:func:`._moves.scale_move` over every factor group, applied in place."""
    k = prior.rank
    sides = []
    for x, y, bag in ((state.xu, state.yu, data.bag_u), (state.xv, state.yv, data.bag_v)):
        groups = [(prior.own.nw, x[:, :k])]
        groups += [(prior.bag_nw, y[bag.columns(g), :k]) for g in range(bag.n_groups)]
        sides.append(groups)
    c = scale_move(sides[0], sides[1], rng)
    for arr in (state.xu, state.yu, state.pu):
        arr[:, :k] *= c
    for arr in (state.xv, state.yv, state.pv):
        arr[:, :k] /= c
    a = linear_move(sides[0], sides[1], rng)
    a_inv_t = np.linalg.inv(a).T
    # einsum, not BLAS: threaded gemm on tall-skinny blocks stalls when the cores are busy
    for arr in (state.xu, state.yu, state.pu):
        arr[:, :k] = np.einsum("nk,kl->nl", arr[:, :k], a)
    for arr in (state.xv, state.yv, state.pv):
        arr[:, :k] = np.einsum("nk,kl->nl", arr[:, :k], a_inv_t)
    return c


def sweep(state: SVDppState, data: SVDppData, prior: SVDppPrior, rng) -> SVDppState:
    """One full Gibbs sweep ``(state, data, prior, rng) -> state`` (order in the module doc).

    The hyperparameters in ``state`` are conditional draws given its factors (the sweep ends
    by redrawing them), so each side's update uses them directly."""
    own = prior.own
    alpha = state.alpha
    if own.alpha is None:
        alpha = float(rng.gamma(own.alpha_a + 0.5 * data.n_ratings,
                                1.0 / (own.alpha_b + 0.5 * state.sse)))
    rd = data.ratings
    xu, yu, pu, tau_b, _, j1 = update_side(prior, rd.pattern_u, rd.values_u, data.bag_u,
                                           state.xu, state.yu, state.pv, state.mu_u,
                                           state.lam_u, state.tau_b, state.hyper_u, alpha,
                                           rng)
    split_move(xu, yu, data.bag_u, own.nw, prior.bag_nw, rng)
    xv, yv, pv, tau_c, sse, j2 = update_side(prior, rd.pattern_v, rd.values_v, data.bag_v,
                                             state.xv, state.yv, pu, state.mu_v,
                                             state.lam_v, state.tau_c, state.hyper_v, alpha,
                                             rng)
    split_move(xv, yv, data.bag_v, own.nw, prior.bag_nw, rng)
    new = SVDppState(xu, xv, yu, yv, pu, pv, alpha, state.mu_u, state.lam_u, state.mu_v,
                     state.lam_v, tau_b, tau_c, state.hyper_u, state.hyper_v, sse,
                     state.n_jitter + j1 + j2)
    global_scale(new, data, prior, rng)
    draw_hypers(new, data, prior, rng)
    translate(new, own.nw, rng)
    return new


def direct_sse(data: SVDppData, pu: np.ndarray, pv: np.ndarray) -> float:
    """Training SSE from the totals by gathering rows."""
    from ..bpmf._sweep import direct_sse as _bpmf_sse
    return _bpmf_sse(data.ratings, pu, pv, True)


def init_state(data: SVDppData, prior: SVDppPrior, rng, scale: float = 0.1) -> SVDppState:
    """BPMF's start for the own rows (small factors, shrunk-mean biases); the bag factors'
    latent parts at the same small random scale, linear parts 0; hyperparameters drawn from
    their conditionals.

    (Bag factors started at exactly 0 give their groups a huge first precision draw, and the
    chain can settle for a while in a state where the own factors carry the implicit signal.)"""
    from ..bpmf._sweep import init_state as _bpmf_init
    st = _bpmf_init(data.ratings, prior.own, rng, scale)
    k = prior.rank
    yu = np.zeros((data.bag_u.n_cols, k + 1))
    yu[:, :k] = scale * rng.standard_normal((data.bag_u.n_cols, k))
    yv = np.zeros((data.bag_v.n_cols, k + 1))
    yv[:, :k] = scale * rng.standard_normal((data.bag_v.n_cols, k))
    pu = st.xu + np.asarray(data.bag_u.csr @ yu)
    pv = st.xv + np.asarray(data.bag_v.csr @ yv)
    state = SVDppState(st.xu, st.xv, yu, yv, pu, pv, st.alpha,
                       st.mu_u, st.lam_u, st.mu_v, st.lam_v, st.tau_b, st.tau_c,
                       BagHyper.initial(data.bag_u.n_groups, k),
                       BagHyper.initial(data.bag_v.n_groups, k), direct_sse(data, pu, pv))
    draw_hypers(state, data, prior, rng)
    return state
