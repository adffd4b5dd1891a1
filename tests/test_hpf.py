"""HPF (hierarchical Poisson factorization): CAVI against a slow reference, ELBO monotonicity,
Gibbs against CAVI, the estimator's interface and its input checks.

The reference for one CAVI iteration and for the ELBO is written here with plain Python
loops over users, items and components and scipy's special functions, independently of the
library's vectorized code (which forms ``phi`` from shifted exponentials and never visits a
zero cell); agreement is required to 1e-10 relative.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import digamma

from bayesrec.data import Ratings, synthetic_ratings
from bayesrec.factorization import HPF
from bayesrec.factorization.implicit.hpf import _cavi, _kernels
from bayesrec.factorization.implicit.hpf._data import (
    HPFPrior,
    build_data,
    interaction_counts,
)

PRIOR = HPFPrior(3, 0.3, 0.3, 1.0, 0.3, 0.3, 1.0)


def _counts_ratings(n_users=7, n_items=6, seed=0, density=0.5):
    """Implicit ``Ratings`` of counts 0..3 on a random pattern (zeros stored too)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(n_items, size=n_users)] = True
    u, i = np.nonzero(mask)
    y = rng.integers(0, 4, size=len(u)).astype(float)
    y[0] = 2.0
    return Ratings(u.astype(np.int32), i.astype(np.int32), y, np.arange(n_users),
                   np.arange(n_items), implicit=True)


def _reference_elbo(st, Y, prior):
    """The ELBO at the variational parameters ``st`` with the optimal ``phi``."""
    return _reference_iteration(st, Y, prior, update=False)


def _reference_iteration(st, Y, prior, update=True):
    """One CAVI iteration and the ELBO of the state it starts from, by loops over cells.

    ``Y`` is the dense count matrix.  The ELBO keeps every term explicit (multinomial
    entropy included) instead of collapsing the phi terms to a log-sum-exp.
    """
    n_users, n_items = Y.shape
    K = prior.rank
    a, ap, bp, c, cp, dp = (prior.a, prior.a_prime, prior.b_prime, prior.c, prior.c_prime,
                            prior.d_prime)
    gs, gr, kr = st.gs.copy(), st.gr.copy(), st.kr.copy()
    ls, lr, tr = st.ls.copy(), st.lr.copy(), st.tr.copy()
    ks, ts = st.ks, st.ts

    def elog(s, r):
        return digamma(s) - math.log(r)

    # phi, for the nonzero cells only
    phi = {}
    for u in range(n_users):
        for i in range(n_items):
            if Y[u, i] > 0:
                logits = [elog(gs[u, k], gr[u, k]) + elog(ls[i, k], lr[i, k])
                          for k in range(K)]
                m = max(logits)
                w = [math.exp(x - m) for x in logits]
                phi[u, i] = [x / sum(w) for x in w]
    # ELBO at (phi, gs, gr, kr, ls, lr, tr)
    L = 0.0
    for u in range(n_users):
        for i in range(n_items):
            for k in range(K):
                L -= (gs[u, k] / gr[u, k]) * (ls[i, k] / lr[i, k])
            if Y[u, i] > 0:
                y = Y[u, i]
                L -= math.lgamma(y + 1)
                for k in range(K):
                    p = phi[u, i][k]
                    L += y * p * (elog(gs[u, k], gr[u, k]) + elog(ls[i, k], lr[i, k])
                                  - math.log(p))

    def gamma_elogp(shape0, e_log_rate, e_rate, s, r):
        # E[log Gamma(x; shape0, rate)] with x ~ Gamma(s, r), rate independent
        return (shape0 * e_log_rate - math.lgamma(shape0) + (shape0 - 1) * elog(s, r)
                - e_rate * s / r)

    def entropy(s, r):
        return s - math.log(r) + math.lgamma(s) + (1 - s) * digamma(s)

    for u in range(n_users):
        L += gamma_elogp(ap, math.log(ap / bp), ap / bp, ks, kr[u]) + entropy(ks, kr[u])
        for k in range(K):
            L += gamma_elogp(a, elog(ks, kr[u]), ks / kr[u], gs[u, k], gr[u, k])
            L += entropy(gs[u, k], gr[u, k])
    for i in range(n_items):
        L += gamma_elogp(cp, math.log(cp / dp), cp / dp, ts, tr[i]) + entropy(ts, tr[i])
        for k in range(K):
            L += gamma_elogp(c, elog(ts, tr[i]), ts / tr[i], ls[i, k], lr[i, k])
            L += entropy(ls[i, k], lr[i, k])
    if not update:
        return L
    # users
    for u in range(n_users):
        for k in range(K):
            gs[u, k] = a + sum(Y[u, i] * phi[u, i][k] for i in range(n_items) if Y[u, i] > 0)
            gr[u, k] = ks / kr[u] + sum(ls[i, k] / lr[i, k] for i in range(n_items))
        kr[u] = ap / bp + sum(gs[u, k] / gr[u, k] for k in range(K))
    # items (with the new user parameters)
    for i in range(n_items):
        for k in range(K):
            ls[i, k] = c + sum(Y[u, i] * phi[u, i][k] for u in range(n_users) if Y[u, i] > 0)
            lr[i, k] = ts / tr[i] + sum(gs[u, k] / gr[u, k] for u in range(n_users))
        tr[i] = cp / dp + sum(ls[i, k] / lr[i, k] for k in range(K))
    return L, dict(gs=gs, gr=gr, kr=kr, ls=ls, lr=lr, tr=tr)


