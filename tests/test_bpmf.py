"""BPMF Gibbs sampler: sweep against a per-user reference loop, chains, checkpoints, API."""

import numpy as np
import pytest
from scipy import stats

from bayesrec.data import synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import BPMF
from bayesrec.factorization.bpmf import _sampler as bpmf_sampler
from bayesrec.factorization.bpmf._linalg import draw_rows, safe_cholesky
from bayesrec.factorization.bpmf._sweep import (
    BPMFPrior,
    SweepData,
    direct_sse,
    init_state,
    sample_side,
    side_stats_compiled,
    side_stats_scipy,
    sweep,
)
from bayesrec.inference.normal_wishart import NormalWishart
from bayesrec.metrics import rmse


@pytest.fixture(scope="module")
def small():
    r, truth = synthetic_ratings(120, 80, 3000, rank=3, noise=0.5, rng=0)
    return r, truth


@pytest.fixture(scope="module")
def split(small):
    return random_split(small[0], test_size=0.2, rng=1)


def _prior(k=3, biases=True, alpha=None):
    return BPMFPrior(k, NormalWishart.default(k), 1.0, biases, 1.0, 1.0, alpha, 1.0, 1.0)


# ---------------------------------------------------------------- the sweep's math
@pytest.mark.parametrize("biases", [True, False])
def test_user_step_matches_per_user_loop(small, biases):
    """Conditional mean and draw of every user's (u_i, b_i) equal a slow per-user loop
    (prior blocks built here; the sweep's own prior blocks are checked in
    ``test_bpmf_moves_exact.py``)."""
    r, _ = small
    prior = _prior(biases=biases)
    data = SweepData(r)
    rng = np.random.default_rng(3)
    st = init_state(data, prior, rng, scale=0.5)
    k, d = prior.rank, prior.dim
    lam = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 1.5]])
    mu = np.array([0.1, -0.2, 0.3])
    # prior blocks of (u_i, b_i), written here: blockdiag(Lambda_U, tau_b), (Lambda_U mu_U, 0)
    pp = np.zeros((d, d))
    pp[:k, :k] = lam
    ph = np.zeros(d)
    ph[:k] = lam @ mu
    if biases:
        pp[k, k] = 3.0
    fv = st.xv.copy()
    if biases:
        fv[:, k] = 1.0
    cb = st.xv[:, k] if biases else None
    alpha = 1.7
    x, _, _ = sample_side(data.pattern_u, data.values_u, fv, cb, pp, ph, alpha,
                          np.random.default_rng(9))
    z = np.random.default_rng(9).standard_normal((r.n_users, d))
    vals = r.ratings - r.global_mean
    for i in range(r.n_users):
        rows = np.flatnonzero(r.users == i)
        f = fv[r.items[rows]]
        t = vals[rows] - (st.xv[r.items[rows], k] if biases else 0.0)
        prec = pp + alpha * f.T @ f
        mean = np.linalg.solve(prec, ph + alpha * f.T @ t)
        chol = np.linalg.cholesky(prec)
        np.testing.assert_allclose(x[i], mean + np.linalg.solve(chol.T, z[i]), atol=1e-10)
    xm, _, _ = sample_side(data.pattern_u, data.values_u, fv, cb, pp, ph, alpha, None,
                           mode=True)
    i = int(np.argmax(r.user_counts))
    rows = np.flatnonzero(r.users == i)
    f = fv[r.items[rows]]
    t = vals[rows] - (st.xv[r.items[rows], k] if biases else 0.0)
    np.testing.assert_allclose(xm[i], np.linalg.solve(pp + alpha * f.T @ f,
                                                      ph + alpha * f.T @ t), atol=1e-10)


def test_side_stats_kernel_matches_sparse_products(small):
    """The parallel compiled pass gives the same Gram blocks, rhs and sums of squares as the
    two scipy sparse products, on both sides (users by CSR, items by CSC)."""
    r, _ = small
    data = SweepData(r)
    rng = np.random.default_rng(2)
    for pattern, values, n_other in ((data.pattern_u, data.values_u, r.n_items),
                                     (data.pattern_v, data.values_v, r.n_users)):
        f = rng.normal(size=(n_other, 4))
        bias = rng.normal(size=n_other)
        for b in (None, bias):
            for got, ref in zip(side_stats_compiled(pattern, values, f, b),
                                side_stats_scipy(pattern, values, f, b)):
                np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_numba_and_numpy_backends_agree(small):
    r, _ = small
    prior = _prior(alpha=None)
    data = SweepData(r)
    out = []
    for backend in ("numba", "numpy"):
        rng = np.random.default_rng(5)
        st = init_state(data, prior, rng)
        for _ in range(3):
            st = sweep(st, data, prior, rng, backend=backend)
        out.append(st)
    np.testing.assert_allclose(out[0].xu, out[1].xu, atol=1e-9)
    np.testing.assert_allclose(out[0].xv, out[1].xv, atol=1e-9)
    assert out[0].alpha == pytest.approx(out[1].alpha, rel=1e-12)


