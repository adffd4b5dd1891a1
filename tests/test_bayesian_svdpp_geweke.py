"""Geweke's "getting it right" test of the whole Bayesian SVD++ Gibbs sweep (Geweke 2004).

Two simulators of the joint law p(theta, y) of parameters and ratings:

* marginal-conditional: theta ~ prior (drawn here with ``scipy.stats.wishart`` and plain
  numpy, independently of the library), y ~ p(y | theta); iid draws;
* successive-conditional: theta <- one library Gibbs sweep given y, then y ~ p(y | theta),
  repeated.  If every conditional is right, the chain's stationary law is p(theta, y) too.

Means of test functions must agree within ``Z = 4.5`` combined standard errors (iid sd for the
first, ESS-based MCSE from ArviZ for the chain).  Power: with these run lengths the combined
standard errors are 0.02 for ``log alpha`` and ``log tau`` and 0.04 for ``log tr Lambda``
(measured), so a shift of 0.09-0.18 is detected: a 9% error in alpha or a precision, 18% in a
Wishart scale; the norms of the bag factors are checked more loosely (combined standard error
about 0.1 on ``log ||Y||^2``, i.e. a 40% error in ``||Y||^2``).  A deliberately broken bag
update written below (the
classic stale-residual bug: the column's own current contribution left in the cached
residual) must fail the same threshold.

Tiny seeded problem: 5 users x 4 items, 12 observed cells, K = 2, implicit bags on both
sides ("flipped") and two item features with linear weights, alpha sampled, proper
hyperpriors (nu0 = K + 2).
"""

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf._sweep import BPMFPrior, SweepData
from bayesrec.factorization.svdpp_bayes import _sweep
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
N_FORWARD = 4000
N_CHAIN = 5000
N_BROKEN = 1500   # the broken update fails by z > 10 well within this
Z = 4.5


@pytest.fixture(scope="module")
def setup():
    users = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
    items = np.array([0, 1, 3, 1, 2, 0, 2, 1, 3, 0, 2, 3])
    r = Ratings(users.astype(np.int32), items.astype(np.int32), np.zeros(len(users)),
                np.arange(5), np.arange(4))
    feats = pd.DataFrame({"a": [1.0, 0.0, 1.0, 1.0], "b": [0.0, 1.0, 1.0, 0.0]},
                         index=np.arange(4))
    bu, bv = build_bags(r, True, item_features=feats)
    nw = NormalWishart(np.zeros(K), BETA0, NU0, np.eye(K))
    own = BPMFPrior(K, nw, 1.0, True, GAM[0], GAM[1], None, ALPHA[0], ALPHA[1], rescale=False)
    prior = SVDppPrior(own, nw, GAM[0], GAM[1])
    return r, SVDppData(SweepData(r, offset=0.0), bu, bv), prior


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


def _mean(st, r):
    u, i = r.users, r.items
    return (np.einsum("nk,nk->n", st.pu[u, :K], st.pv[i, :K]) + st.pu[u, K] + st.pv[i, K])


def _draw_y(st, r, rng):
    return _mean(st, r) + rng.normal(0, 1 / np.sqrt(st.alpha), len(r))


def _g(st, y, r, data):
    m = _mean(st, r)
    feat = data.bag_v.columns(1)
    return np.array([np.log(st.alpha), np.log(st.tau_b), np.log(st.tau_c),
                     np.log(np.trace(st.lam_u)), np.log(np.trace(st.hyper_u.lam[0])),
                     np.log(st.hyper_v.tau[1]),
                     np.log(np.sum(st.yu[:, :K] ** 2)), np.log(np.sum(st.yv[:, :K] ** 2)),
                     st.yv[feat, K].sum(), np.log(np.sum(st.pu[:, :K] ** 2)),
                     np.tanh(m[0]), np.tanh(y[0] * m[1]), np.mean(np.tanh(y) ** 2)])


def _forward(r, data, rng):
    out = []
    for _ in range(N_FORWARD):
        st = _draw_prior(data, rng)
        out.append(_g(st, _draw_y(st, r, rng), r, data))
    return np.array(out)


def _successive(r, data, prior, rng, n=N_CHAIN):
    st = _draw_prior(data, rng)
    y = _draw_y(st, r, rng)
    out = []
    for _ in range(n):
        d = SVDppData(data.ratings.with_values(y), data.bag_u, data.bag_v)
        st.sse = direct_sse(d, st.pu, st.pv)
        st = sweep(st, d, prior, rng)
        y = _draw_y(st, r, rng)
        out.append(_g(st, y, r, data))
    return np.array(out)


def _zscores(fwd, chain):
    se_f = fwd.std(0) / np.sqrt(len(fwd))
    se_c = np.array([float(az.mcse(chain[None, :, j])) for j in range(chain.shape[1])])
    return (chain.mean(0) - fwd.mean(0)) / np.sqrt(se_f ** 2 + se_c ** 2)


@pytest.fixture(scope="module")
def forward(setup):
    return _forward(setup[0], setup[1], np.random.default_rng(10))


def test_geweke_gibbs_sweep_gets_it_right(setup, forward):
    r, data, prior = setup
    z = _zscores(forward, _successive(r, data, prior, np.random.default_rng(11)))
    assert np.all(np.abs(z) < Z), np.round(z, 2)


def _stale_residual_bag(bag, gram, s, total, y, hyper, alpha, rng, order=None):
    """A plain-numpy bag update with the stale-residual bug: ``h`` uses ``s_u`` (which still
    contains the column's own current term) instead of ``s_u + M_uc G_u y_c``."""
    if bag.n_cols == 0:
        return 0
    d_full = K + 1
    prec_g, h_g = _sweep.bag_prior(hyper, bag.linear, K)
    idx = _sweep.packed_index(d_full)
    z = rng.standard_normal((bag.n_cols, d_full))
    for c in range(bag.n_cols):
        grp = bag.group[c]
        d = K + 1 if bag.linear[grp] else K
        rows = bag.col_rows[bag.col_indptr[c]:bag.col_indptr[c + 1]]
        m = bag.col_vals[bag.col_indptr[c]:bag.col_indptr[c + 1]]
        gu = gram[rows][:, idx]                                  # (n, D, D)
        prec = prec_g[grp][:d, :d] + alpha * np.einsum("n,nab->ab", m ** 2, gu)[:d, :d]
        h = h_g[grp][:d] + alpha * (m @ s[rows])[:d]             # BUG: stale residual
        chol = np.linalg.cholesky(prec)
        new = np.linalg.solve(chol.T, np.linalg.solve(chol, h) + z[c, :d])
        delta = np.zeros(d_full)
        delta[:d] = new - y[c, :d]
        y[c, :d] = new
        total[rows] += m[:, None] * delta
        s[rows] -= m[:, None] * np.einsum("nab,b->na", gu, delta)
    return 0


def test_geweke_catches_a_stale_residual_bag_update(setup, forward, monkeypatch):
    r, data, prior = setup
    monkeypatch.setattr(_sweep, "draw_bag", _stale_residual_bag)
    z = _zscores(forward, _successive(r, data, prior, np.random.default_rng(11), N_BROKEN))
    assert np.max(np.abs(z)) > Z, np.round(z, 2)
