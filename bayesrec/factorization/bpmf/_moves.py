"""Extra exact MCMC moves of BPMF along the likelihood's flat directions.

The Gibbs conditionals of :mod:`._sweep` move the factors one side at a time; the likelihood
depends on ``U V^T`` (and ``b_u + c_v + u . v``) only, so it is flat along scale, shift and
general linear transformations, and single-side Gibbs moves drift along those ridges for
hundreds of sweeps.  Each move below is a generalized Gibbs or Metropolis step (Liu & Sabatti
2000) on a transformation group, exact for the joint posterior:

- :func:`rescale`: ``(U, V) -> (c U, V / c)`` (a GIG draw);
- :func:`linear_move`: ``U -> U A, V -> V A^-T`` for ``A`` in GL(K) (Metropolis);
- :func:`translate`: ``V -> V + d, b -> b - U d`` and its mirror (Gaussian);
- :func:`weighted_shift`: ``mu -> mu + d`` with the weakly-rated rows (Gaussian).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import geninvgauss

from ...exceptions import ConvergenceError
from ._linalg import gram as _gram
from ._linalg import packed_matvec

if TYPE_CHECKING:  # pragma: no cover
    from ._sweep import BPMFPrior, State


def weighted_shift(x, gram, g, counts, mu, lam, prior: BPMFPrior, alpha: float, rng):
    """Move ``mu -> mu + d`` and every row ``x_j -> x_j + w_j d`` with ``w_j = 1 / (1 + n_j)``.

    Rows with few ratings are prior-dominated and follow ``mu``; rows with many are pinned
    by their data.  The centred Gibbs steps therefore move ``mu`` (and ``||mu_V||``, ``tau_c``
    with it) by a slow autoregression.  Shifting ``mu`` together with the weak rows is a
    translation group with unit Jacobian; its generalized Gibbs step (Liu & Sabatti 2000) is
    Gaussian, built from the sweep's Gram blocks ``A_j = sum u u^T`` and residual correlations
    ``e_j = sum_i (t_ij - f_i . x_j) u_i``::

        P = alpha sum_j w_j^2 A_j + (beta0 + sum_j (1 - w_j)^2) Lambda
        h = alpha sum_j w_j e_j + Lambda sum_j (1 - w_j)(x_j - mu) - beta0 Lambda (mu - mu0)
        d ~ N(P^-1 h, P^-1)

    ``w`` depends only on the rating counts (fixed), so the move is exact.  Returns the new
    ``mu`` and the change of the training SSE; ``x`` is updated in place.
    """
    k, d = prior.rank, x.shape[1]
    iu = np.triu_indices(d)
    w = 1.0 / (1.0 + counts)
    lat = x[:, :k]
    # weighted column sums by einsum (threaded OpenBLAS gemv stalls when cores are busy)
    wgx = np.einsum("n,nd->d", w, packed_matvec(gram, x))     # sum_j w_j G_j x_j
    we = np.einsum("n,nk->k", w, g[:, :k]) - wgx[:k]           # sum_j w_j e_j
    ww = np.einsum("n,nt->t", w * w, gram)                     # sum_j w_j^2 G_j (packed)
    a_sum = np.zeros((d, d))
    a_sum[iu[0], iu[1]] = ww
    a_sum[iu[1], iu[0]] = ww
    a_sum = a_sum[:k, :k]
    beta0 = prior.nw.beta0
    prec = alpha * a_sum + (beta0 + np.sum((1 - w) ** 2)) * lam
    dev = np.einsum("n,nk->k", 1 - w, lat) - np.sum(1 - w) * mu  # sum_j (1-w_j)(x_j - mu)
    h = alpha * we + lam @ dev - beta0 * lam @ (mu - prior.nw.mu0)
    chol = np.linalg.cholesky(0.5 * (prec + prec.T))
    delta = np.linalg.solve(prec, h) + np.linalg.solve(chol.T, rng.standard_normal(k))
    d_sse = float(-2.0 * delta @ we + delta @ a_sum @ delta)
    x[:, :k] += w[:, None] * delta
    return mu + delta, d_sse


def linear_move(state: State, prior: BPMFPrior, rng: np.random.Generator,
                n_steps: int = 30, step: float = 0.05) -> None:
    """Metropolis walk on the group ``U -> U A, V -> V A^-T`` (A in GL(K)) (in place).

    The likelihood depends on ``U V^T`` only, so every invertible ``A`` leaves it unchanged;
    transforming the hyperparameters with it (``mu_U -> A^T mu_U``, ``Lambda_U -> A^-1
    Lambda_U A^-T``, ``mu_V -> A^-1 mu_V``, ``Lambda_V -> A^T Lambda_V A``), all Gaussian
    terms, Wishart determinants and Jacobians cancel (needs ``mu0 = 0``), and the target
    along the group, relative to its Haar measure, is::

        f(A) = exp(-tr(W0^-1 A^-1 Lambda_U A^-T) / 2 - tr(W0^-1 A^T Lambda_V A) / 2)

    Proposals ``A' = A B`` with ``B = I + step Z`` or ``B = (I + step Z)^-1`` (equal odds,
    ``Z`` iid N(0, 1)) have an inversion-symmetric law, and the Haar measure of GL(K) is
    inversion invariant, so the generalized Metropolis rule (Liu & Sabatti 2000) accepts
    with ``min(1, f(A')/f(A))``.
    ``n_steps`` steps compose one ``A`` (cheap, K x K algebra), then U and V are transformed
    once.  Rotations and the overall scale are special cases; this also reaches the
    "stretch" directions along which ``||mu_U||``, ``||U||`` and ``||V||`` mix slowly.
    """
    k = prior.rank
    w0inv = prior.w0_inv
    lam_u, lam_v = state.lam_u, state.lam_v

    def logf(a, a_inv):
        return -0.5 * (np.sum(w0inv * (a_inv @ lam_u @ a_inv.T))
                       + np.sum(w0inv * (a.T @ lam_v @ a)))

    a = np.eye(k)
    a_inv = np.eye(k)
    cur = logf(a, a_inv)
    eye = np.eye(k)
    for _ in range(n_steps):
        b = eye + step * rng.standard_normal((k, k))
        b_inv = np.linalg.inv(b)
        if rng.uniform() < 0.5:       # B or B^-1 with equal odds: inversion-symmetric
            b, b_inv = b_inv, b
        a_new = a @ b
        a_inv_new = b_inv @ a_inv
        new = logf(a_new, a_inv_new)
        if np.log(rng.uniform()) < new - cur:
            a, a_inv, cur = a_new, a_inv_new, new
    state.xu[:, :k] = state.xu[:, :k] @ a
    state.xv[:, :k] = state.xv[:, :k] @ a_inv.T
    state.mu_u = a.T @ state.mu_u
    state.mu_v = a_inv @ state.mu_v
    state.lam_u = a_inv @ lam_u @ a_inv.T
    state.lam_v = a.T @ lam_v @ a


def translate(state: State, prior: BPMFPrior, rng: np.random.Generator) -> None:
    """Translation moves along the other two ridges of the biased likelihood (in place).

    ``v_j -> v_j + d`` for all items with ``b_i -> b_i - u_i . d`` (and ``mu_V -> mu_V + d``)
    leaves every ``b_i + c_j + u_i . v_j`` unchanged: the group of shifts ``d`` in R^K has
    Lebesgue Haar measure and unit Jacobian, so the generalized Gibbs step (Liu & Sabatti
    2000) draws ``d`` from the prior terms that change::

        -beta0/2 (mu_V + d - mu0)^T Lambda_V (mu_V + d - mu0) - tau_b/2 ||b - U d||^2
        => d ~ N(P^-1 h, P^-1),  P = beta0 Lambda_V + tau_b U^T U,
                                 h = -beta0 Lambda_V (mu_V - mu0) + tau_b U^T b

    (without hyperprior: ``P = lambda n_items I + tau_b U^T U``, ``h = -lambda sum_j v_j +
    tau_b U^T b``).  Then the same with the roles of users and items swapped.  Without it,
    ``mu_V`` trades off against the user biases only through single-site moves and drifts for
    hundreds of sweeps.
    """
    k = prior.rank
    for mov, fix, attr_mu, attr_lam, tau in ((state.xv, state.xu, "mu_v", "lam_v",
                                              state.tau_b),
                                             (state.xu, state.xv, "mu_u", "lam_u",
                                              state.tau_c)):
        f = fix[:, :k]
        if prior.nw is not None:
            lam = getattr(state, attr_lam)
            mu = getattr(state, attr_mu)
            p = prior.nw.beta0 * lam + tau * _gram(f)
            h = -prior.nw.beta0 * lam @ (mu - prior.nw.mu0) + tau * fix[:, k] @ f
        else:
            p = prior.factor_precision * len(mov) * np.eye(k) + tau * _gram(f)
            h = -prior.factor_precision * mov[:, :k].sum(axis=0) + tau * fix[:, k] @ f
        chol = np.linalg.cholesky(p)
        d = np.linalg.solve(p, h) + np.linalg.solve(chol.T, rng.standard_normal(k))
        mov[:, :k] += d
        fix[:, k] -= f @ d
        if prior.nw is not None:
            setattr(state, attr_mu, getattr(state, attr_mu) + d)


def rescale(state: State, prior: BPMFPrior, rng: np.random.Generator) -> None:
    """Scale move along the likelihood's ridge ``(U, V) -> (c U, V / c)`` (in place).

    Generalized Gibbs step (Liu & Sabatti 2000) for the group ``c > 0`` acting by
    ``U, mu_U -> c U, c mu_U;  Lambda_U -> Lambda_U / c^2`` and the inverse on the item side.
    The likelihood is invariant; with ``mu0 = 0`` the Gaussian and Wishart log-determinants
    cancel against the Jacobian, and under the Haar measure ``dc / c`` the target in
    ``t = c^2`` is ``t^-1 exp(-(A / t + B t) / 2)``, a GIG(0, B, A) with
    ``A = tr(W0^-1 Lambda_U)``, ``B = tr(W0^-1 Lambda_V)``.  Without hyperprior (fixed
    ``lambda``) the same algebra gives ``t^(p-1) exp(-(A / t + B t) / 2)`` with
    ``p = (n_users - n_items) K / 2``, ``A = lambda ||V||^2``, ``B = lambda ||U||^2``.
    Plain Gibbs moves along this ridge only by a slow random walk (the norms
    of U and V drift for hundreds of sweeps on MovieLens); this step removes that drift.
    """
    k = prior.rank
    if prior.nw is not None:
        w0inv = prior.w0_inv
        a, b, p = np.sum(w0inv * state.lam_u), np.sum(w0inv * state.lam_v), 0.0
    else:
        lam = prior.factor_precision
        a = lam * float(np.sum(state.xv[:, :k] ** 2))
        b = lam * float(np.sum(state.xu[:, :k] ** 2))
        p = 0.5 * k * (state.xu.shape[0] - state.xv.shape[0])
    # density of t: t^(p-1) exp(-(a / t + b t) / 2); t = sqrt(a / b) * Y, Y ~ GIG(p, sqrt(ab))
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        scale, shape = np.sqrt(a / b), np.sqrt(a * b)
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(shape) and shape > 0):
        # scipy would raise a bare "domain error"; name the settings that lead here
        raise ConvergenceError(
            f"BPMF scale move: the factor precisions left float64 range (GIG parameters "
            f"a={a:g}, b={b:g}); check W0 / factor_precision and init_scale")
    t = float(scale * geninvgauss.rvs(p, shape, random_state=rng))
    c = np.sqrt(t)
    state.xu[:, :k] *= c
    state.xv[:, :k] /= c
    if prior.nw is not None:
        state.mu_u = state.mu_u * c
        state.lam_u = state.lam_u / t
        state.mu_v = state.mu_v / c
        state.lam_v = state.lam_v * t