@pytest.mark.parametrize("seed", [0, 1])
def test_one_cavi_iteration_matches_slow_reference(seed):
    r = _counts_ratings(seed=seed)
    data = build_data(r, interaction_counts(r, True))
    Y = np.zeros(r.shape)
    Y[r.users, r.items] = r.ratings
    st = _cavi.init_state(r.n_users, r.n_items, PRIOR, np.random.default_rng(seed), 1.0)
    for _ in range(2):  # move away from the initial point first
        _cavi.iterate(st, data, PRIOR)
    L_ref, new = _reference_iteration(st, Y, PRIOR)
    L = _cavi.iterate(st, data, PRIOR)
    assert L == pytest.approx(L_ref, rel=1e-10, abs=1e-10)
    for name, ref in new.items():
        np.testing.assert_allclose(getattr(st, name), ref, rtol=1e-10, atol=0)


def test_fit_loop_takes_the_reference_iterations():
    """The loop the estimator runs (``_cavi.run``) takes the steps of the slow reference
    iteration above (Fig. 3: the items' update sees the users' new parameters) from the same
    start, and its ELBO history is the reference ELBO of each iterate, to 1e-10."""
    import types
    prior = HPFPrior(2, 0.5, 0.8, 1.5, 0.3, 1.2, 0.7)
    r = _counts_ratings(seed=1)
    data = build_data(r, interaction_counts(r, True))
    Y = np.zeros(r.shape)
    Y[r.users, r.items] = r.ratings
    st = _cavi.init_state(r.n_users, r.n_items, prior, np.random.default_rng(5), 1.0)
    fitted, hist, _ = _cavi.run(data, prior, 4, 0.0, np.random.default_rng(5), 1.0)
    ref_hist = []
    for _ in range(4):
        L, new = _reference_iteration(st, Y, prior)
        ref_hist.append(L)
        st = types.SimpleNamespace(ks=st.ks, ts=st.ts, **new)
    ref_hist.append(_reference_elbo(st, Y, prior))
    np.testing.assert_allclose(hist, ref_hist, rtol=1e-10)
    for name in ("gs", "gr", "kr", "ls", "lr", "tr"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(st, name), rtol=1e-10,
                                   err_msg=name)