def test_tracked_sse_equals_direct_sse(small):
    r, _ = small
    prior = _prior()
    data = SweepData(r)
    rng = np.random.default_rng(6)
    st = init_state(data, prior, rng)
    for _ in range(4):
        st = sweep(st, data, prior, rng)
        assert st.sse == pytest.approx(direct_sse(data, st.xu, st.xv, True), rel=1e-9)


def test_draw_rows_covariance_is_inverse_precision():
    """Empirical covariance of many draws of one row equals P^-1 (Bartlett-free check)."""
    p = np.array([[2.0, 0.6], [0.6, 1.0]])
    gram = np.tile([[0.0, 0.0, 0.0]], (20000, 1))
    x, _, _ = draw_rows(gram, np.zeros((20000, 2)), np.zeros(20000), p, np.array([1.0, 0.0]),
                        1.0, np.random.default_rng(0))
    np.testing.assert_allclose(x.mean(0), np.linalg.solve(p, [1.0, 0.0]), atol=0.03)
    np.testing.assert_allclose(np.cov(x.T), np.linalg.inv(p), atol=0.03)


def test_jitter_only_where_cholesky_fails():
    good = np.array([[2.0, 0.5], [0.5, 1.0]])
    bad = np.array([[1.0, 1.0], [1.0, 1.0]]) - 1e-14 * np.eye(2)   # round-off indefinite
    chol, n_jit = safe_cholesky(np.stack([good, bad, good]))
    assert n_jit == 1
    np.testing.assert_allclose(chol[0], np.linalg.cholesky(good))
    np.testing.assert_allclose(chol[1] @ chol[1].T, bad, atol=1e-6)
    # the fused kernel falls back to the same path
    iu = np.triu_indices(2)
    gram = np.stack([good[iu], bad[iu]])
    x, _, n = draw_rows(gram, np.ones((2, 2)), np.zeros(2), np.zeros((2, 2)), np.zeros(2), 1.0,
                        None, mode=True)
    assert n == 1 and np.isfinite(x).all()


# ---------------------------------------------------------------- fitting and accuracy
@pytest.fixture(scope="module")
def fitted(split):
    tr, te = split
    return BPMF(rank=3, n_samples=120, burn_in=60, n_chains=2, alpha="sample",
                random_state=0).fit(tr, eval_set=te)


def test_recovers_truth_and_beats_baselines(small, split, fitted):
    r, truth = small
    tr, te = split
    pred = fitted.predict_ratings(te)
    true_mean = truth.mean(te.users, te.items)
    item_mean = np.array([tr.ratings[tr.items == i].mean() if (tr.items == i).any()
                          else tr.global_mean for i in te.items])
    assert rmse(true_mean, pred) < 0.75 * rmse(true_mean, item_mean)
    assert rmse(te.ratings, pred) < 0.66          # noise sd 0.5; item-mean baseline 0.99
    # alpha = 1/noise^2 = 4 within its posterior
    a = fitted.traces_["alpha"]
    assert abs(a.mean() - 4.0) < 4 * a.std() + 0.3
    # the running held-out mean and the bank agree
    assert abs(rmse(te.ratings, fitted.eval_mean_) - rmse(te.ratings, pred)) < 0.02


def test_predictive_intervals_are_calibrated(split, fitted):
    tr, te = split
    ids_u, ids_i = te.user_ids[te.users], te.item_ids[te.items]
    for prob in (0.5, 0.9):
        iv = fitted.predict_interval(ids_u, ids_i, prob)
        cover = np.mean((te.ratings >= iv[:, 0]) & (te.ratings <= iv[:, 1]))
        assert abs(cover - prob) < 0.06, (prob, cover)


