"""The hand-written BPMF Gibbs sampler against NUTS on its PyMC twin (models/bpmf.py, pmf.py).

Tiny data (30 users x 20 items, 188 training ratings, K = 2).  Compared quantities are
rotation invariant: the mean rating at 12 held-out cells (posterior mean and sd), alpha and
the bias precisions.  Tolerance: |difference| < 4 combined Monte Carlo standard errors,
``sqrt(mcse_gibbs^2 + mcse_nuts^2)``, each from ArviZ's ESS-based MCSE (mean: ``mcse``,
sd: ``mcse(method="sd")``).

The Wishart hyperprior *is* sampled by NUTS here (Bartlett parametrization of the Wishart,
non-centred factors; it needs ``target_accept=0.9`` and gives at most a handful of
divergences), so no piece of the full model is left to a different check; the conjugate
Normal-Wishart update is additionally tested against its closed form in
``test_normal_wishart.py``.
"""

import warnings

import numpy as np
import pytest

from bayesrec.data import synthetic_ratings
from bayesrec.factorization import BPMF

pm = pytest.importorskip("pymc")
az = pytest.importorskip("arviz")

Z = 4.0


@pytest.fixture(scope="module")
def tiny():
    r, _ = synthetic_ratings(30, 20, 200, rank=2, noise=0.7, rng=3, with_timestamps=False,
                             activity_sigma=0, popularity_exponent=0)
    idx = np.random.default_rng(0).permutation(len(r))
    return r.take(np.sort(idx[12:])), r.take(np.sort(idx[:12]))


def _nuts(model):
    warnings.filterwarnings("ignore")
    with model:
        return pm.sample(1000, tune=1000, chains=2, cores=1, random_seed=1, progressbar=False,
                         target_accept=0.9, compute_convergence_checks=False)


def _z(g_dt, g_name, n_dt, n_name, method):
    if method == "mean":
        gv = g_dt["posterior"][g_name].mean(("chain", "draw")).values
        nv = n_dt["posterior"][n_name].mean(("chain", "draw")).values
    else:
        gv = g_dt["posterior"][g_name].std(("chain", "draw")).values
        nv = n_dt["posterior"][n_name].std(("chain", "draw")).values
    ge = az.mcse(g_dt, var_names=[g_name], method=method)[g_name].values
    ne = az.mcse(n_dt, var_names=[n_name], method=method)[n_name].values
    return np.atleast_1d((gv - nv) / np.sqrt(ge ** 2 + ne ** 2))


def _check(gibbs, nuts, pairs):
    for g_name, n_name in pairs:
        for method in ("mean", "sd"):
            z = _z(gibbs, g_name, nuts, n_name, method)
            assert np.all(np.abs(z) < Z), (g_name, method, np.round(z, 2))


def test_bpmf_gibbs_matches_nuts(tiny):
    from models.bpmf import bpmf_model
    tr, te = tiny
    m = BPMF(rank=2, alpha="sample", biases=True, n_chains=4, n_samples=1500, burn_in=300,
             random_state=1).fit(tr, eval_set=te)
    nuts = _nuts(bpmf_model(tr.users, tr.items, tr.ratings, tr.n_users, tr.n_items, 2,
                            te.users, te.items, biases=True, alpha="sample"))
    assert int(nuts["sample_stats"]["diverging"].sum()) <= 20
    _check(m.posterior, nuts, [("test_pred", "pred"), ("alpha", "alpha"),
                               ("tau_b", "tau_b"), ("tau_c", "tau_c")])
    # the sd of the predictions is far from zero: the comparison is not vacuous
    assert float(nuts["posterior"]["pred"].std(("chain", "draw")).min()) > 0.3


def test_pmf_gibbs_matches_nuts(tiny):
    """Hyperpriors off, fixed alpha, no biases: the plain-PMF twin."""
    from models.pmf import pmf_model
    tr, te = tiny
    m = BPMF(rank=2, alpha=2.0, biases=False, hyperprior=False, factor_precision=2.0,
             n_chains=4, n_samples=1500, burn_in=300, random_state=2).fit(tr, eval_set=te)
    nuts = _nuts(pmf_model(tr.users, tr.items, tr.ratings, tr.n_users, tr.n_items, 2,
                           te.users, te.items, alpha=2.0, factor_precision=2.0))
    _check(m.posterior, nuts, [("test_pred", "pred")])
