"""Chain bookkeeping and convergence diagnostics against computations written here.

* :func:`bayesrec.inference.arviz_io.diagnostics_table` / ``max_rhat`` against the
  rank-normalized split R-hat and the bulk / tail ESS of Vehtari, Gelman, Simpson, Carpenter
  & Buerkner (2021, Bayesian Analysis 16(2)), written out below with plain numpy / scipy
  (direct-sum autocovariances, Geyer's initial positive and monotone sequences), on chains
  built so that every ingredient matters: one chain drifts within itself (only the *split*
  R-hat sees it), one has a larger spread (only the *folded* R-hat sees it), the draws are
  autocorrelated (ESS well below the number of draws) and the tails mix differently from the
  bulk (bulk and tail ESS differ).
* :func:`bayesrec.inference.chains.run_chains` with a counting sampler: which sweeps are kept
  (burn-in, thinning), what is accumulated, that chain ``c`` runs on the ``c``-th stream of
  ``bayesrec.rng.spawn`` (the documented contract), and that a resumed run equals an
  uninterrupted one.
"""

import numpy as np
import pytest
from scipy import stats

from bayesrec.inference.arviz_io import diagnostics_table, max_rhat, to_datatree
from bayesrec.inference.chains import RunSettings, run_chain, run_chains
from bayesrec.rng import spawn


# ------------------------------------------------------------------ reference diagnostics
def _split(x):
    half = x.shape[1] // 2
    return np.vstack([x[:, :half], x[:, x.shape[1] - half:]])


def _rank_z(x):
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return stats.norm.ppf((r - 3 / 8) / (x.size + 1 / 4))


def _classic_rhat(x):
    n = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    b = n * x.mean(axis=1).var(ddof=1)
    return np.sqrt(((n - 1) / n * w + b / n) / w)


def ref_rhat(x):
    """max(bulk, folded) rank-normalized split R-hat of a (chain, draw) array."""
    s = _split(x)
    return max(_classic_rhat(_rank_z(s)), _classic_rhat(_rank_z(np.abs(s - np.median(s)))))


