"""The hand-written HPF Gibbs sampler against NUTS on its PyMC twin (models/hpf.py).

Tiny data: 12 users x 10 items from two user / item groups (K = 2), 40 training
interactions, 8 held-out pairs.  Compared quantities are invariant to permuting the
components: the expected count ``theta_u . beta_i`` at the held-out pairs (posterior mean and
sd) and the total rate ``sum_ui theta_u . beta_i``.  Tolerance: |difference| < 4 combined
Monte Carlo standard errors, ``sqrt(mcse_gibbs^2 + mcse_nuts^2)`` (ArviZ's ESS-based MCSE).

Power (measured): the held-out rates have posterior means 0.32-0.49 and sds 0.25-0.35, the
Gibbs MCSEs of their means are 0.004-0.006, so 4 combined MCSEs are about 0.03: a sampler
whose held-out mean rates are off by 8% or more fails.  The total rate (mean 48.7, Gibbs MCSE
0.08) catches a 1% error.  The Geweke test (``test_hpf_geweke.py``) is the sharper check of
each conditional.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesrec.data import Ratings
from bayesrec.factorization import HPF

pm = pytest.importorskip("pymc")
az = pytest.importorskip("arviz")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models.hpf import from_ratings  # noqa: E402

pytestmark = pytest.mark.slow

Z = 4.0
PRIOR = {"a": 1.0, "a_prime": 2.0, "b_prime": 1.0, "c": 1.0, "c_prime": 2.0, "d_prime": 1.0}


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(4)
    rows = []
    for u in range(12):
        g = u % 2
        for i in rng.choice(5, 4, replace=False):
            rows.append((u, i + 5 * g))
    df = pd.DataFrame(rows, columns=["userId", "movieId"])
    df["rating"] = 1.0
    r = Ratings.from_frame(df)
    held = rng.permutation(len(r))[:8]
    test = r.take(np.sort(held))
    train = r.take(np.setdiff1d(np.arange(len(r)), held))
    return train, test


@pytest.fixture(scope="module")
def runs(tiny):
    train, test = tiny
    gibbs = HPF(rank=2, method="gibbs", n_samples=3000, burn_in=500, n_chains=2,
                n_tracked=len(test), random_state=0, **PRIOR).fit(train, eval_set=test)
    warnings.filterwarnings("ignore")
    with from_ratings(train, 2, eval_set=test, **PRIOR):
        nuts = pm.sample(1000, tune=1000, chains=2, cores=1, random_seed=1, progressbar=False,
                         target_accept=0.95, compute_convergence_checks=False)
    return gibbs, nuts


def _z(g_dt, n_dt, g_name, n_name, method):
    pick = {"mean": lambda d: d.mean(("chain", "draw")), "sd": lambda d: d.std(("chain", "draw"))}
    gv = pick[method](g_dt["posterior"][g_name]).values
    nv = pick[method](n_dt["posterior"][n_name]).values
    ge = az.mcse(g_dt, var_names=[g_name], method=method)[g_name].values
    ne = az.mcse(n_dt, var_names=[n_name], method=method)[n_name].values
    return np.atleast_1d((gv - nv) / np.sqrt(ge ** 2 + ne ** 2))


def test_gibbs_matches_nuts_on_held_out_expected_counts(runs, tiny):
    gibbs, nuts = runs
    _, test = tiny
    # the tracked pairs are the held-out pairs, in the held-out order
    np.testing.assert_array_equal(gibbs.tracked_[:, 0], test.users)
    np.testing.assert_array_equal(gibbs.tracked_[:, 1], test.items)
    nuts_dt = az.from_dict({"posterior": {"rate": nuts["posterior"]["rate"].values,
                                          "total_rate": nuts["posterior"]["total_rate"].values}})
    g = gibbs.posterior
    for method in ("mean", "sd"):
        for name in ("rate", "total_rate"):
            z = _z(g, nuts_dt, name, name, method)
            assert np.all(np.abs(z) < Z), (name, method, np.round(z, 2))
    assert int(nuts["sample_stats"]["diverging"].sum()) < 20
