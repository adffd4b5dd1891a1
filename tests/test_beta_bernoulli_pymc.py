"""The closed-form Beta posterior (bayesrec.inference.beta) against NUTS on the PyMC twin
(models/beta_bernoulli.py): means and quantiles agree within Monte Carlo error.  One compile."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest

pytest.importorskip("pymc")

from bayesrec.inference.beta import beta_mean, beta_quantile, beta_update  # noqa: E402
from bayesrec.ranking import BetaPosteriorRanker  # noqa: E402
from models.beta_bernoulli import beta_bernoulli_model, sample_posterior  # noqa: E402


def test_closed_form_beta_posterior_matches_pymc():
    successes = np.array([3, 20, 150])
    trials = np.array([10, 40, 200])
    a, b = 2.0, 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = sample_posterior(successes, trials, a, b, draws=2000, chains=2, random_seed=1)
    assert float(az.rhat(tree)["theta"].max()) < 1.01
    alpha, beta = beta_update(a, b, successes, trials - successes)
    theta = tree["posterior"]["theta"]
    assert theta.dims == ("chain", "draw", "arm")
    # means: within 4 Monte Carlo standard errors (ArviZ mcse, which accounts for autocorrelation)
    mean = theta.mean(("chain", "draw")).values
    mcse = az.mcse(tree, method="mean")["theta"].values
    np.testing.assert_array_less(np.abs(mean - beta_mean(alpha, beta)), 4 * mcse)
    # quantiles, including the lower credible bound used for ranking
    draws = theta.values.reshape(-1, 3)
    for q in (0.025, 0.5, 0.975):
        emp = np.quantile(draws, q, axis=0)
        se = az.mcse(tree, method="quantile", prob=q)["theta"].values
        np.testing.assert_array_less(np.abs(emp - beta_quantile(q, alpha, beta)), 4 * se)
    # the ranker's summaries are those closed forms
    rk = BetaPosteriorRanker(a=a, b=b, credible=0.95).fit(successes, trials - successes)
    np.testing.assert_allclose(rk.lower_bound(), beta_quantile(0.025, alpha, beta))


def test_pymc_twin_rejects_bad_data():
    with pytest.raises(ValueError, match="successes"):
        beta_bernoulli_model([3, 5], [4, 4])