def test_cavi_converges_to_a_stationary_point_of_the_reference_elbo():
    """Every CAVI update is the exact maximizer of the ELBO in its block, so where the
    iterations stop moving the ELBO's gradient in *every* variational parameter is zero,
    the fixed shapes ``kappa^shp = a' + K a``, ``tau^shp = c' + K c`` included.  The gradient
    is taken here by central differences (step 1e-5 in log scale) of the slow reference ELBO
    written above, at the converged state of a prior with ``a != c``, ``a' != c'``.

    Power: the correct fit has |dL/dlog x| < 2e-9 for all 60 parameters; a shape of
    ``q(xi)`` of ``a' + a`` (the factor K dropped, which leaves every update's form and the
    ELBO's monotonicity intact) gives |dL/dlog kappa^shp| = 5.2, a shape 5% off 0.8."""
    import copy
    prior = HPFPrior(2, 0.5, 0.8, 1.5, 0.3, 1.2, 0.7)
    r = _counts_ratings(seed=2)
    data = build_data(r, interaction_counts(r, True))
    Y = np.zeros(r.shape)
    Y[r.users, r.items] = r.ratings
    st, hist, _ = _cavi.run(data, prior, 300, 0.0, np.random.default_rng(0), 1.0)
    h = 1e-5
    worst = {}
    for name in ("gs", "gr", "kr", "ls", "lr", "tr", "ks", "ts"):
        value = np.atleast_1d(np.asarray(getattr(st, name), dtype=float))
        grad = np.zeros(value.shape)
        for idx in np.ndindex(value.shape):
            ends = []
            for sign in (1.0, -1.0):
                moved = copy.deepcopy(st)
                x = value.copy()
                x[idx] *= np.exp(sign * h)
                setattr(moved, name, x if np.ndim(getattr(st, name)) else float(x[0]))
                ends.append(_reference_elbo(moved, Y, prior))
            grad[idx] = (ends[0] - ends[1]) / (2 * h)
        worst[name] = float(np.abs(grad).max())
    assert max(worst.values()) < 1e-6, worst
    assert st.ks == pytest.approx(prior.a_prime + 2 * prior.a, rel=1e-14)
    assert st.ts == pytest.approx(prior.c_prime + 2 * prior.c, rel=1e-14)


def test_gibbs_log_lik_is_the_poisson_log_likelihood_of_every_cell():
    """The recorded ``log_lik`` is ``sum_ui log Poisson(y_ui; theta_u . beta_i)`` over all
    cells (zeros included), against scipy on the dense matrix, for counts up to 3 (so that
    ``y`` in ``y log rate`` and ``log y!`` both matter); the other recorded quantities are
    sums of the factors, also checked densely."""
    from scipy import stats

    from bayesrec.factorization.implicit.hpf._gibbs import HPFGibbs
    r = _counts_ratings(seed=4, density=0.7)
    data = build_data(r, interaction_counts(r, True))
    Y = np.zeros(r.shape)
    Y[r.users, r.items] = r.ratings
    assert {2.0, 3.0} <= set(np.unique(Y))
    sampler = HPFGibbs(data, PRIOR, np.array([[0, 1], [3, 2]]), np.zeros(0, np.int64), False)
    rng = np.random.default_rng(3)
    state = sampler.init(rng)
    for _ in range(3):
        state = sampler.step(state, rng)
        rec = sampler.record(state)
        rate = state["theta"] @ state["beta"].T
        assert rec["log_lik"] == pytest.approx(stats.poisson.logpmf(Y, rate).sum(), rel=1e-11)
        assert rec["total_rate"] == pytest.approx(rate.sum(), rel=1e-12)
        np.testing.assert_allclose(rec["rate"], rate[[0, 3], [1, 2]], rtol=1e-12)
        assert rec["xi_mean"] == pytest.approx(state["xi"].mean(), rel=1e-12)
        assert rec["eta_mean"] == pytest.approx(state["eta"].mean(), rel=1e-12)
        assert rec["theta_sum"] == pytest.approx(state["theta"].sum(), rel=1e-12)
        assert rec["beta_sum"] == pytest.approx(state["beta"].sum(), rel=1e-12)


def test_parallel_and_serial_passes_agree(monkeypatch):
    """The parallel drivers give the serial drivers' numbers (same blocks, same order)."""
    r, _ = synthetic_ratings(60, 40, 900, rank=2, rng=1, with_timestamps=False)
    data = build_data(r, np.ones(len(r)))
    st = _cavi.init_state(r.n_users, r.n_items, PRIOR, np.random.default_rng(0), 1.0)
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_NNZ", 10**12)
    serial = _cavi.phi_step(st, data)[0]
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_NNZ", 0)
    parallel = _cavi.phi_step(st, data)[0]
    for s, p in zip(serial, parallel):
        np.testing.assert_allclose(p, s, rtol=1e-12)


@pytest.mark.parametrize("seed,prior", [
    (0, PRIOR),
    (1, HPFPrior(5, 1.0, 2.0, 0.5, 0.1, 0.3, 3.0)),
    (2, HPFPrior(2, 0.05, 0.3, 1.0, 2.0, 0.3, 1.0)),
])
def test_cavi_elbo_is_monotone(seed, prior):
    """Coordinate ascent never lowers the ELBO (each block update is an exact maximizer).

    Tolerance: a decrease larger than 1e-9 relative (float error of a sum of ~1e4 terms) fails;
    a deliberately wrong rate update below lowers it by far more.
    """
    r, _ = synthetic_ratings(80, 50, 1200, rank=2, rng=seed, with_timestamps=False)
    data = build_data(r, np.ones(len(r)))
    _, hist, _ = _cavi.run(data, prior, 60, 0.0, np.random.default_rng(seed), 1.0)
    assert len(hist) == 61
    steps = np.diff(hist)
    assert np.all(steps >= -1e-9 * np.abs(hist[1:])), steps.min()
    assert hist[-1] > hist[0]


