"""Simulation-based calibration of the ImplicitBPMF (Bayesian weighted MF) Gibbs sweep.

Model (Hu, Koren & Volinsky 2008 read as a Gaussian likelihood, BPMF hyperpriors)::

    t_ui ~ N(u_u . v_i, 1 / (alpha c_ui)),  c_ui = 1 + w_ui      (every cell stored here)
    u_u ~ N(mu_U, Lambda_U^-1), v_i ~ N(mu_V, Lambda_V^-1),
    (mu, Lambda) ~ NormalWishart(0, beta0, nu0, W0),  alpha ~ Gamma(a, b)

Parameters are drawn from the prior with numpy / scipy, targets on every cell of a 5 x 4
matrix with fixed extra confidences ``w`` in {0, 1, 4}, and the library's sweep (hyper-
parameters, both sides, alpha, the scale and GL(K) moves) runs from the true parameters: burn-in
4, ``L = 10`` draws thinned by 2, 200 datasets.  Ranks of ``log |U|^2``, ``log |V|^2``,
``log |mu_U|^2``, ``log det Lambda_U``, ``log alpha``, the weighted log SSE and one cell's mean
must pass the uniformity tests of :mod:`_sbc`.

Power (planted, asserted below): a 25% error in the variance of the row draws fails.
"""

import numpy as np
import pytest
from _planted import inflated_rows
from _sbc import failures
from scipy import stats

from bayesrec.factorization.bpmf._sweep import State
from bayesrec.factorization.implicit.wmf import _sweep as wmf
from bayesrec.factorization.implicit.wmf._data import WMFData
from bayesrec.inference.normal_wishart import NormalWishart

N_U, N_I, K = 5, 4, 2
W0 = np.array([[1.3, 0.4], [0.4, 0.7]])
NU0, BETA0, ALPHA = K + 2.0, 2.0, (4.0, 4.0)
N_SETS, L, THIN, BURN = 200, 10, 2, 4
USERS = np.repeat(np.arange(N_U), N_I)
ITEMS = np.tile(np.arange(N_I), N_U)
W = np.array([0.0, 1.0, 4.0])[(USERS + 2 * ITEMS) % 3]


def _prior():
    return wmf.make_prior(K, NormalWishart(np.zeros(K), BETA0, NU0, W0), 1.0, None, ALPHA)


def _draw_prior(rng):
    out = []
    for n in (N_U, N_I):
        lam = stats.wishart(df=NU0, scale=W0).rvs(random_state=rng)
        cov = np.linalg.inv(lam)
        mu = rng.multivariate_normal(np.zeros(K), cov / BETA0)
        out += [rng.multivariate_normal(mu, cov, size=n), mu, lam]
    alpha = rng.gamma(ALPHA[0], 1 / ALPHA[1])
    xu, mu_u, lam_u, xv, mu_v, lam_v = out
    return State(xu, xv, float(alpha), mu_u, lam_u, mu_v, lam_v, 1.0, 1.0, 0.0)


def _f(st, t):
    m = np.einsum("nk,nk->n", st.xu[USERS], st.xv[ITEMS])
    return {"log |U|^2": np.log(np.sum(st.xu ** 2)), "log |V|^2": np.log(np.sum(st.xv ** 2)),
            "log |mu_U|^2": np.log(np.sum(st.mu_u ** 2)),
            "log det Lambda_U": np.linalg.slogdet(st.lam_u)[1],
            "log alpha": np.log(st.alpha),
            "log weighted SSE": np.log(np.sum((1 + W) * (t - m) ** 2)), "mean t_00": m[0]}


def _run(seed):
    prior = _prior()
    rng = np.random.default_rng(seed)
    ranks = {}
    for _ in range(N_SETS):
        st = _draw_prior(rng)
        m = np.einsum("nk,nk->n", st.xu[USERS], st.xv[ITEMS])
        t = m + rng.standard_normal(len(m)) / np.sqrt(st.alpha * (1 + W))
        data = WMFData.from_cells(USERS, ITEMS, W, t, N_U, N_I)
        st.sse = wmf.weighted_sse(data, st.xu, st.xv)
        truth = _f(st, t)
        draws = {k: [] for k in truth}
        for s in range(BURN + L * THIN):
            st = wmf.sweep(st, data, prior, rng)
            if s >= BURN and (s - BURN + 1) % THIN == 0:
                for k, v in _f(st, t).items():
                    draws[k].append(v)
        for k, v in truth.items():
            ranks.setdefault(k, []).append(int(np.sum(np.asarray(draws[k]) < v)))
    return {k: np.asarray(v) for k, v in ranks.items()}


@pytest.mark.slow
def test_sbc_implicit_bpmf_sweep():
    bad = failures(_run(60), L)
    assert not bad, bad


@pytest.mark.slow
def test_sbc_implicit_bpmf_detects_a_planted_variance_error():
    with inflated_rows(wmf, 1.25):
        bad = failures(_run(61), L)
    assert bad
