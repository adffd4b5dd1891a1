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
import pytest
from _planted import inflated_rows
from _sbc import failures
from _svdpp_prior import ITEMS, USERS, K, draw_prior, tiny_design

from bayesrec.factorization.svdpp_bayes import _sweep as svs
from bayesrec.factorization.svdpp_bayes._sweep import (
    SVDppData,
    direct_sse,
    sweep,
)

N_SETS, L, THIN, BURN = 200, 10, 3, 6


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
    r, data, prior = tiny_design()
    rng = np.random.default_rng(seed)
    ranks = {}
    for _ in range(N_SETS):
        st = draw_prior(data, rng)
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