def ref_ess(x):
    """ESS of a (chain, draw) array: Geyer's initial positive sequence of the combined
    autocorrelations, made monotone (the paper's eqs. (10)-(11)), with Stan's refinement of
    adding the first truncated pair's even term when it is positive (and the last pair's
    even term alone when no pair turns negative)."""
    m, n = x.shape
    if np.ptp(x) == 0:
        return float(x.size)
    d = x - x.mean(axis=1, keepdims=True)
    acov = np.array([np.correlate(d[c], d[c], "full")[n - 1:] / n for c in range(m)])
    w = acov[:, 0].mean() * n / (n - 1)
    var_plus = w * (n - 1) / n + (x.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # pairs (rho_2k, rho_2k+1) while their sum stays positive
    pairs, tail = [], 0.0
    for k in range(0, n - 3, 2):
        p = rho[k] + rho[k + 1]
        if k > 0 and p < 0:
            tail = max(rho[k], 0.0)    # Stan's refinement: the truncated pair's even term
            break
        pairs.append(p)
    else:          # never negative up to lag n - 3: the last pair counts by its even term only
        tail = rho[k]
        pairs.pop()
    pairs = np.minimum.accumulate(np.array(pairs))
    tau = -1.0 + 2.0 * pairs.sum() + tail
    return m * n / max(tau, 1 / np.log10(m * n))


def ref_ess_bulk(x):
    return ref_ess(_rank_z(_split(x)))


def ref_ess_tail(x):
    """min ESS of the indicators ``x <= q`` at two quantiles: the paper uses 5% and 95%;
    ArviZ 1 (whose default the table keeps) uses ``(1 - ci_prob, ci_prob)`` = 11% and 89%."""
    out = []
    for q in (1 - 0.89, 0.89):
        out.append(ref_ess(_split((x <= np.quantile(x, q)).astype(float))))
    return min(out)


def _chains(seed, drift, n_chain=4, n_draw=400):
    """AR(1) chains (phi 0.6); chain 1 drifts by ``drift``, chain 2 is 1.6 times wider."""
    rng = np.random.default_rng(seed)
    x = np.empty((n_chain, n_draw))
    x[:, 0] = rng.normal(size=n_chain)
    for t in range(1, n_draw):
        x[:, t] = 0.6 * x[:, t - 1] + 0.8 * rng.normal(size=n_chain)
    x[1] += np.linspace(-drift, drift, n_draw)
    x[2] *= 1.6
    return x


def test_diagnostics_table_matches_the_published_definitions():
    a, b = _chains(1, 1.2), _chains(2, 0.0)
    b = np.sign(b) * np.abs(b) ** 1.5          # heavier tails: bulk and tail ESS differ
    dt = to_datatree({"a": a, "b": b})
    tab = diagnostics_table(dt)
    for name, x in (("a", a), ("b", b)):
        row = tab.loc[name]
        np.testing.assert_allclose(row["mean"], x.mean(), rtol=1e-12)
        np.testing.assert_allclose(row["sd"], x.std(), rtol=1e-12)
        np.testing.assert_allclose(row["r_hat"], ref_rhat(x), rtol=1e-9)
        np.testing.assert_allclose(row["ess_bulk"], ref_ess_bulk(x), rtol=1e-6)
        np.testing.assert_allclose(row["ess_tail"], ref_ess_tail(x), rtol=1e-6)
        # MCSE of the mean: sd / sqrt(ESS of the raw draws)
        np.testing.assert_allclose(row["mcse_mean"], x.std(ddof=1) / np.sqrt(ref_ess(_split(x))),
                                   rtol=1e-6)
    # the constructed chains are not converged, and the split / folded forms are what see it
    assert ref_rhat(a) > 1.05 and ref_rhat(a) - _classic_rhat(a) > 0.02
    assert abs(tab.loc["b", "ess_bulk"] / tab.loc["b", "ess_tail"] - 1) > 0.1
    np.testing.assert_allclose(max_rhat(dt), max(ref_rhat(a), ref_rhat(b)), rtol=1e-9)


# ------------------------------------------------------------------ chain driver
class Counter:
    """State = (sweep count, running sum of normals); records both."""

    def fingerprint(self):
        return {"sampler": "counter"}

    def init(self, rng):
        return (0, 0.0)

    def step(self, state, rng):
        return (state[0] + 1, state[1] + rng.standard_normal())

    def record(self, state):
        return {"sweep": state[0], "walk": state[1]}

    def new_accumulator(self, n_draws):
        return {"n": 0, "draws": []}

    def accumulate(self, acc, state, draw):
        acc["n"] += 1
        acc["draws"].append(draw)


@pytest.mark.parametrize("burn_in, thin", [(3, 1), (4, 3)])
def test_run_chains_keeps_the_right_sweeps_on_the_right_streams(burn_in, thin):
    n_samples, n_chains = 5, 3
    res = run_chains(Counter(), n_chains, RunSettings(n_samples, burn_in, thin),
                     random_state=7, progress=False)
    streams = spawn(7, n_chains)
    for c, r in enumerate(res):
        kept = burn_in + thin * np.arange(1, n_samples + 1)
        np.testing.assert_array_equal(r.traces["sweep"], kept)
        assert r.accumulator == {"n": n_samples, "draws": list(range(n_samples))}
        walk = np.cumsum(streams[c].standard_normal(burn_in + thin * n_samples))
        np.testing.assert_array_equal(r.traces["walk"], walk[kept - 1])
    assert len({float(r.traces["walk"][-1]) for r in res}) == n_chains


def test_resumed_chains_equal_an_uninterrupted_run(tmp_path):
    ref = run_chains(Counter(), 2, RunSettings(6, 2, 1), random_state=3, progress=False)
    settings = RunSettings(6, 2, 1, str(tmp_path), checkpoint_every=3)

    class Stop(Exception):
        pass

    class Interrupted(Counter):
        def step(self, state, rng):
            if state[0] == 4:        # dies after the checkpoint at sweep 3
                raise Stop
            return super().step(state, rng)

    for c, rng in enumerate(spawn(3, 2)):
        with pytest.raises(Stop):
            run_chain(Interrupted(), c, rng, settings)
    res = run_chains(Counter(), 2, settings, random_state=3, progress=False)
    for a, b in zip(ref, res):
        np.testing.assert_array_equal(a.traces["walk"], b.traces["walk"])