def test_monotonicity_check_catches_a_wrong_update(monkeypatch):
    """The same check fails when the user rate update forgets the activity term."""
    r, _ = synthetic_ratings(80, 50, 1200, rank=2, rng=0, with_timestamps=False)
    data = build_data(r, np.ones(len(r)))

    def broken(state, prior, user_stat):
        state.gs = prior.a + user_stat
        state.gr = 0.5 * (state.ks / state.kr)[:, None] + (state.ls / state.lr).sum(0)[None, :]
        state.kr = prior.a_prime / prior.b_prime + (state.gs / state.gr).sum(1)

    monkeypatch.setattr(_cavi, "update_users", broken)
    _, hist, _ = _cavi.run(data, PRIOR, 60, 0.0, np.random.default_rng(0), 1.0)
    steps = np.diff(hist)
    assert np.any(steps < -1e-9 * np.abs(hist[1:]))


@pytest.mark.parametrize("c,p_shift", [(0.3, 0.0), (0.3, 1.0), (1.2, 0.0), (1.2, 1.0)])
def test_scale_move_draws_the_gig(c, p_shift):
    """``scale_draws`` samples ``s`` with density ∝ s^(p-1) exp(-A s - B/s): a KS test
    against scipy's ``geninvgauss`` (4000 draws per component; at this size the test rejects
    the same sampler with ``p`` off by one, the ``p_shift=1`` cases, at p ~ 1e-27), for
    ``p = n_users a - n_items c`` positive (``c = 0.3``: p = 1.8) and negative (``c = 1.2``:
    p = -1.8, the usual case on real data, with more items than users; the sampler finds the
    mode by another formula there)."""
    from scipy import stats

    from bayesrec.factorization.implicit.hpf._gibbs import scale_draws
    rng = np.random.default_rng(0)
    theta = rng.gamma(1.0, size=(6, 2))
    beta = rng.gamma(1.0, size=(4, 2))
    xi, eta = rng.gamma(2.0, size=6), rng.gamma(2.0, size=4)
    prior = HPFPrior(2, 0.5, 1.0, 1.0, c + p_shift / 4, 1.0, 1.0)
    s = np.array([scale_draws(theta, xi, beta, eta, prior, rng) for _ in range(4000)])
    p = 6 * 0.5 - 4 * c  # the exact law's index (prior.c shifted: p lower by p_shift)
    A, B = xi @ theta, eta @ beta
    for k in range(2):
        law = stats.geninvgauss(p, 2 * np.sqrt(A[k] * B[k]), scale=np.sqrt(B[k] / A[k]))
        pval = stats.kstest(s[:, k], law.cdf).pvalue
        assert (pval > 1e-3) if p_shift == 0 else (pval < 1e-6), pval


def test_scale_move_keeps_every_rate(monkeypatch):
    """The scale move ``(theta_.k, beta_.k) -> (s_k theta_.k, beta_.k / s_k)`` moves along the
    likelihood's flat direction: after a sweep every rate ``theta_u . beta_i`` equals the rate
    of the factors the move started from (captured here), and ``theta`` is the captured
    ``theta`` times the drawn ``s`` (to rounding)."""
    from bayesrec.factorization.implicit.hpf import _gibbs
    seen = {}
    real = _gibbs.scale_draws

    def spy(theta, xi, beta, eta, prior, rng):
        s = real(theta, xi, beta, eta, prior, rng)
        seen.update(theta=theta.copy(), beta=beta.copy(), s=s.copy())
        return s

    monkeypatch.setattr(_gibbs, "scale_draws", spy)
    r = _counts_ratings(seed=5)
    data = build_data(r, interaction_counts(r, True))
    sampler = _gibbs.HPFGibbs(data, PRIOR, np.zeros((1, 2), np.int64), np.zeros(0, np.int64),
                              False)
    rng = np.random.default_rng(2)
    state = sampler.init(rng)
    for _ in range(3):
        state = sampler.step(state, rng)
        assert np.ptp(np.log(seen["s"])) > 1e-3         # a real move, not the identity
        np.testing.assert_allclose(state["theta"] @ state["beta"].T,
                                   seen["theta"] @ seen["beta"].T, rtol=1e-12)
        np.testing.assert_allclose(state["theta"], seen["theta"] * seen["s"], rtol=1e-14)


