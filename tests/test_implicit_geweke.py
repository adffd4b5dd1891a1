"""Geweke's "getting it right" test of the whole ImplicitBPMF Gibbs sweep (Geweke 2004, JASA).

Two simulators of the joint law p(theta, t) of parameters and targets over ALL cells:

* marginal-conditional: theta ~ prior (``scipy.stats.wishart`` and plain numpy, independent of
  the library), t_ui ~ N(u_u . v_i, 1 / (alpha c_ui)); iid draws;
* successive-conditional: theta <- one library sweep given t (hyperparameters, users, items,
  alpha, and the scale and GL(K) moves), then t ~ p(t | theta), repeated.

The model's data are preferences 0/1 with confidence weights; the sweep's algebra holds for
any real targets on stored cells with known weights, so every cell is stored here with a
fixed confidence ``c_ui = 1 + w_ui`` (w in [0, 3]) and a real-valued target.  Tiny, seeded:
4 users x 3 items, K = 2, alpha ~ Gamma(4, 4), Normal-Wishart with nu0 = K + 2.

Decision rule and power: means of 10 test functions must agree within Z = 4.5 combined
standard errors (iid sd for the forward draws, ArviZ's ESS-based MCSE for the chain).  Measured
with these seeds: chain ESS 190-1,340 per function, so the smallest detected shift is 0.14 sd
(log alpha, log tr Lambda) to 0.32 sd (a tracked mean) of the function; e.g. a 7% error in alpha
(sd(log alpha) = 0.5) or in tr Lambda_U.  Smaller errors (5% on a quantity with a wide prior)
can pass unnoticed: the length is bounded by the test budget.  The correct sweep gives
|z| <= 3.1; the broken sampler below (the confidences left out of the right-hand side ``g``,
i.e. ``V^T p_u`` instead of ``V^T C_u p_u``) shifts log alpha by 0.8 sd and ||V|| by 0.9 sd
(|z| up to 35).
"""

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayesrec.factorization.bpmf._sweep import State
from bayesrec.factorization.implicit.wmf import _sweep
from bayesrec.factorization.implicit.wmf._data import WMFData
from bayesrec.factorization.implicit.wmf._sweep import make_prior, sweep, weighted_sse
from bayesrec.inference.normal_wishart import NormalWishart

K = 2
N_U, N_I = 4, 3
NU0, BETA0 = K + 2.0, 2.0
ALPHA = (4.0, 4.0)
N_FORWARD = 4000
N_CHAIN = 4000
Z = 4.5


#: fixed per-user activity weights a_u on every cell's precision (the ``activity_exponent``
#: option's likelihood; the weights themselves are arbitrary here)
SCALE = np.array([0.25, 1.0, 4.0, 1.0])


def _setup(scale=None):
    users = np.repeat(np.arange(N_U), N_I)
    items = np.tile(np.arange(N_I), N_U)
    w = np.random.default_rng(0).uniform(0, 3, len(users))
    # targets given as row positions first: the stored order of each side, to refill later
    data = WMFData.from_cells(users, items, w, np.arange(len(users), dtype=float), N_U, N_I)
    order_u, order_i = data.user_t.astype(int), data.item_t.astype(int)
    prior = make_prior(K, NormalWishart(np.zeros(K), BETA0, NU0, np.eye(K)), 1.0, None, ALPHA)
    c = 1.0 + w
    if scale is not None:
        data.set_user_scale(scale)
        c = c * scale[users]
    return data, order_u, order_i, users, items, c, prior


@pytest.fixture(scope="module")
def setup():
    return _setup()


def _set_targets(setup, t):
    data, order_u, order_i = setup[:3]
    data.user_t = t[order_u]
    data.item_t = t[order_i]


def _draw_prior(rng):
    def side(n):
        lam = stats.wishart(df=NU0, scale=np.eye(K)).rvs(random_state=rng)
        cov = np.linalg.inv(lam)
        mu = rng.multivariate_normal(np.zeros(K), cov / BETA0)
        return rng.multivariate_normal(mu, cov, size=n), mu, lam
    xu, mu_u, lam_u = side(N_U)
    xv, mu_v, lam_v = side(N_I)
    alpha = rng.gamma(ALPHA[0], 1 / ALPHA[1])
    return State(xu, xv, alpha, mu_u, lam_u, mu_v, lam_v, 1.0, 1.0, 0.0)


def _mean(st, setup):
    users, items = setup[3], setup[4]
    return np.einsum("nk,nk->n", st.xu[users], st.xv[items])


def _draw_t(st, setup, rng):
    c = setup[5]
    return _mean(st, setup) + rng.normal(size=len(c)) / np.sqrt(st.alpha * c)


def _g(st, t, setup):
    m = _mean(st, setup)
    return np.array([np.log(st.alpha), np.log(np.trace(st.lam_u)), np.log(np.trace(st.lam_v)),
                     st.mu_u[0], st.mu_v[1], np.log(np.sum(st.xu ** 2)),
                     np.log(np.sum(st.xv ** 2)), np.tanh(m[0]), np.tanh(t[0] * m[1]),
                     np.mean(np.tanh(t) ** 2)])


