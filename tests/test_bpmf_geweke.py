"""Geweke's "getting it right" test of the whole BPMF Gibbs sweep (Geweke 2004, JASA).

Two simulators of the joint law p(theta, y) (:mod:`_geweke`): iid marginal-conditional draws
(prior by a Bartlett construction written in the test, 200,000 of them, vectorized) and the
successive-conditional chain (one library sweep given y, then a fresh y given theta).  Model:
12 users x 8 items, 36 ratings, K = 2, biases, alpha sampled, general ``W0`` (so the scale and
GL(K) moves run with a non-identity ``W0``), ``nu0 = K + 4`` (light enough tails for second
moments).

Test functions are even and scale sensitive: logs of traces, norms and precisions, and the
whitened sums ``sum_i (u_i - mu_U)^T Lambda_U (u_i - mu_U)``, ``tau_b |b|^2``, ``alpha SSE``,
``beta0 mu^T Lambda mu`` (chi-square under the joint, so a conditional-variance error moves
them directly), plus two bounded odd ones.  Each chain mean must agree with the iid mean
within ``Z = 4.5`` combined standard errors (ArviZ bulk-ESS-based MCSE for the chain), and every
function's ESS must reach ``N_CHAIN / 50``: a bug that breaks mixing (a frozen update) cannot
hide behind a large Monte Carlo error.

Power, measured by the planted bug of :func:`_planted.inflated_row_variance` (every row draw
of the sweep with its conditional variance inflated by 5%): with 6,000 sweeps the whitened
``U`` sum has z = 9.6, ``log tr Lambda_U`` z = -6.3, the whitened ``V`` sum z = 5.8 (seed 11;
the test below asserts max |z| > Z at ``N_CHAIN`` = 5,000).  The correct sweep's largest |z| at
that size passes with the same seed.
"""

import _geweke as G
import numpy as np
import pytest
from _planted import inflated_row_variance

from bayesrec.factorization.bpmf import _sweep

N_FORWARD = 200_000
N_CHAIN = 5_000
Z = 4.5
ESS_FLOOR = N_CHAIN / 50


@pytest.fixture(scope="module")
def forward():
    return G.forward(N_FORWARD, np.random.default_rng(10))


def _report(z, ess):
    return {n: (round(float(a), 2), int(e) if np.isfinite(e) else e)
            for n, a, e in zip(G.NAMES, z, ess)}


@pytest.mark.slow
def test_geweke_gibbs_sweep_gets_it_right(forward):
    z, ess = G.zscores(forward, G.successive(N_CHAIN, np.random.default_rng(11)))
    assert np.all(np.abs(z) < Z), _report(z, ess)
    assert np.all(ess >= ESS_FLOOR), _report(z, ess)


@pytest.mark.slow
def test_geweke_detects_a_five_percent_conditional_variance_error(forward):
    """The power statement: row draws with 5% too much conditional variance fail."""
    with inflated_row_variance(1.05):
        z, ess = G.zscores(forward, G.successive(N_CHAIN, np.random.default_rng(11)))
    assert np.max(np.abs(z)) > Z, _report(z, ess)


@pytest.mark.slow
def test_geweke_ess_floor_catches_a_stuck_sampler(forward):
    """A sweep that updates only on every 20th call (a stuck sampler) has a valid stationary
    law, but a chain of ``n`` sweeps carries about ``n / 20`` sweeps' information: the ESS floor
    fails it, so a bug that ruins mixing cannot hide behind a large Monte Carlo error."""
    calls = iter(range(10 ** 9))

    def stuck(st, data, prior, rng):
        return _sweep.sweep(st, data, prior, rng) if next(calls) % 20 == 0 else st

    n = N_CHAIN // 5
    z, ess = G.zscores(forward, G.successive(n, np.random.default_rng(12), step=stuck))
    assert np.any(ess < n / 50), _report(z, ess)
