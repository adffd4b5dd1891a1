"""Exact MCMC moves of Bayesian SVD++ along the likelihood's flat directions, with the
Normal-Wishart hyperparameters integrated out.

The likelihood sees only the totals ``p_u = u_u + o_u`` (own factor + bag offset
``o_u = sum_c M_uc y_c``) and ``q_i`` likewise, and only through ``p_u . q_i``.  Two families
of directions leave it unchanged and are crossed by single-block Gibbs steps only by a slow
random walk, because every step conditions on the group hyperparameters ``(mu_g, Lambda_g)``
drawn from the current rows (the hierarchical "funnel"): on the embedded data the bag norms
``||Y||``, ``||V||`` and ``alpha`` drift for hundreds of sweeps without these moves.

* :func:`split_move`, per bag group ``g`` of a side: ``y_c -> c y_c`` (latent parts of the
  group's columns) and ``u_u -> u_u + (1 - c) o^g_u`` (``o^g`` = the group's part of the
  offset): every total stays put.
* :func:`scale_move`: every user-side factor (own rows and all user bag groups) times ``c``,
  every item-side factor divided by ``c``: every ``p_u . q_i`` stays put.

Each is a generalized Gibbs step (Liu & Sabatti 2000) on the multiplicative group ``c > 0``
(Haar measure ``dc / c``) for the posterior with every Normal-Wishart block integrated out.
With ``mu0 = 0`` the marginal of a group's rows ``X`` (n x K) is (Bishop 2006, 2.3.6)::

    log p(X) = -(nu0 + n) / 2  log det(W0^-1 + X^T X - s s^T / (beta0 + n)) + const,
    s = sum_n x_n

so the target of ``t = log c`` is ``sum_g log p(X_g(c)) + (number of scaled coordinates) *
(Jacobian exponent) t``, needing only K x K moments (slice sampling in ``t``).  The moves
leave the rows' hyperparameters stale: the sweep redraws every ``(mu_g, Lambda_g)`` from its
conditional right after them (nothing in between reads them), which makes the combination a
valid partially collapsed Gibbs sampler (van Dyk & Park 2008).
"""

from __future__ import annotations

import numba
import numpy as np

from ...inference.normal_wishart import NormalWishart
from ...inference.slice import slice_sample
from ._design import Bag