def test_mixture_interval_matches_monte_carlo(fitted):
    """Bank.interval is the exact mixture quantile: compare with many mixture draws."""
    bank = fitted.bank_
    u, i = np.array([0, 3]), np.array([1, 2])
    iv = bank.interval(u, i, 0.8)
    m, w = bank.components(u, i)
    sd = np.sqrt(w + (1 / bank.alpha)[:, None])
    rng = np.random.default_rng(0)
    comp = rng.integers(bank.n_draws, size=200000)
    for c in range(2):
        y = rng.normal(m[comp, c], sd[comp, c])
        np.testing.assert_allclose(iv[c], np.quantile(y, [0.1, 0.9]), atol=0.01)


def test_unknown_user_is_integrated_over_its_prior(fitted):
    """Component mean/variance for a new user equal Monte Carlo over u ~ N(mu_U, Lambda_U^-1)."""
    bank = fitted.bank_
    m, w = bank.components(np.array([-1]), np.array([5]))
    s, k = 0, bank.rank
    rng = np.random.default_rng(1)
    u = rng.multivariate_normal(bank.mu_u[s], np.linalg.inv(bank.lam_u[s]), size=200000)
    b = rng.normal(0, 1 / np.sqrt(bank.tau_b[s]), 200000)
    y = bank.offset + u @ bank.xv[s, 5, :k] + b + bank.xv[s, 5, k]
    assert m[s, 0] == pytest.approx(y.mean(), abs=4 * y.std() / np.sqrt(len(y)))
    assert w[s, 0] == pytest.approx(y.var(), rel=0.02)
    # both unknown: exact variance of mu_U.mu_V-centred product of independent Gaussians
    m2, w2 = bank.components(np.array([-1]), np.array([-1]))
    v = rng.multivariate_normal(bank.mu_v[s], np.linalg.inv(bank.lam_v[s]), size=200000)
    c = rng.normal(0, 1 / np.sqrt(bank.tau_c[s]), 200000)
    y2 = np.einsum("nk,nk->n", u, v) + b + c
    assert w2[s, 0] == pytest.approx(y2.var(), rel=0.03)
    # the public API falls back without raising
    p, sd = fitted.predict(["nobody", 1], [1, "nothing"], return_std=True)
    assert np.isfinite(p).all() and (sd > 0).all()


def test_predict_std_and_noise(split, fitted):
    tr, te = split
    ids_u, ids_i = te.user_ids[te.users[:50]], te.item_ids[te.items[:50]]
    p, sd = fitted.predict(ids_u, ids_i, return_std=True)
    _, sd_noise = fitted.predict(ids_u, ids_i, return_std=True, noise=True)
    np.testing.assert_allclose(p, fitted.predict(ids_u, ids_i))
    assert (sd > 0).all() and (sd_noise > sd).all()
    np.testing.assert_allclose(sd_noise ** 2 - sd ** 2, np.mean(1 / fitted.bank_.alpha))


def test_recommend_strategies(split, fitted):
    tr, _ = split
    user = tr.user_ids[0]
    seen = set(tr.item_ids[tr.items[tr.users == 0]])
    mean = fitted.recommend(user, k=5)
    assert len(mean) == 5 and not seen & set(mean["item"])
    t1 = fitted.recommend(user, k=5, strategy="thompson", random_state=3)
    t2 = fitted.recommend(user, k=5, strategy="thompson", random_state=3)
    assert t1.equals(t2)
    lb = fitted.recommend(user, k=5, strategy="lower_bound", prob=0.95)
    scores = fitted.bank_.score_moments(np.array([0]))
    best = np.argmax(np.where(np.isin(tr.item_ids, list(seen)), -np.inf,
                              scores[0][0] - stats.norm.ppf(0.95) * scores[1][0]))
    assert lb["item"].iloc[0] == tr.item_ids[best]
    with pytest.raises(ValueError, match="strategy"):
        fitted.recommend(user, strategy="greedy")


def test_posterior_datatree(split, fitted):
    tr, te = split
    dt = fitted.posterior
    assert dt["posterior"]["alpha"].dims == ("chain", "draw")
    assert dt["posterior"]["alpha"].shape == (2, 120)
    assert dt["posterior"]["test_pred"].dims == ("chain", "draw", "eval_cell")
    diag = fitted.diagnostics()
    assert {"r_hat", "ess_bulk", "mcse_mean"} <= set(diag.columns)
    assert "U_norm" in diag.index and "test_rmse" in diag.index


