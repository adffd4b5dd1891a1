"""Coordinate-ascent variational inference for HPF (Gopalan, Hofman & Blei, UAI 2015).

Equation and figure numbers are the paper's (UAI 2015 proceedings version; its appendix,
"The variational algorithm", continues the equation numbering).  The counts are ``y_ui``
(``r_ui`` in the estimator's docstring), the factors ``theta_u = u_u`` and ``beta_i = v_i``.

Auxiliary variables (Sec. 2.2): ``z_uik ~ Poisson(theta_uk beta_ik)`` with
``y_ui = sum_k z_uik``; ``z_ui = 0`` wherever ``y_ui = 0``, so only the nonzero cells carry a
multinomial.  Mean-field family (Sec. 2.2, shape/rate)::

    q(theta_uk) = Gamma(gs_uk, gr_uk)     q(xi_u)  = Gamma(ks_u, kr_u)
    q(beta_ik)  = Gamma(ls_ik, lr_ik)     q(eta_i) = Gamma(ts_i, tr_i)
    q(z_ui)     = Mult(y_ui, phi_ui)

with the paper's ``gamma^shp, gamma^rte, kappa^shp, kappa^rte, lambda^shp, lambda^rte,
tau^shp, tau^rte`` written ``gs, gr, ks, kr, ls, lr, ts, tr``.  One iteration is the
algorithm box of Fig. 3 ("Variational inference for Poisson factorization"), in its order;
each line sets a block to the expected parameter of its complete conditional (Eqs. 3-5 and
the unnumbered ``xi``/``eta`` conditionals), hence maximizes the ELBO in that block, so the
ELBO never decreases::

    ks_u  = a' + K a,   ts_i = c' + K c                          (Fig. 3, set once)
    1. phi_uik ∝ exp{psi(gs_uk) - log gr_uk + psi(ls_ik) - log lr_ik}   (Fig. 3 step 1; Eq. 8)
    2. gs_uk = a + sum_i y_ui phi_uik                            (Fig. 3 step 2; Eq. 6)
       gr_uk = ks_u/kr_u + sum_i ls_ik/lr_ik                     (Fig. 3 step 2; Eq. 6)
       kr_u  = a'/b' + sum_k gs_uk/gr_uk                         (Fig. 3 step 2)
    3. ls_ik = c + sum_u y_ui phi_uik                            (Fig. 3 step 3; Eq. 7)
       lr_ik = ts_i/tr_i + sum_u gs_uk/gr_uk                     (Fig. 3 step 3; Eq. 7)
       tr_i  = c'/d' + sum_k ls_ik/lr_ik                         (Fig. 3 step 3)

``E[log x] = psi(shape) - log(rate)`` and ``E[x] = shape/rate`` under a Gamma ``q``.
``sum_i ls_ik/lr_ik`` runs over *all* items (zeros included) and is one column sum: only the
interactions ``y_ui > 0`` are visited, O(nnz K) per iteration (:func:`._kernels.phi_pass`),
as the paper's log-likelihood (Sec. 2.1, "Fast inference with sparse matrices") shows::

    log p(y | theta, beta) = sum_{y_ui>0} [y_ui log(theta_u . beta_i) - log y_ui!]
                             - (sum_u theta_u) . (sum_i beta_i)

Where this differs from the paper's text:

* The rate of ``q(xi_u)`` is ``a'/b' + ...`` (and ``c'/d' + ...`` for ``eta_i``) as in
  Fig. 3 and the generative process ``xi_u ~ Gamma(a', a'/b')``; the appendix's
  conditionals print ``b' + sum_k theta_uk`` and ``d' + sum_k beta_ik``, and Eqs. 6-7 print
  ``b``/``d`` for the prior part of the rates of ``gamma``/``lambda`` where Fig. 3 has
  ``E_q[xi_u] = ks_u/kr_u`` and ``E_q[eta_i] = ts_i/tr_i``: we follow Fig. 3 (the updates that
  maximize the ELBO of the stated model).  Eq. 4 prints shape ``a`` and ``sum_i theta_uk``
  for ``beta_ik``; the conditional is ``Gamma(c + sum_u z_uik, eta_i + sum_u theta_uk)``.
* Stopping: the paper stops when the validation log-likelihood changes by less than
  0.0001%; here iterations stop when the relative ELBO change is below ``tol`` (or after
  ``n_iter``), so no held-out data is needed.
* Start: the paper initializes "to the prior with a small random offset"; here the shapes
  and rates start at the prior's with a relative uniform jitter ``init_scale``
  (:func:`init_state`).

ELBO (evaluated right after the ``phi`` step, where ``phi`` is optimal, so its multinomial
terms collapse to a log-sum-exp)::

    L = sum_{y_ui>0} [y_ui log sum_k exp(E log theta_uk + E log beta_ik) - log y_ui!]
        - sum_k (sum_u E theta_uk)(sum_i E beta_ik)
        + sum_uk E[log Gamma(theta_uk; a, xi_u)] + sum_u E[log Gamma(xi_u; a', a'/b')]
        + sum_ik E[log Gamma(beta_ik; c, eta_i)] + sum_i E[log Gamma(eta_i; c', c'/d')]
        + entropies of q(theta), q(xi), q(beta), q(eta)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from ._data import HPFPrior, InteractionData
from ._kernels import phi_pass


@dataclass
class CAVIState:
    """Variational parameters (see the module docstring for the names)."""

    gs: np.ndarray   # (n_users, K) shape of q(theta)
    gr: np.ndarray   # (n_users, K) rate of q(theta)
    ks: float        # shape of q(xi_u), the same for every user
    kr: np.ndarray   # (n_users,) rate of q(xi)
    ls: np.ndarray   # (n_items, K) shape of q(beta)
    lr: np.ndarray   # (n_items, K) rate of q(beta)
    ts: float        # shape of q(eta_i)
    tr: np.ndarray   # (n_items,) rate of q(eta)


def init_state(n_users: int, n_items: int, prior: HPFPrior, rng: np.random.Generator,
               init_scale: float) -> CAVIState:
    """Start near the prior: shapes ``a (1 + init_scale U)``, rates at the prior's mean rate,
    with independent uniform jitter ``U ~ U(0, 1)`` that breaks the symmetry between the K
    components (the ELBO is invariant to permuting them)."""
    K = prior.rank
    ks = prior.a_prime + K * prior.a
    ts = prior.c_prime + K * prior.c
    gs = prior.a * (1.0 + init_scale * rng.random((n_users, K)))
    ls = prior.c * (1.0 + init_scale * rng.random((n_items, K)))
    gr = np.full((n_users, K), prior.b_prime) * (1.0 + init_scale * rng.random((n_users, K)))
    lr = np.full((n_items, K), prior.d_prime) * (1.0 + init_scale * rng.random((n_items, K)))
    kr = prior.a_prime / prior.b_prime + (gs / gr).sum(1)
    tr = prior.c_prime / prior.d_prime + (ls / lr).sum(1)
    return CAVIState(gs, gr, ks, kr, ls, lr, ts, tr)


def _gamma_entropy(shape, rate, log_rate=None, psi=None) -> float:
    """Sum of the entropies of Gamma(shape, rate): ``s - log r + lgamma(s) + (1 - s) psi(s)``."""
    log_rate = np.log(rate) if log_rate is None else log_rate
    psi = digamma(shape) if psi is None else psi
    return float(np.sum(shape - log_rate + gammaln(shape) + (1.0 - shape) * psi))


def _prior_terms(x_shape, x_rate, elog_x, h_shape, h_rate, a, a_prime, b_prime) -> float:
    """``E[log p(x | h)] + E[log p(h)] + H[q(x)] + H[q(h)]`` for one side (users or items):
    ``x_jk ~ Gamma(a, h_j)``, ``h_j ~ Gamma(a', a'/b')``, under the Gamma q's
    (``elog_x = E[log x]``, already computed by the ``phi`` step)."""
    e_x = x_shape / x_rate
    elog_h = digamma(h_shape) - np.log(h_rate)
    e_h = h_shape / h_rate
    K = x_shape.shape[1]
    n = x_shape.shape[0]
    px = (K * a * elog_h.sum() - n * K * gammaln(a) + (a - 1.0) * elog_x.sum()
          - np.sum(e_h * e_x.sum(1)))
    rate0 = a_prime / b_prime
    ph = (n * (a_prime * np.log(rate0) - gammaln(a_prime)) + (a_prime - 1.0) * elog_h.sum()
          - rate0 * e_h.sum())
    h_shape_full = np.broadcast_to(h_shape, h_rate.shape)
    log_rate = np.log(x_rate)
    return float(px + ph + _gamma_entropy(x_shape, x_rate, log_rate, elog_x + log_rate)
                 + _gamma_entropy(h_shape_full, h_rate))


def phi_step(state: CAVIState, data: InteractionData):
    """The ``phi`` update: returns ``(user_stat, item_stat, lse)`` (see ``phi_pass``) and
    ``(E[log theta], E[log beta])``."""
    elog_t = digamma(state.gs) - np.log(state.gr)
    elog_b = digamma(state.ls) - np.log(state.lr)
    st = elog_t.max(1)
    sb = elog_b.max(1)
    et = np.exp(elog_t - st[:, None])
    eb = np.exp(elog_b - sb[:, None])
    return phi_pass(data.indptr, data.indices, data.y, data.blocks, et, eb, st, sb,
                    elog_t, elog_b), (elog_t, elog_b)


def elbo(state: CAVIState, data: InteractionData, prior: HPFPrior, lse: float,
         elogs=None) -> float:
    """The ELBO at ``state`` with the optimal ``phi`` (``lse`` and ``elogs`` from
    :func:`phi_step`)."""
    if elogs is None:
        elogs = (digamma(state.gs) - np.log(state.gr), digamma(state.ls) - np.log(state.lr))
    e_t = state.gs / state.gr
    e_b = state.ls / state.lr
    lik = lse - data.log_y_factorial - float(e_t.sum(0) @ e_b.sum(0))
    return (lik
            + _prior_terms(state.gs, state.gr, elogs[0], state.ks, state.kr, prior.a,
                           prior.a_prime, prior.b_prime)
            + _prior_terms(state.ls, state.lr, elogs[1], state.ts, state.tr, prior.c,
                           prior.c_prime, prior.d_prime))


def update_users(state: CAVIState, prior: HPFPrior, user_stat: np.ndarray) -> None:
    """``gs, gr`` then ``kr`` (in place)."""
    state.gs = prior.a + user_stat
    state.gr = (state.ks / state.kr)[:, None] + (state.ls / state.lr).sum(0)[None, :]
    state.kr = prior.a_prime / prior.b_prime + (state.gs / state.gr).sum(1)


def update_items(state: CAVIState, prior: HPFPrior, item_stat: np.ndarray) -> None:
    """``ls, lr`` then ``tr`` (in place)."""
    state.ls = prior.c + item_stat
    state.lr = (state.ts / state.tr)[:, None] + (state.gs / state.gr).sum(0)[None, :]
    state.tr = prior.c_prime / prior.d_prime + (state.ls / state.lr).sum(1)


def iterate(state: CAVIState, data: InteractionData, prior: HPFPrior) -> float:
    """One CAVI iteration in place; returns the ELBO of the state it started from (with the
    optimal ``phi``), i.e. the ELBO after the previous iteration."""
    (user_stat, item_stat, lse), elogs = phi_step(state, data)
    value = elbo(state, data, prior, lse, elogs)
    update_users(state, prior, user_stat)
    update_items(state, prior, item_stat)
    return value


def run(data: InteractionData, prior: HPFPrior, n_iter: int, tol: float,
        rng: np.random.Generator, init_scale: float,
        bar=None) -> tuple[CAVIState, np.ndarray, bool]:
    """Iterate until the relative ELBO change is below ``tol`` or ``n_iter`` iterations.

    Returns ``(state, elbo_history, converged)``; ``elbo_history[t]`` is the ELBO after
    ``t`` iterations (``t = 0``: the initial state), the last entry is the returned state's.
    """
    state = init_state(data.n_users, data.n_items, prior, rng, init_scale)
    history = []
    converged = False
    for t in range(n_iter + 1):
        (user_stat, item_stat, lse), elogs = phi_step(state, data)
        history.append(elbo(state, data, prior, lse, elogs))
        if t > 0:
            change = (history[-1] - history[-2]) / abs(history[-2])
            if bar is not None:
                bar.update(1, elbo=history[-1], change=change)
            if abs(change) < tol:
                converged = True
                break
        if t == n_iter:
            break
        update_users(state, prior, user_stat)
        update_items(state, prior, item_stat)
    return state, np.asarray(history), converged
