"""PyMC twin of the Beta-Bernoulli model behind :mod:`bayesrec.ranking` and :mod:`bayesrec.bandits`.

::

    theta_k ~ Beta(a, b)                       k = 1..K (items or arms)
    successes_k ~ Binomial(trials_k, theta_k)

The closed form (:mod:`bayesrec.inference.beta`) says ``theta_k | data ~ Beta(a + s_k,
b + n_k - s_k)``; ``tests/test_beta_bernoulli_pymc.py`` checks it against NUTS on this model.
(The Binomial likelihood equals the product of the ``n_k`` Bernoulli likelihoods up to a
constant, so the posterior is the same.)
"""

from __future__ import annotations

import numpy as np
import pymc as pm


def beta_bernoulli_model(successes, trials, a: float = 1.0, b: float = 1.0) -> pm.Model:
    """The model with observed ``successes`` out of ``trials`` per arm; dims ``arm``."""
    successes = np.asarray(successes, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    if successes.shape != trials.shape or successes.ndim != 1:
        raise ValueError("successes and trials must be 1-d arrays of the same length")
    if np.any(successes < 0) or np.any(successes > trials):
        raise ValueError("need 0 <= successes <= trials for every arm")
    with pm.Model(coords={"arm": np.arange(successes.size)}) as model:
        theta = pm.Beta("theta", alpha=a, beta=b, dims="arm")
        pm.Binomial("successes", n=trials, p=theta, observed=successes, dims="arm")
    return model


def sample_posterior(successes, trials, a: float = 1.0, b: float = 1.0, draws: int = 1000,
                     chains: int = 2, random_seed: int = 0):
    """NUTS draws of ``theta`` (an ArviZ ``DataTree``), single core, no progress bar."""
    with beta_bernoulli_model(successes, trials, a, b):
        return pm.sample(draws=draws, tune=500, chains=chains, cores=1,
                         random_seed=random_seed, progressbar=False,
                         compute_convergence_checks=False)
