"""Simulation-based calibration of the HPF Gibbs sampler (Talts et al. 2018).

Hierarchical Poisson factorization (Gopalan, Hofman & Blei 2015)::

    xi_u ~ Gamma(a', a'/b'),  theta_uk ~ Gamma(a, xi_u),  eta_i ~ Gamma(c', c'/d'),
    beta_ik ~ Gamma(c, eta_i),  y_ui ~ Poisson(theta_u . beta_i)

Parameters are drawn from the prior here (numpy, rates as written above), counts on every cell
of a 4 x 3 matrix, and the library's sweep (allocation of the counts, the Gamma conditionals,
the scale move) runs from the true parameters (an exact posterior draw): burn-in 4, ``L = 10``
draws thinned by 2, 300 datasets.  Ranks of ``log sum theta``, ``log sum beta``,
``log sum rate``, ``log rate_00``, ``log xi_0`` and ``log eta_0`` must pass the uniformity tests
of :mod:`_sbc`.

Power (planted, asserted below): a ``theta`` conditional whose rate is 25% too large fails;
the 5% version of that bug is the job of ``test_hpf_geweke.py``.
"""

import numpy as np
import pytest
from _hpf_prior import PRIOR, all_cells, draw_prior, wrong_theta_rate
from _sbc import failures

from bayesrec.factorization.implicit.hpf import _gibbs

N_SETS, L, THIN, BURN = 300, 10, 2, 4


def _f(st):
    rate = st["theta"] @ st["beta"].T
    return {"log sum theta": np.log(st["theta"].sum()), "log sum beta": np.log(st["beta"].sum()),
            "log sum rate": np.log(rate.sum()), "log rate_00": np.log(rate[0, 0]),
            "log xi_0": np.log(st["xi"][0]), "log eta_0": np.log(st["eta"][0])}


def _run(sampler_cls, seed):
    rng = np.random.default_rng(seed)
    tracked = np.zeros((1, 2), np.int64)
    ranks = {}
    for _ in range(N_SETS):
        st = draw_prior(rng)
        y = rng.poisson(st["theta"] @ st["beta"].T)
        truth = _f(st)
        s = sampler_cls(all_cells(y), PRIOR, tracked, np.zeros(0, np.int64), False)
        st = s._allocate(st, rng)
        draws = {k: [] for k in truth}
        for t in range(BURN + L * THIN):
            st = s.step(st, rng)
            if t >= BURN and (t - BURN + 1) % THIN == 0:
                for k, v in _f(st).items():
                    draws[k].append(v)
        for k, v in truth.items():
            ranks.setdefault(k, []).append(int(np.sum(np.asarray(draws[k]) < v)))
    return {k: np.asarray(v) for k, v in ranks.items()}


@pytest.mark.slow
def test_sbc_hpf_gibbs():
    bad = failures(_run(_gibbs.HPFGibbs, 50), L)
    assert not bad, bad


#: theta's conditional rate 25% too large
_WrongThetaRate = wrong_theta_rate(1.25)


@pytest.mark.slow
def test_sbc_hpf_detects_a_planted_rate_error():
    assert failures(_run(_WrongThetaRate, 50), L)