# ---------------------------------------------------------------------- the estimator
@pytest.fixture(scope="module")
def blocks():
    """Two user groups x two item groups: group g's users interact with group g's items.

    60 users, 30 items; each user picks 6 of its group's 15 items with probabilities
    proportional to ``0.75^j`` (a clear popularity order inside each group).  Well
    determined at K = 2.
    """
    rng = np.random.default_rng(5)
    w = 0.75 ** np.arange(15)
    rows = []
    for u in range(60):
        g = u % 2
        for i in rng.choice(15, 6, replace=False, p=w / w.sum()):
            rows.append((u, i + 15 * g))
    df = pd.DataFrame(rows, columns=["userId", "movieId"])
    df["rating"] = 4.0
    return Ratings.from_frame(df)


def test_cavi_and_gibbs_agree_on_the_ranking(blocks):
    """Both methods rank every unseen same-group item with at least 4 interactions above every
    other-group item, and their
    mean scores order each user's unseen items alike (Spearman > 0.9 for every user, > 0.95
    on average; a ranking by popularity alone has Spearman < 0.7 with both)."""
    from scipy.stats import spearmanr
    cavi = HPF(rank=2, method="cavi", n_iter=500, tol=1e-10, random_state=0).fit(blocks)
    gibbs = HPF(rank=2, method="gibbs", n_samples=300, burn_in=300, n_chains=2,
                n_predictive_draws=100, random_state=0).fit(blocks)
    users = np.arange(blocks.n_users)
    seen = blocks.csr.toarray() > 0
    group = blocks.item_ids // 15
    for model in (cavi, gibbs):
        s = model._score_users(users)
        for u in users:
            own = (group == blocks.user_ids[u] % 2)
            sure = own & ~seen[u] & (blocks.item_counts >= 4)
            assert s[u, sure].min() > s[u, ~own].max()
    sc, sg = cavi._score_users(users), gibbs._score_users(users)
    rho = [spearmanr(sc[u, ~seen[u]], sg[u, ~seen[u]])[0] for u in users]
    assert min(rho) > 0.9 and np.mean(rho) > 0.95, (min(rho), np.mean(rho))
    pop = blocks.item_counts
    rho_pop = [spearmanr(sc[u, ~seen[u]], pop[~seen[u]])[0] for u in users]
    assert np.mean(rho_pop) < 0.7


