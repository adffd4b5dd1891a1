"""Geweke's joint-distribution test of the BPMF sweep: simulators and statistics.

Marginal-conditional simulator: ``theta ~ prior``, ``y ~ p(y | theta)``, iid and vectorized
(numpy only, Bartlett construction written here).  Successive-conditional simulator: one
library sweep given ``y``, then ``y ~ p(y | theta)``, repeated.  Both have the joint law
``p(theta, y)`` as stationary distribution when every conditional of the sweep is right.
"""

from __future__ import annotations

import numpy as np

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf._sweep import BPMFPrior, State, SweepData, direct_sse, sweep
from bayesrec.inference.normal_wishart import NormalWishart

K = 2
NU0, BETA0 = K + 4.0, 2.0          # nu0 > K + 3: Lambda^-1 has a variance, squares have means
W0 = np.array([[1.3, 0.4], [0.4, 0.7]])
BIAS = (3.0, 2.0)
ALPHA = (4.0, 4.0)
N_U, N_I = 12, 8
# every user rates 3 items, every item is rated 4 or 5 times (a fixed, seeded pattern)
USERS = np.repeat(np.arange(N_U), 3)
ITEMS = (np.arange(N_U * 3) * 3 + np.repeat(np.arange(N_U), 3) // 4) % N_I

NAMES = ["log alpha", "log tau_b", "log tau_c", "log tr Lambda_U", "log tr Lambda_V",
         "log |mu_U|^2", "log |mu_V|^2", "log |U|^2", "log |V|^2",
         "tau_b |b|^2", "tau_c |c|^2", "alpha SSE", "white U", "white V", "white mu_U",
         "white mu_V", "tr W0^-1 Lambda_U", "mean y^2", "tanh(m_0)", "tanh(y_0 m_1)"]


def library_prior() -> BPMFPrior:
    return BPMFPrior(K, NormalWishart(np.zeros(K), BETA0, NU0, W0), 1.0, True, BIAS[0],
                     BIAS[1], None, ALPHA[0], ALPHA[1])


def base_data() -> SweepData:
    r = Ratings(USERS.astype(np.int32), ITEMS.astype(np.int32), np.zeros(len(USERS)),
                np.arange(N_U), np.arange(N_I))
    return SweepData(r, offset=0.0)


def _wishart(n, rng):
    """``n`` draws of Wishart(W0, NU0) (Bartlett, K = 2), shape (n, K, K)."""
    a = np.zeros((n, K, K))
    a[:, 0, 0] = np.sqrt(rng.chisquare(NU0, n))
    a[:, 1, 1] = np.sqrt(rng.chisquare(NU0 - 1, n))
    a[:, 1, 0] = rng.standard_normal(n)
    la = np.linalg.cholesky(W0) @ a
    return la @ np.swapaxes(la, 1, 2)


def _gauss_prec(mean, prec, size, rng):
    """Draws ``N(mean, prec^-1)`` for stacks: mean (n, K), prec (n, K, K) -> (n, size, K)."""
    chol = np.linalg.cholesky(prec)                          # prec = L L^T
    z = rng.standard_normal((len(mean), K, size))
    dev = np.linalg.solve(np.swapaxes(chol, 1, 2), z)        # L^-T z: covariance prec^-1
    return mean[:, None, :] + np.swapaxes(dev, 1, 2)


def forward(n, rng):
    """``n`` iid draws of the test functions under the joint (theta, y)."""
    sides = {}
    for name, n_rows in (("u", N_U), ("v", N_I)):
        lam = _wishart(n, rng)
        mu = _gauss_prec(np.zeros((n, K)), BETA0 * lam, 1, rng)[:, 0]
        x = _gauss_prec(mu, lam, n_rows, rng)
        tau = rng.gamma(BIAS[0], 1 / BIAS[1], n)
        bias = rng.standard_normal((n, n_rows)) / np.sqrt(tau)[:, None]
        sides[name] = (x, bias, mu, lam, tau)
    alpha = rng.gamma(ALPHA[0], 1 / ALPHA[1], n)
    xu, bu = sides["u"][:2]
    xv, bv = sides["v"][:2]
    m = np.einsum("nrk,nrk->nr", xu[:, USERS], xv[:, ITEMS]) + bu[:, USERS] + bv[:, ITEMS]
    y = m + rng.standard_normal(m.shape) / np.sqrt(alpha)[:, None]
    return _g(alpha, sides["u"], sides["v"], m, y)


def _g(alpha, su, sv, m, y):
    xu, bu, mu_u, lam_u, tau_b = su
    xv, bv, mu_v, lam_v, tau_c = sv
    nu2 = np.sum(mu_u ** 2, -1)

    def white(x, mu, lam):      # sum_i (x_i - mu)^T Lambda (x_i - mu): chi2 under the prior
        dev = x - mu[..., None, :]
        return np.einsum("...ik,...kl,...il->...", dev, lam, dev)

    w0inv = np.linalg.inv(W0)
    cols = [np.log(alpha), np.log(tau_b), np.log(tau_c),
            np.log(np.trace(lam_u, axis1=-2, axis2=-1)),
            np.log(np.trace(lam_v, axis1=-2, axis2=-1)),
            np.log(nu2), np.log(np.sum(mu_v ** 2, -1)),
            np.log(np.sum(xu ** 2, (-1, -2))), np.log(np.sum(xv ** 2, (-1, -2))),
            tau_b * np.sum(bu ** 2, -1), tau_c * np.sum(bv ** 2, -1),
            alpha * np.sum((y - m) ** 2, -1),
            white(xu, mu_u, lam_u), white(xv, mu_v, lam_v),
            BETA0 * white(mu_u[..., None, :], 0 * mu_u, lam_u),
            BETA0 * white(mu_v[..., None, :], 0 * mu_v, lam_v),
            np.einsum("kl,...lk->...", w0inv, lam_u),
            np.mean(y ** 2, -1),
            np.tanh(m[..., 0]), np.tanh(y[..., 0] * m[..., 1])]
    return np.stack(cols, axis=-1)


def _state_g(st, y):
    m = (np.einsum("nk,nk->n", st.xu[USERS, :K], st.xv[ITEMS, :K]) + st.xu[USERS, K]
         + st.xv[ITEMS, K])
    su = (st.xu[:, :K], st.xu[:, K], st.mu_u, st.lam_u, st.tau_b)
    sv = (st.xv[:, :K], st.xv[:, K], st.mu_v, st.lam_v, st.tau_c)
    return _g(np.asarray(st.alpha), su, sv, m, y), m


def successive(n, rng, step=sweep):
    """``n`` successive-conditional draws of the test functions (one sweep each)."""
    prior = library_prior()
    base = base_data()
    # start from one exact joint draw
    lam_u, lam_v = _wishart(1, rng)[0], _wishart(1, rng)[0]
    mu_u = _gauss_prec(np.zeros((1, K)), BETA0 * lam_u[None], 1, rng)[0, 0]
    mu_v = _gauss_prec(np.zeros((1, K)), BETA0 * lam_v[None], 1, rng)[0, 0]
    tau_b, tau_c = rng.gamma(BIAS[0], 1 / BIAS[1], 2)
    xu = np.column_stack([_gauss_prec(mu_u[None], lam_u[None], N_U, rng)[0],
                          rng.standard_normal(N_U) / np.sqrt(tau_b)])
    xv = np.column_stack([_gauss_prec(mu_v[None], lam_v[None], N_I, rng)[0],
                          rng.standard_normal(N_I) / np.sqrt(tau_c)])
    st = State(xu, xv, float(rng.gamma(ALPHA[0], 1 / ALPHA[1])), mu_u, lam_u, mu_v, lam_v,
               float(tau_b), float(tau_c), 0.0)
    _, m = _state_g(st, np.zeros(len(USERS)))
    y = m + rng.standard_normal(len(USERS)) / np.sqrt(st.alpha)
    out = np.empty((n, len(NAMES)))
    for s in range(n):
        data = base.with_values(y)
        st.sse = direct_sse(data, st.xu, st.xv, True)
        st = step(st, data, prior, rng)
        m = (np.einsum("nk,nk->n", st.xu[USERS, :K], st.xv[ITEMS, :K]) + st.xu[USERS, K]
             + st.xv[ITEMS, K])
        y = m + rng.standard_normal(len(USERS)) / np.sqrt(st.alpha)
        out[s] = _state_g(st, y)[0]
    return out


def zscores(fwd, chain):
    """Geweke z per test function (iid SE for the forward draws, ESS-based MCSE for the chain)
    and the chain's bulk ESS per function."""
    import arviz as az

    se_f = fwd.std(0) / np.sqrt(len(fwd))
    ess = np.array([float(az.ess(chain[None, :, j])) for j in range(chain.shape[1])])
    se_c = chain.std(0) / np.sqrt(ess)
    return (chain.mean(0) - fwd.mean(0)) / np.sqrt(se_f ** 2 + se_c ** 2), ess
