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
import pytest
from _svdpp_prior import K, draw_prior, tiny_design

from bayesrec.factorization.svdpp_bayes import _sweep
from bayesrec.factorization.svdpp_bayes._sweep import (
    SVDppData,
    direct_sse,
    sweep,
)

N_FORWARD = 4000
N_CHAIN = 5000
N_BROKEN = 1500   # the broken update fails by z > 10 well within this
Z = 4.5


@pytest.fixture(scope="module")
def setup():
    return tiny_design()


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
        st = draw_prior(data, rng)
        out.append(_g(st, _draw_y(st, r, rng), r, data))
    return np.array(out)


def _successive(r, data, prior, rng, n=N_CHAIN):
    st = draw_prior(data, rng)
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