def _forward(setup, seed, g):
    """Marginal-conditional draws: theta from the prior, then t | theta; ``g`` of each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_FORWARD):
        st = _draw_prior(rng)
        out.append(g(st, _draw_t(st, setup, rng), setup))
    return np.array(out)


@pytest.fixture(scope="module")
def forward(setup):
    return _forward(setup, 10, _g)


def _successive(setup, rng, n=N_CHAIN, g=None, sampler="blocked"):
    data, prior = setup[0], setup[6]
    st = _draw_prior(rng)
    t = _draw_t(st, setup, rng)
    out = []
    for _ in range(n):
        _set_targets(setup, t)
        st.sse = weighted_sse(data, st.xu, st.xv)
        st = sweep(st, data, prior, rng, sampler=sampler)
        t = _draw_t(st, setup, rng)
        out.append((g or _g)(st, t, setup))
    return np.array(out)


def _zscores(fwd, chain):
    se_f = fwd.std(0) / np.sqrt(len(fwd))
    se_c = np.array([float(az.mcse(chain[None, :, j])) for j in range(chain.shape[1])])
    return (chain.mean(0) - fwd.mean(0)) / np.sqrt(se_f ** 2 + se_c ** 2)


def test_geweke_implicit_sweep_gets_it_right(setup, forward):
    z = _zscores(forward, _successive(setup, np.random.default_rng(11)))
    assert np.all(np.abs(z) < Z), np.round(z, 2)


def test_geweke_catches_confidence_left_out_of_the_rhs(setup, forward, monkeypatch):
    """Broken update: ``g = sum_i t_ui v_i`` (no ``c_ui``); the test must reject it."""
    good = _sweep.side_stats

    def broken(indptr, indices, w, t, other):
        gram, _, t2, base = good(indptr, indices, w, t, other)
        g_plain = good(indptr, indices, np.zeros_like(w), t, other)[1]
        return gram, g_plain, t2, base

    monkeypatch.setattr(_sweep, "side_stats", broken)
    # its shifts (0.8 sd) need far fewer sweeps than the 0.14 sd the correct-sampler test
    # resolves: 1,000 sweeps still give |z| ~ 15
    z = _zscores(forward, _successive(setup, np.random.default_rng(11), n=1000))
    assert np.max(np.abs(z)) > Z, np.round(z, 2)


@pytest.fixture(scope="module")
def setup_scaled():
    return _setup(SCALE)


@pytest.fixture(scope="module")
def forward_scaled(setup_scaled):
    return _forward(setup_scaled, 12, _g_scaled)


def _g_scaled(st, t, setup):
    """``_g`` and, per weighted user (a = 1/4 and 4), the agreement of its targets with the
    means, which the weights set."""
    m, users = _mean(st, setup), setup[3]
    extra = [np.log1p(np.sum((t - m)[users == u] ** 2)) for u in (0, 2)]
    extra += [np.mean(np.tanh(t * m)[users == u]) for u in (0, 2)]
    return np.concatenate([_g(st, t, setup), extra])


def test_geweke_activity_weighted_sweep_gets_it_right(setup_scaled, forward_scaled):
    """The same test with per-user weights a_u (precision alpha a_u c_ui) and four more test
    functions on the two weighted users, same decision rule.  Its power against a missing
    weight is low on this tiny design (the user step without ``a_u``: |z| <= 2.5 after 1,000
    sweeps); that error is caught exactly by the dense-conditional test of
    ``test_implicit_wmf.py``."""
    chain = _successive(setup_scaled, np.random.default_rng(13), g=_g_scaled)
    z = _zscores(forward_scaled, chain)
    assert np.all(np.abs(z) < Z), np.round(z, 2)



def test_geweke_coordinate_sweep_gets_it_right(setup_scaled, forward_scaled):
    """The single-site sampler (``sampler="coordinate"``: one coordinate of a row at a time,
    then the same hyperparameter, alpha and transformation moves) with the activity weights,
    same decision rule.  Its chain mixes more slowly per sweep than the blocked one (ESS
    80-1,700 per function with this seed): detected shifts 0.13-0.5 sd of a function; the
    exact single-site conditionals are checked to 1e-10 in ``test_implicit_wmf.py``."""
    chain = _successive(setup_scaled, np.random.default_rng(14), g=_g_scaled,
                        sampler="coordinate")
    z = _zscores(forward_scaled, chain)
    assert np.all(np.abs(z) < Z), np.round(z, 2)


class _WideNormals:
    """A Generator whose normals for the coordinate draws are 30% too wide (planted bug)."""

    def __init__(self, rng):
        self.rng = rng

    def standard_normal(self, shape):
        return 1.3 * self.rng.standard_normal(shape)


def test_geweke_catches_too_wide_coordinate_draws(setup_scaled, forward_scaled, monkeypatch):
    """Broken single-site update: each coordinate drawn with sd ``1.3 / sqrt(P_kk)``; the
    factors' norms drift up and the test must reject it."""
    from bayesrec.factorization.implicit.wmf import _coordinate
    good = _coordinate.coordinate_side

    def broken(side, other, x, mu, lam, prior, alpha, rng, *args, **kwargs):
        return good(side, other, x, mu, lam, prior, alpha, _WideNormals(rng), *args, **kwargs)

    monkeypatch.setattr(_sweep, "coordinate_side", broken)
    chain = _successive(setup_scaled, np.random.default_rng(14), n=1000, g=_g_scaled,
                        sampler="coordinate")
    z = _zscores(forward_scaled, chain)
    assert np.max(np.abs(z)) > Z, np.round(z, 2)