def test_keep_factors_labels_users_and_items(split):
    tr, _ = split
    m = BPMF(rank=2, n_samples=4, burn_in=2, n_chains=2, keep_factors=True,
             random_state=0).fit(tr)
    u = m.posterior["posterior"]["U"]
    assert u.dims == ("chain", "draw", "user", "latent") and u.shape == (2, 4, tr.n_users, 2)
    np.testing.assert_array_equal(u["user"].values, tr.user_ids)
    assert m.posterior["posterior"]["c"].dims == ("chain", "draw", "item")
    # the stored last draw of chain 1 is that chain's final state
    np.testing.assert_allclose(u.values[1, -1], m.final_states_[1].xu[:, :2])


def test_plain_pmf_and_paper_model_run(split):
    tr, te = split
    for kw in (dict(biases=False), dict(hyperprior=False, biases=False, alpha=2.0)):
        m = BPMF(rank=3, n_samples=30, burn_in=30, n_chains=1, random_state=0, **kw).fit(tr)
        # no biases to absorb the true ones (sd 0.4, 0.5): worse than the full model, but far
        # better than the item-mean baseline (0.99); short run (30 + 30 sweeps)
        assert rmse(te.ratings, m.predict_ratings(te)) < 0.88


# ---------------------------------------------------------------- chains and checkpoints
def test_same_seed_same_draws_and_parallel_equals_serial(split):
    tr, te = split
    kw = dict(rank=2, n_samples=5, burn_in=3, thin=2, n_chains=2, alpha="sample",
              random_state=7)
    a = BPMF(**kw).fit(tr, eval_set=te)
    b = BPMF(**kw).fit(tr, eval_set=te)
    c = BPMF(n_jobs=2, **kw).fit(tr, eval_set=te)
    for name in a.traces_:
        np.testing.assert_array_equal(a.traces_[name], b.traces_[name])
        np.testing.assert_array_equal(a.traces_[name], c.traces_[name])
    np.testing.assert_array_equal(a.bank_.xu, c.bank_.xu)
    assert not np.array_equal(a.traces_["alpha"][0], a.traces_["alpha"][1])
    d = BPMF(**(kw | dict(random_state=8))).fit(tr, eval_set=te)
    assert not np.array_equal(a.traces_["alpha"], d.traces_["alpha"])


def test_checkpoint_resume_is_exact(split, tmp_path, monkeypatch):
    tr, te = split
    kw = dict(rank=2, n_samples=12, burn_in=5, thin=2, n_chains=2, alpha="sample",
              random_state=3, checkpoint_every=4)
    ref = BPMF(**kw).fit(tr, eval_set=te)
    calls = {"n": 0}
    step = bpmf_sampler.BPMFSampler.step

    def crashing(self, state, rng):
        calls["n"] += 1
        if calls["n"] == 40:          # chain 1, sweep 11 (chain 0 has 29 sweeps)
            raise KeyboardInterrupt
        return step(self, state, rng)

    monkeypatch.setattr(bpmf_sampler.BPMFSampler, "step", crashing)
    with pytest.raises(KeyboardInterrupt):
        BPMF(checkpoint_dir=tmp_path, **kw).fit(tr, eval_set=te)
    monkeypatch.setattr(bpmf_sampler.BPMFSampler, "step", step)
    from bayesrec.inference.checkpoint import read_checkpoint
    assert read_checkpoint(tmp_path / "chain1.npz")[1]["sweep"] == 8   # lost <= checkpoint_every
    res = BPMF(checkpoint_dir=tmp_path, **kw).fit(tr, eval_set=te)
    for name in ref.traces_:
        np.testing.assert_array_equal(ref.traces_[name], res.traces_[name])
    np.testing.assert_array_equal(ref.eval_mean_, res.eval_mean_)
    np.testing.assert_array_equal(ref.bank_.xv, res.bank_.xv)
    # a checkpoint from another run is refused
    with pytest.raises(ValueError, match="checkpoint"):
        BPMF(checkpoint_dir=tmp_path, **(kw | dict(rank=3))).fit(tr, eval_set=te)


@pytest.mark.parametrize("bad", [dict(rank=0), dict(alpha="often"), dict(alpha=-1.0),
                                 dict(thin=0), dict(n_samples=1.5), dict(biases="yes"),
                                 dict(nu0=0.5), dict(bias_prior=(1.0,)), dict(backend="cuda"),
                                 dict(n_chains=0)])
def test_bad_hyperparameters_raise(split, bad):
    with pytest.raises(ValueError):
        BPMF(**({"n_samples": 2, "burn_in": 1} | bad)).fit(split[0])