def _logdet(a: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(a)
    return val if sign > 0 else -np.inf


def nw_log_marginal(nw: NormalWishart, xx: np.ndarray, s: np.ndarray, n: int) -> float:
    """``log p(X)`` up to a constant for rows with ``X^T X = xx``, ``sum x = s`` (``mu0 = 0``)."""
    w0inv = np.linalg.inv(nw.W0)
    return -0.5 * (nw.nu0 + n) * _logdet(w0inv + xx - np.outer(s, s) / (nw.beta0 + n))


@numba.njit(cache=True)
def _cross_kernel(x, o):  # pragma: no cover - compiled
    n, k = x.shape
    xo = np.zeros((k, k))
    for r in range(n):
        for a in range(k):
            xa = x[r, a]
            for b in range(k):
                xo[a, b] += xa * o[r, b]
    return xo


@numba.njit(cache=True)
def _moments_kernel(x):  # pragma: no cover - compiled
    n, k = x.shape
    xx = np.zeros((k, k))
    s = np.zeros(k)
    for r in range(n):
        for a in range(k):
            xa = x[r, a]
            s[a] += xa
            for b in range(a, k):
                xx[a, b] += xa * x[r, b]
    for a in range(k):
        for b in range(a):
            xx[a, b] = xx[b, a]
    return xx, s


def _moments(x: np.ndarray):
    """``(X^T X, sum of rows)`` in one compiled pass (numpy's einsum and BLAS are slower on
    these tall-skinny blocks, BLAS erratically so when the cores are busy)."""
    return _moments_kernel(np.asarray(x, dtype=np.float64))


def _cross(x: np.ndarray, o: np.ndarray) -> np.ndarray:
    return _cross_kernel(np.asarray(x, dtype=np.float64), np.asarray(o, dtype=np.float64))


@numba.njit(cache=True)
def _transform_kernel(arr, mat):  # pragma: no cover - compiled
    n = arr.shape[0]
    k = mat.shape[0]
    row = np.empty(k)
    for r in range(n):
        for b in range(k):
            acc = 0.0
            for a in range(k):
                acc += arr[r, a] * mat[a, b]
            row[b] = acc
        for b in range(k):
            arr[r, b] = row[b]


def transform_latent(arr: np.ndarray, mat: np.ndarray) -> None:
    """``arr[:, :K] = arr[:, :K] @ mat`` in place (``mat`` K x K; a compiled row loop)."""
    _transform_kernel(arr, np.ascontiguousarray(mat, dtype=np.float64))


def _group_offset(bag: Bag, y: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    if len(cols) == bag.n_cols:
        return np.asarray(bag.csr @ y[:, :k])
    yg = np.zeros((bag.n_cols, k))
    yg[cols] = y[cols, :k]
    return np.asarray(bag.csr @ yg)


def split_move(x: np.ndarray, y: np.ndarray, bag: Bag, nw_own: NormalWishart,
               nw_bag: NormalWishart, rng) -> np.ndarray:
    """For every group ``g`` of ``bag``: ``y_g -> c y_g``, ``u -> u + (1 - c) o^g`` (in place
    on ``x`` and ``y``; the totals do not change).  Returns the drawn ``c`` per group.

    Target of ``t = log c`` (Jacobian ``c^(K n_g)`` of the scaled columns; the shift of the
    own rows has unit Jacobian)::

        log p(U + (1 - c) O_g) + log p(c Y_g) + K n_g t
    """
    k = nw_own.dim
    out = np.ones(bag.n_groups)
    for g in range(bag.n_groups):
        cols = bag.columns(g)
        if len(cols) == 0:
            continue
        o = _group_offset(bag, y, cols, k)
        logf = split_target(x[:, :k], o, y[cols, :k], nw_own, nw_bag)
        c = float(np.exp(slice_sample(logf, 0.0, rng, width=0.1)))
        y[cols, :k] *= c
        x[:, :k] += (1.0 - c) * o
        out[g] = c
    return out


def split_target(u: np.ndarray, o: np.ndarray, yg: np.ndarray, nw_own: NormalWishart,
                 nw_bag: NormalWishart):
    """``log f(t)`` of :func:`split_move` for own latent rows ``u``, the group's offsets ``o``
    and its columns' latent parts ``yg`` (K x K moments, computed once)."""
    k = u.shape[1]
    uu, su = _moments(u)
    uo = _cross(u, o)
    uo = uo + uo.T
    oo, so = _moments(o)
    yy, sy = _moments(yg)
    n_u, n_g = u.shape[0], yg.shape[0]

    def logf(t):
        c = np.exp(t)
        d = 1.0 - c
        return (nw_log_marginal(nw_own, uu + d * uo + d * d * oo, su + d * so, n_u)
                + nw_log_marginal(nw_bag, c * c * yy, c * sy, n_g) + k * n_g * t)
    return logf


def group_scatters(groups: list) -> list:
    """``(T_g, nu0 + n_g, W0^-1, n_g)`` for ``(NormalWishart, latent rows)`` groups, with
    ``T = X^T X - s s^T / (beta0 + n)``: the only statistic of the rows that the collapsed
    targets below need (``X -> c X`` gives ``c^2 T``, ``X -> X A`` gives ``A^T T A``)."""
    out = []
    for nw, rows in groups:
        n = rows.shape[0]
        xx, s = _moments(rows)
        out.append((xx - np.outer(s, s) / (nw.beta0 + n), nw.nu0 + n, np.linalg.inv(nw.W0),
                    n))
    return out


def scaled_scatters(stats: list, c2: float) -> list:
    """:func:`group_scatters` of the rows times ``c`` (``c2 = c^2``)."""
    return [(c2 * t, nu, w0i, n) for t, nu, w0i, n in stats]


def scale_move(user_stats: list, item_stats: list, rng) -> float:
    """Draw ``c`` for ``(user side, item side) -> (c user side, item side / c)``.

    ``user_stats`` / ``item_stats``: :func:`group_scatters` of every group of a side (own
    rows and every bag group).  Target of ``t = log c``::

        - sum_{user g} nu_g / 2 sum log(1 + e^{2t} lambda_g)
        - sum_{item g} nu_g / 2 sum log(1 + e^{-2t} lambda_g)  + K (N_user - N_item) t

    (``lambda_g``: eigenvalues of ``T_g`` against ``W0^-1``; ``N``: rows of all the side's
    groups; log-concave).  Returns ``c``; the caller scales.
    """
    return float(np.exp(slice_sample(scale_target(user_stats, item_stats), 0.0, rng,
                                     width=0.05)))


def _eigs(t: np.ndarray, w0i: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``T`` against ``W0^-1``: ``log det(W0^-1 + c^2 T) = const +
    sum log(1 + c^2 lambda)``."""
    chol = np.linalg.cholesky(w0i)
    a = np.linalg.solve(chol, np.linalg.solve(chol, t).T)
    return np.clip(np.linalg.eigvalsh(0.5 * (a + a.T)), 0.0, None)


def scale_target(user_stats: list, item_stats: list):
    """``log f(t)`` of :func:`scale_move` (generalized eigenvalues computed once)."""
    ust = [(_eigs(t, w0i), nu) for t, nu, w0i, _ in user_stats]
    ist = [(_eigs(t, w0i), nu) for t, nu, w0i, _ in item_stats]
    k = user_stats[0][0].shape[0]
    n_net = sum(st[3] for st in user_stats) - sum(st[3] for st in item_stats)

    def logf(t):
        up = sum(-0.5 * nu * np.sum(np.log1p(np.exp(2 * t) * lam)) for lam, nu in ust)
        dn = sum(-0.5 * nu * np.sum(np.log1p(np.exp(-2 * t) * lam)) for lam, nu in ist)
        return up + dn + k * n_net * t
    return logf


def translate(state, nw: NormalWishart, rng) -> None:
    """Shift moves along the biased likelihood's translation ridges (in place on ``state``).

    ``v_i -> v_i + d`` for every item (so ``q_i -> q_i + d``) with ``mu_V -> mu_V + d`` and
    ``b_u -> b_u - p_u . d`` leaves every ``b_u + c_i + p_u . q_i`` unchanged; the group of
    shifts has Lebesgue Haar measure and unit Jacobian, and with the hyperparameters in the
    state only two prior terms change, so the generalized Gibbs step (Liu & Sabatti 2000) is
    Gaussian (as BPMF's ``translate`` with the totals ``p_u`` in place of ``u_u``)::

        d ~ N(P^-1 h, P^-1),  P = beta0 Lambda_V + tau_b P_U^T P_U,
                              h = -beta0 Lambda_V (mu_V - mu0) + tau_b P_U^T b

    then the same with users and items swapped.  Needs hyperparameters that are conditional
    draws given the current rows (the sweep calls it right after redrawing them).
    """
    k = nw.dim
    for mov_x, mov_p, fix_x, fix_p, attr_mu, attr_lam, tau in (
            (state.xv, state.pv, state.xu, state.pu, "mu_v", "lam_v", state.tau_b),
            (state.xu, state.pu, state.xv, state.pv, "mu_u", "lam_u", state.tau_c)):
        f = fix_p[:, :k]
        mu = getattr(state, attr_mu)
        prec, h = translate_conditional(f, fix_x[:, k], mu, getattr(state, attr_lam), tau, nw)
        chol = np.linalg.cholesky(prec)
        d = np.linalg.solve(prec, h) + np.linalg.solve(chol.T, rng.standard_normal(k))
        mov_x[:, :k] += d
        mov_p[:, :k] += d
        shift = np.einsum("nk,k->n", f, d)
        fix_x[:, k] -= shift
        fix_p[:, k] -= shift
        setattr(state, attr_mu, mu + d)


def translate_conditional(f, b, mu, lam, tau, nw: NormalWishart):
    """Precision and ``h`` of the shift ``d`` in :func:`translate`: ``f`` the fixed side's
    latent totals, ``b`` its own biases, ``(mu, lam)`` the moving side's hyperparameters."""
    prec = nw.beta0 * lam + tau * _moments(f)[0]
    h = -nw.beta0 * lam @ (mu - nw.mu0) + tau * np.einsum("n,nk->k", b, f)
    return prec, h


def linear_move(user_stats: list, item_stats: list, rng, n_steps: int = 30,
                step: float = 0.05) -> np.ndarray:
    """Metropolis walk on ``(user side, item side) -> (user side A, item side A^-T)``,
    ``A`` in GL(K); returns ``A`` (the caller transforms the rows).

    Every ``p_u . q_i`` is unchanged.  With the Normal-Wishart blocks integrated out
    (``T_g = X_g^T X_g - s_g s_g^T / (beta0 + n_g)``, which transforms as ``A^T T_g A``) and
    the Jacobian ``|det A|^(N_user - N_item)``, the target relative to the Haar measure is::

        log f(A) = - sum_{user g} nu_g / 2 log det(W0^-1 + A^T T_g A)
                   - sum_{item g} nu_g / 2 log det(W0^-1 + A^-1 T_g A^-T)
                   + (N_user - N_item) log |det A|

    Proposals ``A' = A B`` with ``B = I + step Z`` or its inverse (equal odds, ``Z`` iid
    N(0, 1)) are inversion-symmetric, and GL(K)'s Haar measure is inversion invariant, so the
    generalized Metropolis rule (Liu & Sabatti 2000) accepts with ``min(1, f(A') / f(A))``.
    Covers the "stretch" directions (one latent direction larger on the user side, smaller on
    the item side) that the scalar :func:`scale_move` does not.
    """
    logf = linear_target(user_stats, item_stats)
    k = user_stats[0][0].shape[0]
    eye = np.eye(k)
    a, a_inv = eye.copy(), eye.copy()
    cur = logf(a, a_inv)
    for _ in range(n_steps):
        b = eye + step * rng.standard_normal((k, k))
        b_inv = np.linalg.inv(b)
        if rng.uniform() < 0.5:
            b, b_inv = b_inv, b
        a_new, a_inv_new = a @ b, b_inv @ a_inv
        new = logf(a_new, a_inv_new)
        if np.log(rng.uniform()) < new - cur:
            a, a_inv, cur = a_new, a_inv_new, new
    return a


def linear_target(user_stats: list, item_stats: list):
    """``log f(A, A^-1)`` of :func:`linear_move` (:func:`group_scatters` of both sides)."""
    n_net = sum(st[3] for st in user_stats) - sum(st[3] for st in item_stats)

    def logf(a, a_inv):
        out = n_net * np.linalg.slogdet(a)[1]
        for t, nu, w0i, _ in user_stats:
            out -= 0.5 * nu * _logdet(w0i + a.T @ t @ a)
        for t, nu, w0i, _ in item_stats:
            out -= 0.5 * nu * _logdet(w0i + a_inv @ t @ a_inv.T)
        return out
    return logf
