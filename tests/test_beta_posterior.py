"""Beta-Bernoulli posterior draws: simulation-based calibration (Talts et al. 2018).

``theta_i ~ Beta(a, b)``, ``s_i ~ Binomial(n_i, theta_i)`` with ``n_i`` uniform on 0..29, one
dataset per item; the posterior is built by the library (:func:`beta_update` and
:class:`BetaPosteriorRanker`), ``L = 99`` draws per item from :func:`beta_draws` /
``BetaPosteriorRanker.posterior``, and the rank of the true ``theta_i`` (and of
``log(theta / (1 - theta))``, the same ranks) must be uniform on 0..99 (see :mod:`_sbc`).

Power (measured by planting the error in the draws, 5 seeds): with 40,000 datasets a posterior
whose spread is inflated by 5% in variance (``m + sqrt(1.05) (theta - m)``) gives a dispersion
z of -8 to -12 (threshold 4.5), a prior pseudo-count off by one (``a + 1``) a location z
beyond 20.  The whole file runs in about a second.
"""

import numpy as np
import pytest
from _sbc import failures, ranks, uniformity

from bayesrec.inference.beta import beta_draws, beta_mean, beta_update, beta_var
from bayesrec.ranking import BetaPosteriorRanker

A, B = 2.0, 0.7
N_SETS, L = 40_000, 99


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20)
    theta = rng.beta(A, B, N_SETS)
    n = rng.integers(0, 30, N_SETS)
    s = rng.binomial(n, theta)
    return theta, s, n - s


def test_sbc_beta_update_and_draws(simulated):
    theta, s, f = simulated
    a_post, b_post = beta_update(A, B, s, f)
    draws = beta_draws(a_post, b_post, np.random.default_rng(21), size=(L, N_SETS))
    bad = failures({"theta": ranks(theta, draws.T)}, L, n_bins=20)
    assert not bad, bad


def test_sbc_beta_ranker_posterior(simulated):
    theta, s, f = simulated
    rk = BetaPosteriorRanker(a=A, b=B, random_state=22).fit(s, f)
    draws = rk.posterior(n_draws=L).posterior["theta"].values[0]      # (draw, item)
    bad = failures({"theta": ranks(theta, draws.T)}, L, n_bins=20)
    assert not bad, bad
    # Thompson scores are single posterior draws: the rank of the truth among the ranker's
    # successive Thompson scores is uniform too
    th = np.stack([rk.scores("thompson") for _ in range(L)], axis=1)
    bad = failures({"thompson": ranks(theta, th)}, L, n_bins=20)
    assert not bad, bad


def test_posterior_moments_closed_form(simulated):
    """Mean and variance of ``Beta(a, b)`` by hand; draws match them (z-tests, n = 40,000)."""
    _, s, f = simulated
    a_post, b_post = beta_update(A, B, s, f)
    np.testing.assert_array_equal(a_post, A + s)
    np.testing.assert_array_equal(b_post, B + f)
    tot = a_post + b_post
    np.testing.assert_allclose(beta_mean(a_post, b_post), a_post / tot, rtol=1e-14)
    np.testing.assert_allclose(beta_var(a_post, b_post),
                               a_post * b_post / (tot ** 2 * (tot + 1)), rtol=1e-14)
    # one fixed posterior, many draws: sample variance within 4.5 standard errors
    a1, b1 = 3.0, 5.0
    x = beta_draws(a1, b1, np.random.default_rng(23), size=200_000)
    m, v = a1 / (a1 + b1), a1 * b1 / ((a1 + b1) ** 2 * (a1 + b1 + 1))
    dev2 = (x - m) ** 2
    assert abs(dev2.mean() - v) < 4.5 * dev2.std() / np.sqrt(x.size)
    assert abs(x.mean() - m) < 4.5 * np.sqrt(v / x.size)


def test_sbc_detects_a_five_percent_variance_error(simulated):
    """The power statement above, on this file's seeds."""
    theta, s, f = simulated
    a_post, b_post = beta_update(A, B, s, f)
    draws = beta_draws(a_post, b_post, np.random.default_rng(21), size=(L, N_SETS))
    m = a_post / (a_post + b_post)
    wide = m + np.sqrt(1.05) * (draws - m)
    z = uniformity(ranks(theta, wide.T), L)["z_dispersion"]
    assert z < -6.0, z
