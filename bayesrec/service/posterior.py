r"""Posterior summaries of a stored experiment: JSON rows, and the same as an ArviZ DataTree.

Arm ``k`` has posterior ``theta_k ~ Beta(a_k, b_k)`` with ``a_k = prior_a_k + s_k`` and
``b_k = prior_b_k + f_k`` after ``s_k`` 1-rewards and ``f_k`` 0-rewards.  Reported per arm:
the mean ``a / (a + b)``, the equal-tailed ``credible`` interval (5% and 95% quantiles by
default), ``pulls = s_k + f_k`` and ``P(best)`` by Monte Carlo
(:func:`bayesrec.inference.beta.prob_best`, standard error ``sqrt(p (1 - p) / n_draws)``).
"""

from __future__ import annotations

import numpy as np

from ..inference.beta import beta_draws, beta_interval, beta_mean, prob_best
from ..rng import check_random_state
from .storage import ArmsState, Store

CREDIBLE = 0.90
N_DRAWS = 10_000


def summarize(state: ArmsState, rng=None, credible: float = CREDIBLE,
              n_draws: int = N_DRAWS) -> list[dict]:
    """One dict per arm: ``arm, a, b, mean, lower, upper, pulls, p_best`` (JSON-ready)."""
    gen = check_random_state(rng)
    mean = beta_mean(state.a, state.b)
    lower, upper = beta_interval(state.a, state.b, credible)
    best = prob_best(state.a, state.b, gen, n_draws=n_draws)
    return [{"arm": name, "a": float(state.a[k]), "b": float(state.b[k]),
             "mean": float(mean[k]), "lower": float(np.atleast_1d(lower)[k]),
             "upper": float(np.atleast_1d(upper)[k]), "pulls": int(state.pulls[k]),
             "p_best": float(best[k])}
            for k, name in enumerate(state.names)]


def posterior_tree(store: Store | ArmsState, name: str | None = None, n_draws: int = 4000,
                   random_state=None):
    """The posterior of an experiment as an ArviZ ``DataTree``.

    Groups: ``posterior`` with ``theta`` (dims ``chain, draw, arm``; one chain of exact
    independent draws) and ``constant_data`` with ``a``, ``b``, ``prior_a``, ``prior_b`` and
    ``pulls`` (dim ``arm``, labelled by the arm names).  Give a :class:`Store` and the
    experiment ``name``, or an :class:`ArmsState` already read.
    """
    import arviz as az

    state = store.state(name) if isinstance(store, Store) else store
    if not isinstance(state, ArmsState):
        raise TypeError(f"expected a Store or an ArmsState, got {type(store).__name__}")
    n_draws = int(n_draws)
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    draws = beta_draws(state.a, state.b, check_random_state(random_state),
                       size=(1, n_draws, len(state.names)))
    const = {"a": state.a, "b": state.b, "prior_a": state.prior_a, "prior_b": state.prior_b,
             "pulls": state.pulls}
    tree = az.from_dict({"posterior": {"theta": draws}, "constant_data": const},
                        dims={"theta": ["arm"], **{k: ["arm"] for k in const}},
                        coords={"arm": list(state.names)})
    tree["posterior"].attrs.update(experiment=state.experiment)
    return tree
