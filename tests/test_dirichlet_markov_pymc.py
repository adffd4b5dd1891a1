"""The closed-form Dirichlet row posterior of MarkovChain against NUTS on the PyMC twin
(models/dirichlet_markov.py): means and sds agree within Monte Carlo error.  One compile."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest

pytest.importorskip("pymc")

from bayesrec.markov import MarkovChain  # noqa: E402
from models.dirichlet_markov import dirichlet_row_model, sample_posterior  # noqa: E402


def test_closed_form_row_posterior_matches_pymc():
    # state "a" is followed by b, c, b, d, b  ->  counts over (a, b, c, d, e) = (0, 3, 1, 1, 0)
    seq = list("abacabadabe")
    mc = MarkovChain(epsilon=0.5, states=list("abcde")).fit([seq])
    row = mc.index(["a"])[0]
    nxt = mc.index(seq[1:])[np.array(seq[:-1]) == "a"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = sample_posterior(nxt, 5, epsilon=0.5, draws=1000, chains=2, random_seed=1)
    assert float(az.rhat(tree)["theta"].max()) < 1.02
    theta = tree["posterior"]["theta"]
    assert theta.dims == ("chain", "draw", "state")
    closed = mc.transition_matrix.rows([row])[0]
    np.testing.assert_allclose(closed, (np.array([0, 3, 1, 1, 0]) + 0.5) / (5 + 2.5))
    mean = theta.mean(("chain", "draw")).values
    mcse = az.mcse(tree, method="mean")["theta"].values
    np.testing.assert_array_less(np.abs(mean - closed), 4 * mcse)
    # posterior sd of a Dirichlet(alpha): sqrt(alpha_j (a0 - alpha_j) / (a0^2 (a0 + 1)))
    alpha = mc.posterior_.concentration_rows([row])[0]
    a0 = alpha.sum()
    sd = np.sqrt(alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)))
    mcse_sd = az.mcse(tree, method="sd")["theta"].values
    np.testing.assert_array_less(np.abs(theta.std(("chain", "draw")).values - sd), 4 * mcse_sd)
    # the closed-form sampler gives the same moments
    exact = mc.posterior_.sample_dense(4000, rng=2, rows=[row])[:, 0]
    np.testing.assert_allclose(exact.mean(axis=0), closed, atol=4 * sd.max() / np.sqrt(4000))


def test_pymc_twin_rejects_bad_data():
    with pytest.raises(ValueError, match="next_states"):
        dirichlet_row_model([0, 7], 5)
