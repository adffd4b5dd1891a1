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


def _moments(x: np.ndarray):
    return np.einsum("nk,nl->kl", x, x), x.sum(axis=0)


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
    uo = np.einsum("nk,nl->kl", u, o)
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


def _group_stats(nw: NormalWishart, rows: np.ndarray):
    """Generalized eigenvalues of ``T = X^T X - s s^T / (beta0 + n)`` against ``W0^-1`` and
    the group's ``nu0 + n``: ``log det(W0^-1 + c^2 T) = const + sum log(1 + c^2 lambda)``."""
    n = rows.shape[0]
    xx, s = _moments(rows)
    t = xx - np.outer(s, s) / (nw.beta0 + n)
    chol = np.linalg.cholesky(np.linalg.inv(nw.W0))
    a = np.linalg.solve(chol, np.linalg.solve(chol, t).T)
    lam = np.clip(np.linalg.eigvalsh(0.5 * (a + a.T)), 0.0, None)
    return lam, nw.nu0 + n


def scale_move(user_groups: list, item_groups: list, rng) -> float:
    """Draw ``c`` for ``(user side, item side) -> (c user side, item side / c)``.

    ``user_groups`` / ``item_groups``: ``(NormalWishart, latent rows)`` of every group of a
    side (own rows and every bag group).  Target of ``t = log c``::

        - sum_{user g} nu_g / 2 sum log(1 + e^{2t} lambda_g)
        - sum_{item g} nu_g / 2 sum log(1 + e^{-2t} lambda_g)  + K (N_user - N_item) t

    (``N``: rows of all the side's groups; log-concave).  Returns ``c``; the caller scales.
    """
    return float(np.exp(slice_sample(scale_target(user_groups, item_groups), 0.0, rng,
                                     width=0.05)))


def scale_target(user_groups: list, item_groups: list):
    """``log f(t)`` of :func:`scale_move` (generalized eigenvalues computed once)."""
    ustats = [_group_stats(nw, rows) for nw, rows in user_groups]
    istats = [_group_stats(nw, rows) for nw, rows in item_groups]
    k = user_groups[0][1].shape[1]
    n_net = sum(r.shape[0] for _, r in user_groups) - sum(r.shape[0] for _, r in item_groups)

    def logf(t):
        up = sum(-0.5 * nu * np.sum(np.log1p(np.exp(2 * t) * lam)) for lam, nu in ustats)
        dn = sum(-0.5 * nu * np.sum(np.log1p(np.exp(-2 * t) * lam)) for lam, nu in istats)
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
    prec = nw.beta0 * lam + tau * np.einsum("nk,nl->kl", f, f)
    h = -nw.beta0 * lam @ (mu - nw.mu0) + tau * np.einsum("n,nk->k", b, f)
    return prec, h


def _scatter(nw: NormalWishart, rows: np.ndarray) -> tuple[np.ndarray, float]:
    n = rows.shape[0]
    xx, s = _moments(rows)
    return xx - np.outer(s, s) / (nw.beta0 + n), nw.nu0 + n


def linear_move(user_groups: list, item_groups: list, rng, n_steps: int = 30,
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
    logf = linear_target(user_groups, item_groups)
    k = user_groups[0][1].shape[1]
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


def linear_target(user_groups: list, item_groups: list):
    """``log f(A, A^-1)`` of :func:`linear_move` (scatter matrices computed once)."""
    ust = [(*_scatter(nw, rows), np.linalg.inv(nw.W0)) for nw, rows in user_groups]
    ist = [(*_scatter(nw, rows), np.linalg.inv(nw.W0)) for nw, rows in item_groups]
    n_net = sum(r.shape[0] for _, r in user_groups) - sum(r.shape[0] for _, r in item_groups)

    def logf(a, a_inv):
        out = n_net * np.linalg.slogdet(a)[1]
        for t, nu, w0i in ust:
            out -= 0.5 * nu * _logdet(w0i + a.T @ t @ a)
        for t, nu, w0i in ist:
            out -= 0.5 * nu * _logdet(w0i + a_inv @ t @ a_inv.T)
        return out
    return logf
