"""Simulation-based calibration of the Bayesian SVD++ Gibbs sweep (Talts et al. 2018).

Model and tiny problem as in ``test_bayesian_svdpp_geweke.py`` (5 users x 4 items, 12 cells,
K = 2, implicit bags on both sides and two item features with linear weights, alpha sampled,
nu0 = K + 2): parameters from the prior (scipy / numpy), ratings from the likelihood, then the
library's sweep from the true parameters (an exact posterior draw): burn-in 6, ``L = 10``
draws thinned by 3, 200 datasets.  Ranks of ``log alpha``, ``log tau_b``, ``log tau_c``,
``log tr Lambda_U``, the implicit group's ``log tr Lambda``, the feature weights' ``log tau``,
``log SSE`` and one cell's mean must pass the uniformity tests of :mod:`_sbc`.  The norm of the
user totals ``log |P_U|^2`` is left out: the bag factors mix slowly, and at this thinning its
ranks are U-shaped (dispersion z = 6); with burn-in 30 and thinning 12 (measured, 200 datasets)
it passes too (dispersion z = 1.9), which is too slow for the suite.

Power (planted, asserted below): a 50% error in the variance of the own-row draws fails.
"""

import numpy as np
import pandas as pd
import pytest
from _planted import inflated_rows
from _sbc import failures
from scipy import stats

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf._sweep import BPMFPrior, SweepData
from bayesrec.factorization.svdpp_bayes import _sweep as svs
from bayesrec.factorization.svdpp_bayes._design import build_bags
from bayesrec.factorization.svdpp_bayes._sweep import (
    BagHyper,
    SVDppData,
    SVDppPrior,
    SVDppState,
    direct_sse,
    sweep,
)
from bayesrec.inference.normal_wishart import NormalWishart

K = 2
NU0, BETA0 = K + 2.0, 2.0
GAM = (3.0, 2.0)
ALPHA = (4.0, 4.0)
USERS = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
ITEMS = np.array([0, 1, 3, 1, 2, 0, 2, 1, 3, 0, 2, 3])
N_SETS, L, THIN, BURN = 200, 10, 3, 6


def _setup():
    r = Ratings(USERS.astype(np.int32), ITEMS.astype(np.int32), np.zeros(len(USERS)),
                np.arange(5), np.arange(4))
    feats = pd.DataFrame({"a": [1.0, 0.0, 1.0, 1.0], "b": [0.0, 1.0, 1.0, 0.0]},
                         index=np.arange(4))
    bu, bv = build_bags(r, True, item_features=feats)
    nw = NormalWishart(np.zeros(K), BETA0, NU0, np.eye(K))
    own = BPMFPrior(K, nw, 1.0, True, GAM[0], GAM[1], None, ALPHA[0], ALPHA[1], rescale=False)
    return r, SVDppData(SweepData(r, offset=0.0), bu, bv), SVDppPrior(own, nw, GAM[0], GAM[1])


def _nw(rng):
    lam = stats.wishart(df=NU0, scale=np.eye(K)).rvs(random_state=rng)
    cov = np.linalg.inv(lam)
    return rng.multivariate_normal(np.zeros(K), cov / BETA0), lam, cov


def _rows(n, mu, cov, linear, rng, tau=None):
    x = np.zeros((n, K + 1))
    x[:, :K] = rng.multivariate_normal(mu, cov, size=n)
    if linear:
        x[:, K] = rng.normal(0, 1 / np.sqrt(tau), n)
    return x


def _draw_prior(data, rng):
    mu_u, lam_u, cov_u = _nw(rng)
    mu_v, lam_v, cov_v = _nw(rng)
    tau_b, tau_c = rng.gamma(GAM[0], 1 / GAM[1], 2)
    xu = _rows(data.bag_u.csr.shape[0], mu_u, cov_u, True, rng, tau_b)
    xv = _rows(data.bag_v.csr.shape[0], mu_v, cov_v, True, rng, tau_c)
    ys, hyps = [], []
    for bag in (data.bag_u, data.bag_v):
        y = np.zeros((bag.n_cols, K + 1))
        hyp = BagHyper.initial(bag.n_groups, K)
        for g in range(bag.n_groups):
            mu, lam, cov = _nw(rng)
            tau = rng.gamma(GAM[0], 1 / GAM[1]) if bag.linear[g] else 1.0
            cols = bag.columns(g)
            y[cols] = _rows(len(cols), mu, cov, bag.linear[g], rng, tau)
            hyp.mu[g], hyp.lam[g], hyp.tau[g] = mu, lam, tau
        ys.append(y)
        hyps.append(hyp)
    pu = xu + data.bag_u.csr @ ys[0]
    pv = xv + data.bag_v.csr @ ys[1]
    alpha = rng.gamma(ALPHA[0], 1 / ALPHA[1])
    return SVDppState(xu, xv, ys[0], ys[1], pu, pv, alpha, mu_u, lam_u, mu_v, lam_v, tau_b,
                      tau_c, hyps[0], hyps[1], 0.0)


def _mean(st):
    return (np.einsum("nk,nk->n", st.pu[USERS, :K], st.pv[ITEMS, :K]) + st.pu[USERS, K]
            + st.pv[ITEMS, K])


def _f(st, y):
    m = _mean(st)
    return {"log alpha": np.log(st.alpha), "log tau_b": np.log(st.tau_b),
            "log tau_c": np.log(st.tau_c), "log tr Lambda_U": np.log(np.trace(st.lam_u)),
            "log tr Lambda_bag": np.log(np.trace(st.hyper_u.lam[0])),
            "log tau_features": np.log(st.hyper_v.tau[1]),
            "log SSE": np.log(np.sum((y - m) ** 2)), "mean r_00": m[0]}


def _run(seed):
    r, data, prior = _setup()
    rng = np.random.default_rng(seed)
    ranks = {}
    for _ in range(N_SETS):
        st = _draw_prior(data, rng)
        y = _mean(st) + rng.normal(0, 1 / np.sqrt(st.alpha), len(USERS))
        d = SVDppData(data.ratings.with_values(y), data.bag_u, data.bag_v)
        st.sse = direct_sse(d, st.pu, st.pv)
        truth = _f(st, y)
        draws = {k: [] for k in truth}
        for s in range(BURN + L * THIN):
            st = sweep(st, d, prior, rng)
            if s >= BURN and (s - BURN + 1) % THIN == 0:
                for k, v in _f(st, y).items():
                    draws[k].append(v)
        for k, v in truth.items():
            ranks.setdefault(k, []).append(int(np.sum(np.asarray(draws[k]) < v)))
    return {k: np.asarray(v) for k, v in ranks.items()}


@pytest.mark.slow
def test_sbc_bayesian_svdpp_sweep():
    bad = failures(_run(70), L)
    assert not bad, bad


@pytest.mark.slow
def test_sbc_bayesian_svdpp_detects_a_planted_variance_error():
    with inflated_rows(svs, 1.5):
        bad = failures(_run(71), L)
    assert bad
