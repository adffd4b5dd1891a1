"""Geweke's "getting it right" test of the whole BPMF Gibbs sweep (Geweke 2004, JASA).

Two simulators of the joint distribution p(theta, y) of parameters and ratings:

* marginal-conditional: theta ~ prior (drawn here with ``scipy.stats.wishart`` and plain
  numpy, independently of the library), y ~ p(y | theta); iid draws;
* successive-conditional: theta <- one library Gibbs sweep given y, then y ~ p(y | theta),
  repeated.  If every conditional update is right, the chain's stationary law is also
  p(theta, y).

Means of test functions g(theta, y) must agree within 4.5 combined standard errors (iid sd
for the first, ESS-based MCSE from ArviZ for the chain).  The same threshold rejects a
deliberately broken sampler whose Wishart posterior scale is 1.5x too large (written below).
Tiny, seeded problem: 5 users x 4 items, 12 observed cells, K = 2, biases, alpha sampled,
proper hyperprior with nu0 = K + 2 (the Wishart's tails at nu0 = K make moment-based checks
too noisy for a short run).
"""

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf._sweep import BPMFPrior, State, SweepData, direct_sse, sweep
from bayesrec.inference import normal_wishart
from bayesrec.inference.normal_wishart import NormalWishart

K = 2
NU0, BETA0 = K + 2.0, 2.0
BIAS = (3.0, 2.0)
ALPHA = (4.0, 4.0)
N_FORWARD = 8000
N_CHAIN = 8000
Z = 4.5


@pytest.fixture(scope="module")
def setup():
    users = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4])
    items = np.array([0, 1, 3, 1, 2, 0, 2, 1, 3, 0, 2, 3])
    r = Ratings(users.astype(np.int32), items.astype(np.int32), np.zeros(len(users)),
                np.arange(5), np.arange(4))
    prior = BPMFPrior(K, NormalWishart(np.zeros(K), BETA0, NU0, np.eye(K)), 1.0, True,
                      BIAS[0], BIAS[1], None, ALPHA[0], ALPHA[1])
    return r, SweepData(r, offset=0.0), prior


def _draw_prior(n_users, n_items, rng):
    def side(n):
        lam = stats.wishart(df=NU0, scale=np.eye(K)).rvs(random_state=rng)
        cov = np.linalg.inv(lam)
        mu = rng.multivariate_normal(np.zeros(K), cov / BETA0)
        x = rng.multivariate_normal(mu, cov, size=n)
        tau = rng.gamma(BIAS[0], 1 / BIAS[1])
        bias = rng.normal(0, 1 / np.sqrt(tau), n)
        return np.column_stack([x, bias]), mu, lam, tau
    xu, mu_u, lam_u, tau_b = side(n_users)
    xv, mu_v, lam_v, tau_c = side(n_items)
    alpha = rng.gamma(ALPHA[0], 1 / ALPHA[1])
    return State(xu, xv, alpha, mu_u, lam_u, mu_v, lam_v, tau_b, tau_c, 0.0)


def _mean(st, r):
    u, i = r.users, r.items
    return (np.einsum("nk,nk->n", st.xu[u, :K], st.xv[i, :K]) + st.xu[u, K] + st.xv[i, K])


def _draw_y(st, r, rng):
    return _mean(st, r) + rng.normal(0, 1 / np.sqrt(st.alpha), len(r))


def _g(st, y, r):
    m = _mean(st, r)
    return np.array([np.log(st.alpha), np.log(st.tau_b), np.log(st.tau_c),
                     np.log(np.trace(st.lam_u)), np.log(np.trace(st.lam_v)),
                     st.mu_u[0], np.log(np.sum(st.xu[:, :K] ** 2)),
                     np.tanh(m[0]), np.tanh(y[0] * m[1]), np.mean(np.tanh(y) ** 2)])


def _forward(r, rng):
    out = []
    for _ in range(N_FORWARD):
        st = _draw_prior(r.n_users, r.n_items, rng)
        out.append(_g(st, _draw_y(st, r, rng), r))
    return np.array(out)


def _successive(r, data, prior, rng):
    st = _draw_prior(r.n_users, r.n_items, rng)
    y = _draw_y(st, r, rng)
    out = []
    for _ in range(N_CHAIN):
        d = data.with_values(y)
        st.sse = direct_sse(d, st.xu, st.xv, True)
        st = sweep(st, d, prior, rng)
        y = _draw_y(st, r, rng)
        out.append(_g(st, y, r))
    return np.array(out)


def _zscores(fwd, chain):
    se_f = fwd.std(0) / np.sqrt(len(fwd))
    se_c = np.array([float(az.mcse(chain[None, :, j])) for j in range(chain.shape[1])])
    return (chain.mean(0) - fwd.mean(0)) / np.sqrt(se_f ** 2 + se_c ** 2)


@pytest.fixture(scope="module")
def forward(setup):
    return _forward(setup[0], np.random.default_rng(10))


def test_geweke_gibbs_sweep_gets_it_right(setup, forward):
    r, data, prior = setup
    z = _zscores(forward, _successive(r, data, prior, np.random.default_rng(11)))
    assert np.all(np.abs(z) < Z), np.round(z, 2)


def test_geweke_catches_a_wrong_wishart_scale(setup, forward, monkeypatch):
    """A broken conjugate update (posterior Wishart scale W_N multiplied by 1.5) fails."""
    r, data, prior = setup
    good = normal_wishart.NormalWishart.posterior

    def broken(self, x):
        post = good(self, x)
        return NormalWishart(post.mu0, post.beta0, post.nu0, 1.5 * post.W0)

    monkeypatch.setattr(normal_wishart.NormalWishart, "posterior", broken)
    z = _zscores(forward, _successive(r, data, prior, np.random.default_rng(11)))
    assert np.max(np.abs(z)) > Z, np.round(z, 2)
