"""Simulation-based calibration of the BPMF Gibbs sweep in every configuration.

Engine: :mod:`experiments.sbc` (prior draws with numpy / scipy, independent of the library;
chains start at the true parameters, burn-in 4, ``L = 10`` draws thinned by 2, or by 4 in the
configuration without the scale / GL(K) moves, which mixes slower).  For each of the six
configurations (biases on / off, alpha fixed / sampled, hyperprior on / off, general ``W0``,
general ``W0`` with ``mu0 != 0``) and each test function (log squared norms of U, V, mu_U,
mu_V, log det Lambda_U, log SSE, a mean rating, log alpha, log bias precisions), the ranks of
200 datasets must pass three uniformity tests (:mod:`_sbc`: chi-square p > 1e-5, |z| < 4.5 for
the mean rank and for the mean squared centred rank).

Power (measured with a planted bug, ``_planted.inflated_row_variance``): inflating the
variance of every row draw by 25% fails the plain-PMF configuration (log SSE location z = -5.4
with 200 datasets, asserted below) and the default configuration (log SSE z = -5.2, log alpha
z = 4.9, chi-square p = 7e-8); smaller variance errors are below this size's resolution and
are the job of the Geweke test (5%) and the exact per-move tests (any size).  Any error in a move's
Jacobian, a prior term or a degrees-of-freedom count of the sizes in ``tests/mutation`` fails
here or there.
"""

import pytest
from _planted import inflated_row_variance
from _sbc import failures

from experiments.sbc import CONFIGS, run_sbc, thinning

N_SETS, L, BURN = 200, 10, 4


@pytest.mark.slow
@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_sbc_ranks_are_uniform(cfg):
    ranks = run_sbc(cfg, N_SETS, L, thinning(cfg), BURN, seed=1000 + CONFIGS.index(cfg))
    bad = failures(ranks, L)
    assert not bad, bad


@pytest.mark.slow
def test_sbc_detects_a_planted_variance_error():
    """The power statement: a 25% row-variance error fails on the cheapest configuration."""
    cfg = CONFIGS[-1]
    with inflated_row_variance(1.25):
        ranks = run_sbc(cfg, N_SETS, L, thinning(cfg), BURN, seed=7)
    assert failures(ranks, L)
