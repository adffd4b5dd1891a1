"""Geweke's "getting it right" test of the HPF Gibbs sweep (Geweke 2004, JASA).

Two simulators of the joint law p(theta, beta, xi, eta, y) of parameters and counts:

* marginal-conditional: parameters from the prior (plain numpy, written here), then
  ``y_ui ~ Poisson(theta_u . beta_i)`` on every cell; iid draws;
* successive-conditional: ``z | y, theta, beta`` and one library sweep (``theta, xi, beta,
  eta``, the scale move, ``z``) given ``y``, then fresh ``y | theta, beta``, repeated.  If
  every conditional update is right, this chain's stationary law is also the joint law.

Means of test functions ``g`` must agree within ``Z`` combined standard errors (iid sd for the
first, ESS-based MCSE from ArviZ for the chain).  Tiny, seeded problem: 4 users x 3 items,
all 12 cells observed (counts, zeros included), K = 2.

Power: the same threshold rejects a sweep whose ``theta`` conditional has a rate 5% too
large (written below; |z| of ``log sum theta`` is about 6-7 at this size, every function of
the correct sweep stays below 2).  The scale move's GIG sampler is checked against scipy's
GIG distribution directly in ``test_hpf.py``.
"""

import arviz as az
import numpy as np
import pytest
from _hpf_prior import PRIOR, all_cells, draw_prior, wrong_theta_rate

from bayesrec.factorization.implicit.hpf import _gibbs

N_FORWARD = 8000
N_CHAIN = 8000
Z = 4.5


def _draw_y(st, rng):
    return rng.poisson(st["theta"] @ st["beta"].T)


def _g(st, y):
    rate = st["theta"] @ st["beta"].T
    return np.array([np.log(st["xi"][0]), np.log(st["eta"][0]),
                     np.log(st["theta"].sum()), np.log(st["beta"].sum()),
                     np.log(rate.sum()), np.log(rate[0, 0]), np.log(rate[3, 2]),
                     np.log1p(y.sum()), np.tanh(y[0, 0] * rate[1, 1]),
                     np.log(st["theta"][:, 0].sum() * st["beta"][:, 0].sum())])


def _forward(rng):
    out = []
    for _ in range(N_FORWARD):
        st = draw_prior(rng)
        out.append(_g(st, _draw_y(st, rng)))
    return np.array(out)


def _successive(sampler_cls, rng):
    st = draw_prior(rng)
    y = _draw_y(st, rng)
    tracked = np.zeros((1, 2), np.int64)
    out = []
    for _ in range(N_CHAIN):
        s = sampler_cls(all_cells(y), PRIOR, tracked, np.zeros(0, np.int64), False)
        st = s._allocate(st, rng)          # z | y, theta, beta
        st = s.step(st, rng)               # theta, xi, beta, eta, scale move, z
        y = _draw_y(st, rng)
        # a sweep that inflates the rates feeds them back through y, and the allocation's cost
        # grows with sum y: fail on such a runaway chain instead of crawling on (the joint
        # law's sum y exceeded 1e4 in 2 of 200,000 prior draws)
        assert y.sum() < 10**6, "the chain's counts run away"
        out.append(_g(st, y))
    return np.array(out)


def _zscores(fwd, chain):
    se_f = fwd.std(0) / np.sqrt(len(fwd))
    se_c = np.array([float(az.mcse(chain[None, :, j])) for j in range(chain.shape[1])])
    return (chain.mean(0) - fwd.mean(0)) / np.sqrt(se_f ** 2 + se_c ** 2)


@pytest.fixture(scope="module")
def forward():
    return _forward(np.random.default_rng(20))


def test_geweke_gibbs_sweep_gets_it_right(forward):
    z = _zscores(forward, _successive(_gibbs.HPFGibbs, np.random.default_rng(21)))
    assert np.all(np.abs(z) < Z), np.round(z, 2)


#: theta's conditional rate 5% too large
_WrongThetaRate = wrong_theta_rate(1.05)


def test_geweke_catches_a_wrong_theta_rate(forward):
    z = _zscores(forward, _successive(_WrongThetaRate, np.random.default_rng(21)))
    assert np.max(np.abs(z)) > Z, np.round(z, 2)
