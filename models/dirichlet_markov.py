"""PyMC twin of one transition row of :class:`bayesrec.markov.MarkovChain`.

::

    theta ~ Dirichlet(epsilon 1_V)                 one row of the transition matrix
    x_t | x_{t-1} = i ~ Categorical(theta)         the n_i observed next states

The closed form (:class:`bayesrec.inference.dirichlet.DirichletRows`) says
``theta | x ~ Dirichlet(c + epsilon)``, mean ``(c_j + epsilon) / (n + epsilon V)``;
``tests/test_dirichlet_markov_pymc.py`` checks it against NUTS on this model.  The rows of a
chain are independent a posteriori, so one row is the whole story.
"""

from __future__ import annotations

import numpy as np
import pymc as pm


def dirichlet_row_model(next_states, n_states: int, epsilon: float = 1.0) -> pm.Model:
    """The model of one row, observing the next states (integers in ``[0, n_states)``)."""
    obs = np.asarray(next_states, dtype=np.int64)
    if obs.ndim != 1 or obs.size == 0:
        raise ValueError("next_states must be a non-empty 1-d array of state indices")
    if obs.min() < 0 or obs.max() >= n_states:
        raise ValueError(f"next_states must lie in [0, {n_states})")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    with pm.Model(coords={"state": np.arange(n_states), "step": np.arange(obs.size)}) as model:
        theta = pm.Dirichlet("theta", a=np.full(n_states, float(epsilon)), dims="state")
        pm.Categorical("next_state", p=theta, observed=obs, dims="step")
    return model


def sample_posterior(next_states, n_states: int, epsilon: float = 1.0, draws: int = 1000,
                     chains: int = 2, random_seed: int = 0):
    """NUTS draws of ``theta`` (an ArviZ ``DataTree``), single core, no progress bar."""
    with dirichlet_row_model(next_states, n_states, epsilon):
        return pm.sample(draws=draws, tune=500, chains=chains, cores=1,
                         random_seed=random_seed, progressbar=False,
                         compute_convergence_checks=False)
