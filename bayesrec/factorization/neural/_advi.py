"""Mean-field ADVI fit of the neural recommenders (``pm.fit(method="advi")``, ``pm.Minibatch``).

The approximation is ``q(theta) = prod_d N(theta_d | m_d, s_d^2)`` over every weight (and
``log sigma`` when the noise is learned), fitted by maximising the ELBO with stochastic
gradients: each step draws one mini-batch of ratings (``pm.Minibatch``, likelihood rescaled by
``N / batch``) and one Monte Carlo draw of ``theta`` (Kucukelbir et al. 2017, JMLR 18(14)).
Adam's step size is constant for the first half of the iterations, then decays linearly to a
tenth (a Robbins-Monro schedule: without it the final means jitter by a fair fraction of the
posterior sd).

Known limitation, measured in ``tests/test_neural.py`` and ``experiments/neural.py``: the
mean-field family ignores posterior correlations (between ``u_i`` and ``v_j``, between layers)
and the reverse KL it minimises is mode-seeking, so marginal variances come out too small;
predictive intervals then cover held-out ratings less often than their nominal rate, the
shortfall being largest for the parameter part of the predictive variance.
"""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import pymc as pm
import pytensor
from threadpoolctl import threadpool_limits

from ._graph import param_names


def _softplus(x):
    return np.logaddexp(0.0, x)


def fit_advi(train, *, architecture: str, rank: int, hidden: int, activation: str,
             prior_sds: dict, noise, noise_prior_sd: float, global_mean: float,
             batch_size: int, n_iter: int, lr: float, init: dict, init_posterior_sd: float,
             seed: int, callback=None, progressbar: bool = False):
    """Run ADVI; returns ``(means, sds, losses, seconds)``: dicts name -> array and the -ELBO trace.

    ``init`` gives the starting means of the weights (random embeddings break the symmetry
    of the zero point); every starting sd is ``init_posterior_sd``.  ``callback(iteration,
    losses, means)`` is called after every iteration; ``means()`` returns the current means.
    Also returns the wall time of ``fit`` (compile included).
    """
    from ._pymc_model import neural_model  # the PyMC specification is the model fitted here

    model = neural_model(train.users, train.items, train.ratings, train.n_users, train.n_items,
                         architecture=architecture, rank=rank, hidden=hidden,
                         activation=activation, noise=noise, noise_prior_sd=noise_prior_sd,
                         global_mean=global_mean, batch_size=min(batch_size, len(train)),
                         **prior_sds)
    start = {k: v for k, v in init.items() if k in param_names(architecture)}
    with model:
        start_sigma = {name: init_posterior_sd for name in model.initial_point()}
    if noise is None:
        start["sigma_log__"] = np.log(noise_prior_sd)
    # Robbins-Monro: Adam's step is held for the first half, then decays linearly to lr / 10,
    # which damps the iterate noise of the final means and sds
    rate = pytensor.shared(np.float64(lr), name="advi_lr")
    half = n_iter // 2

    def _cb(approx, losses, i):
        if i + 1 >= half:
            rate.set_value(np.float64(lr * (1.0 - 0.9 * (i + 1 - half) / max(n_iter - half, 1))))
        if callback is not None:
            callback(i + 1, losses, lambda: _unflatten(approx, approx.params[0].get_value()))
    t0 = time.perf_counter()
    # one BLAS thread: the mini-batch GEMMs are tiny and threaded OpenBLAS busy-waits
    with model, threadpool_limits(1, "blas"), _quiet(not progressbar):
        approx = pm.fit(n_iter, method="advi", start=start, start_sigma=start_sigma,
                        random_seed=seed, obj_optimizer=pm.adam(learning_rate=rate),
                        callbacks=[_cb], progressbar=progressbar)
    seconds = time.perf_counter() - t0
    means = _unflatten(approx, approx.params[0].get_value())
    sds = _unflatten(approx, _softplus(approx.params[1].get_value()))
    return means, sds, np.asarray(approx.hist, dtype=np.float64), seconds


@contextlib.contextmanager
def _quiet(enabled: bool):
    """Silence PyMC's "Finished [100%]: Average Loss" log line when no progress is wanted."""
    log = logging.getLogger("pymc.variational.inference")
    level = log.level
    if enabled:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _unflatten(approx, flat: np.ndarray) -> dict[str, np.ndarray]:
    """Split the flat parameter vector of a mean-field group by variable (ordering)."""
    out = {}
    for name, slc, shape, _ in approx.groups[0].ordering.values():
        out[name] = np.asarray(flat[slc]).reshape(shape)
    return out