def test_fit_recommend_posterior_cavi(blocks):
    m = HPF(rank=2, method="cavi", n_iter=50, n_samples=150, n_chains=2, n_tracked=5,
            random_state=1).fit(blocks)
    assert m.elbo_.ndim == 1 and len(m.elbo_) == m.n_iter_ + 1
    rec = m.recommend(blocks.user_ids[0], k=5)
    assert len(rec) == 5 and not set(rec["item"]) & set(
        blocks.item_ids[blocks.items[blocks.users == 0]])
    t1 = m.recommend(blocks.user_ids[0], k=5, strategy="thompson", random_state=3)
    t2 = m.recommend(blocks.user_ids[0], k=5, strategy="thompson", random_state=3)
    pd.testing.assert_frame_equal(t1, t2)
    post = m.posterior
    assert post["posterior"]["rate"].dims == ("chain", "draw", "pair")
    assert post["posterior"]["total_rate"].shape == (2, 150)
    assert post["factor_draws"]["theta"].dims == ("chain", "draw", "user", "latent")
    assert post["factor_draws"]["beta"].dims == ("chain", "draw", "item", "latent")
    # draws from q: their mean matches q's mean rate at the tracked pairs (closed form)
    u, i = m.tracked_[:, 0], m.tracked_[:, 1]
    exact = np.einsum("nk,nk->n", m.theta_shape_[u] / m.theta_rate_[u],
                      m.beta_shape_[i] / m.beta_rate_[i])
    draws = post["posterior"]["rate"].values.reshape(-1, len(u))
    se = draws.std(0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - exact) < 5 * se)
    # and so do the traced scalars (closed forms under the independent Gamma q's); with 300
    # draws their means have relative standard errors of 0.3-1.2% (measured), so 5 of them
    # catch a 5% error in each but eta_mean (6.2%); the popularity traced as the activity: z = 13
    e_t, e_b = m.theta_shape_ / m.theta_rate_, m.beta_shape_ / m.beta_rate_
    exact = {"theta_sum": e_t.sum(), "beta_sum": e_b.sum(),
             "total_rate": e_t.sum(0) @ e_b.sum(0),
             "xi_mean": np.mean(m.xi_shape_ / m.xi_rate_),
             "eta_mean": np.mean(m.eta_shape_ / m.eta_rate_)}
    for name, value in exact.items():
        d = post["posterior"][name].values.ravel()
        assert abs(d.mean() - value) < 5 * d.std() / np.sqrt(len(d)), name
    sim = m.similar_items(blocks.item_ids[0], k=5)
    assert (sim["item"] // 15 == blocks.item_ids[0] // 15).all()  # same item group


def test_cavi_stores_the_closed_form_shapes_of_q_xi_and_q_eta(blocks):
    """``q(xi_u)`` has shape ``a' + K a`` and ``q(eta_i)`` shape ``c' + K c`` (Fig. 3), for a
    prior where the two differ; the shapes of ``q(theta)`` and ``q(beta)`` are the prior shape
    plus each row's expected counts, which sum to the number of interactions."""
    m = HPF(rank=3, method="cavi", a=0.4, a_prime=0.9, c=0.2, c_prime=1.6, n_iter=20,
            random_state=0).fit(blocks)
    np.testing.assert_allclose(m.xi_shape_, 0.9 + 3 * 0.4, rtol=1e-14)
    np.testing.assert_allclose(m.eta_shape_, 1.6 + 3 * 0.2, rtol=1e-14)
    assert m.xi_shape_.shape == (blocks.n_users,) and m.eta_shape_.shape == (blocks.n_items,)
    assert (m.theta_shape_ - 0.4).sum() == pytest.approx(len(blocks), rel=1e-10)
    assert (m.beta_shape_ - 0.2).sum() == pytest.approx(len(blocks), rel=1e-10)


def test_cavi_similar_items_by_the_cosine_of_the_mean_item_factors(blocks):
    """CAVI's ``similar_items``: the items ranked by the cosine of ``E_q[beta_i] =
    lambda^shp_i / lambda^rte_i`` (computed here) with item ``i``, with those similarities."""
    m = HPF(rank=3, method="cavi", n_iter=50, random_state=2).fit(blocks)
    e_b = m.beta_shape_ / m.beta_rate_
    unit = e_b / np.linalg.norm(e_b, axis=1, keepdims=True)
    for i in (0, 7, 20):
        cos = unit @ unit[i]
        cos[i] = -np.inf
        best = np.argsort(-cos)[:6]
        got = m.similar_items(blocks.item_ids[i], k=6)
        np.testing.assert_array_equal(got["item"].to_numpy(), blocks.item_ids[best])
        np.testing.assert_allclose(got["similarity"].to_numpy(), cos[best], rtol=1e-12)


def test_cavi_thompson_scores_are_draws_from_q(blocks):
    """CAVI Thompson scores of one user, 4000 calls: each call's scores are
    ``theta_u . beta_i`` with ``theta_uk ~ Gamma(gs_uk, gr_uk)``, ``beta_ik ~ Gamma(ls_ik,
    lr_ik)`` independent, whose mean and variance are closed forms (written here).  Every
    item's sample mean must be within 4.5 standard errors of the exact mean, and on the
    items whose score has a coefficient of variation below 0.7 (the user's own group; the
    sampling error of a variance is 3-5% there) the sample variance within 20% of the exact.

    Power (measured with this seed): the correct draws give max |z| = 2.0; a 5% scale error
    in the draws of ``theta`` (or of ``beta``) gives |z| = 6.9 on the best-determined items
    (coefficient of variation 0.45: 4.5 standard errors are 3% of the mean); ``theta`` held
    at its mean (no user uncertainty) leaves 5-40% of the variance."""
    m = HPF(rank=2, method="cavi", n_iter=100, random_state=1).fit(blocks)
    u = 4
    gs, gr = m.theta_shape_[u], m.theta_rate_[u]
    ls, lr = m.beta_shape_, m.beta_rate_
    e_t, e_b = gs / gr, ls / lr
    e_t2, e_b2 = gs * (gs + 1) / gr ** 2, ls * (ls + 1) / lr ** 2
    mean = e_b @ e_t
    # the K terms are independent: Var = sum_k (E[t^2] E[b^2] - E[t]^2 E[b]^2)
    var = (e_b2 * e_t2 - (e_b * e_t) ** 2).sum(1)
    rng = np.random.default_rng(11)
    n = 4000
    draws = np.stack([m._score_users(np.array([u]), strategy="thompson", random_state=rng)[0]
                      for _ in range(n)])
    z = (draws.mean(0) - mean) / np.sqrt(var / n)
    assert np.all(np.abs(z) < 4.5), np.round(z, 2)
    sure = np.sqrt(var) / mean < 0.7
    assert sure.sum() >= 10
    np.testing.assert_allclose(draws.var(0)[sure], var[sure], rtol=0.2)


def test_gibbs_posterior_and_diagnostics(blocks):
    m = HPF(rank=2, method="gibbs", n_samples=100, burn_in=100, n_chains=2,
            keep_factors=True, random_state=2).fit(blocks)
    post = m.posterior["posterior"]
    assert post["theta"].dims == ("chain", "draw", "user", "latent")
    assert post["xi"].dims == ("chain", "draw", "user")
    diag = m.diagnostics()
    assert {"log_lik", "total_rate"} <= set(diag.index)
    assert diag.loc["total_rate", "r_hat"] < 1.05
    # kept draws give the same mean score as the traced rates at the tracked pairs
    u, i = m.tracked_[:, 0], m.tracked_[:, 1]
    s = m._score_users(np.unique(u))
    row = {v: k for k, v in enumerate(np.unique(u))}
    np.testing.assert_allclose(s[[row[x] for x in u], i],
                               post["rate"].mean(("chain", "draw")).values, rtol=1e-10)


def test_same_seed_same_numbers(blocks):
    for method in ("cavi", "gibbs"):
        kw = dict(rank=2, method=method, n_iter=20, n_samples=10, burn_in=5, n_chains=1)
        a = HPF(**kw, random_state=7).fit(blocks)._score_users(np.arange(5))
        b = HPF(**kw, random_state=7).fit(blocks)._score_users(np.arange(5))
        np.testing.assert_array_equal(a, b)


def test_gibbs_thompson_draws_one_kept_draw_per_user(blocks):
    """Gibbs Thompson scores: every row is the scores of one kept draw (checked against each
    draw's ``theta_u . beta_i`` computed here, to rounding), picked per user: the same user repeated
    60 times in one call gets several different draws (all 60 on one draw, the behaviour of
    one pick per call, has probability 8^-59 with 8 kept draws)."""
    m = HPF(rank=2, method="gibbs", n_samples=40, burn_in=20, n_chains=2,
            n_predictive_draws=8, random_state=5).fit(blocks)
    users = np.full(60, 3)
    got = m._score_users(users, strategy="thompson", random_state=9)
    per_draw = np.stack([m.theta_draws_[s, 3] @ m.beta_draws_[s].T
                         for s in range(len(m.theta_draws_))])
    err = np.abs(got[:, None, :] - per_draw[None]).max(-1) / np.abs(per_draw).max()
    which = err.argmin(1)
    assert np.all(err.min(1) < 1e-12)           # each row is one kept draw (to rounding)
    assert np.all(np.sort(err, 1)[:, 1] > 1e-6)  # and not another
    assert len(set(which.tolist())) > 1


def test_gibbs_mean_scores_average_the_kept_draws_read_in_place(blocks):
    """The posterior-mean scores equal the average over the kept draws of ``theta_u .
    beta_i`` (computed here draw by draw), and read the item draws without copying them."""
    from bayesrec.inference.draw_bank import side_by_side
    m = HPF(rank=2, method="gibbs", n_samples=20, burn_in=10, n_chains=2,
            n_predictive_draws=6, random_state=5).fit(blocks)
    users = np.arange(5)
    want = sum(m.theta_draws_[s, users] @ m.beta_draws_[s].T
               for s in range(len(m.theta_draws_))) / len(m.theta_draws_)
    np.testing.assert_allclose(m._score_users(users), want, rtol=1e-12)
    assert np.shares_memory(side_by_side(m, "beta_draws_"), m.beta_draws_)


@pytest.mark.parametrize("method", ["cavi", "gibbs"])
def test_only_the_product_of_b_prime_and_d_prime_matters(blocks, method):
    """``theta_uk = T / (b' X)`` and ``beta_ik = T' / (d' X')`` with parameter-free ``T, X``:
    ``(b', d') -> (4 b', d' / 4)`` leaves the law of every rate unchanged, and both methods
    are equivariant under it (same seed: the same scores up to rounding), while changing the
    product ``b' d'`` changes them.  The activity rate as the paper's appendix prints it,
    ``b' + sum_k theta_uk`` instead of ``a'/b' + ...``, breaks the equivariance (checked by
    hand: this test fails on it)."""
    kw = dict(rank=2, method=method, n_iter=30, tol=0.0, n_samples=20, burn_in=10,
              n_chains=1, n_predictive_draws=5, random_state=4)
    users = np.arange(blocks.n_users)
    base = HPF(**kw).fit(blocks)._score_users(users)
    moved = HPF(b_prime=4.0, d_prime=0.25, **kw).fit(blocks)._score_users(users)
    np.testing.assert_allclose(moved, base, rtol=1e-7)
    other = HPF(b_prime=4.0, **kw).fit(blocks)._score_users(users)
    assert np.max(np.abs(other / base - 1)) > 1e-3


def test_counts_are_used_when_asked():
    r = _counts_ratings(seed=3)
    ones = HPF(rank=2, method="cavi", n_iter=5, random_state=0).fit(r)
    cnt = HPF(rank=2, method="cavi", n_iter=5, counts=True, random_state=0).fit(r)
    # the shapes of q(theta) sum to a K n_users + sum of the counts used
    assert cnt.theta_shape_.sum() == pytest.approx(0.3 * 2 * r.n_users + r.ratings.sum())
    assert ones.theta_shape_.sum() == pytest.approx(0.3 * 2 * r.n_users + len(r))


def test_bad_input_raises():
    r = _counts_ratings(seed=0)
    explicit = Ratings(r.users, r.items, np.full(len(r), 4.0), r.user_ids, r.item_ids)
    with pytest.raises(ValueError, match="counts=True needs implicit"):
        HPF(counts=True).fit(explicit)
    neg = Ratings(r.users, r.items, np.where(np.arange(len(r)) == 2, -1.0, 1.0), r.user_ids,
                  r.item_ids, implicit=True)
    with pytest.raises(ValueError, match="row 2"):
        HPF(counts=True).fit(neg)
    with pytest.raises(ValueError, match="row 1"):  # refused when the Ratings is built
        Ratings(r.users, r.items, np.where(np.arange(len(r)) == 1, np.nan, 1.0), r.user_ids,
                r.item_ids, implicit=True)
    frac = Ratings(r.users, r.items, np.full(len(r), 0.5), r.user_ids, r.item_ids,
                   implicit=True)
    with pytest.raises(ValueError, match="integer"):
        HPF(counts=True, method="gibbs").fit(frac)
    zeros = Ratings(r.users, r.items, np.zeros(len(r)), r.user_ids, r.item_ids, implicit=True)
    with pytest.raises(ValueError, match="positive count"):
        HPF(counts=True).fit(zeros)
    for bad in ({"rank": 0}, {"a": -1.0}, {"d_prime": 0.0}, {"method": "em"},
                {"tol": -1.0}, {"counts": "yes"}):
        with pytest.raises(ValueError):
            HPF(**bad).fit(r)
    m = HPF(rank=2, method="cavi", n_iter=3).fit(r)
    with pytest.raises(ValueError, match="strategy"):
        m.recommend(0, strategy="ucb")


def test_gibbs_save_load_keeps_scores_and_posterior(blocks, tmp_path):
    import bayesrec
    m = HPF(rank=2, method="gibbs", n_samples=20, burn_in=10, n_chains=2, n_predictive_draws=4,
            random_state=4).fit(blocks)
    m.save(tmp_path / "hpf.zip")
    back = bayesrec.load(tmp_path / "hpf.zip")
    users = np.arange(blocks.n_users)
    np.testing.assert_array_equal(back._score_users(users), m._score_users(users))
    np.testing.assert_array_equal(back.posterior["posterior"]["log_lik"].values,
                                  m.posterior["posterior"]["log_lik"].values)
    np.testing.assert_array_equal(back.posterior["factor_draws"]["beta"].values,
                                  m.posterior["factor_draws"]["beta"].values)
    assert back.posterior["factor_draws"]["beta"].shape[:2] == (2, 2)
