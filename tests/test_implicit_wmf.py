"""Weighted MF of implicit feedback: ImplicitBPMF conditionals and ImplicitALS against dense
references over ALL cells (written here), the estimators' behaviour on real data."""

import numpy as np
import pandas as pd
import pytest

from bayesrec.data import Ratings, movielens_small, random_split, synthetic_ratings
from bayesrec.factorization import ImplicitALS, ImplicitBPMF
from bayesrec.factorization.bpmf._linalg import draw_rows
from bayesrec.factorization.implicit.wmf._data import WMFData
from bayesrec.factorization.implicit.wmf._sweep import (
    draw_side,
    make_prior,
    side_stats,
    weighted_sse,
)
from bayesrec.inference.normal_wishart import NormalWishart
from bayesrec.metrics import evaluate_topk
from bayesrec.popularity import MostPopular

K = 3


@pytest.fixture(scope="module")
def counts():
    """Implicit counts with zeros (not interactions), a user whose only count is 0 and an
    item nobody interacted with."""
    rng = np.random.default_rng(3)
    n_u, n_i = 9, 7
    cells = [(u, i) for u in range(n_u - 1) for i in range(n_i - 1) if rng.random() < 0.45]
    cells.append((n_u - 1, 0))                                  # user 8: one zero count
    users, items = map(np.array, zip(*cells))
    y = rng.integers(0, 6, len(users)).astype(float)
    y[-1] = 0.0
    df = pd.DataFrame({"u": users, "i": items, "y": y})
    df = pd.concat([df, pd.DataFrame({"u": [0], "i": [n_i - 1], "y": [0.0]})])  # item 6: 0
    return Ratings.from_frame(df, user_col="u", item_col="i", rating_col="y", implicit=True)


def _dense(r: Ratings, confidence: float):
    y = np.zeros(r.shape)
    y[r.users, r.items] = r.ratings
    return (y > 0).astype(float), 1.0 + confidence * y


def _unpack(packed, d):
    iu = np.triu_indices(d)
    m = np.zeros((d, d))
    m[iu] = packed
    return m + np.triu(m, 1).T


def _point(counts, active, alpha):
    """Fixed factors (users outside ``active`` at 0), a non-diagonal ``Lambda``, ``mu`` and the
    prior with ``alpha`` fixed: the point at which the conditionals are compared."""
    rng = np.random.default_rng(0)
    U = np.zeros((counts.n_users, K))
    U[active] = rng.normal(size=(len(active), K))
    V = rng.normal(size=(counts.n_items, K))
    lam = np.array([[2.0, 0.3, 0.0], [0.3, 1.5, 0.2], [0.0, 0.2, 1.0]])
    mu = np.array([0.1, -0.2, 0.3])
    prior = make_prior(K, NormalWishart(np.zeros(K), 2.0, K, np.eye(K)), 1.0, alpha, (1, 1))
    return U, V, lam, mu, prior


@pytest.mark.parametrize("kernel", ["outer table", "direct"])
@pytest.mark.parametrize("side", ["user", "item"])
def test_conditional_equals_dense_computation_over_all_cells(counts, side, kernel,
                                                             monkeypatch):
    from bayesrec.factorization.implicit.wmf import _sweep
    if kernel == "direct":
        monkeypatch.setattr(_sweep, "OUTER_TABLE_MAX_BYTES", 0)
    conf, alpha = 2.5, 1.7
    data = WMFData.from_ratings(counts, conf)
    pref, c = _dense(counts, conf)
    active = np.flatnonzero((pref > 0).any(1))
    assert counts.n_users - 1 not in active       # the zero-count-only user is no cell
    U, V, lam, mu, prior = _point(counts, active, alpha)
    if side == "user":
        stats = side_stats(*data.user_side(), V)
        rows, other, P, C = active, V, pref[active], c[active]
    else:
        stats = side_stats(*data.item_side(), U)
        rows, other, P, C = np.arange(counts.n_items), U, pref[:, :].T, c.T
        P, C = P[:, active], C[:, active]      # cells: active users x items
        other = U[active]
    gram, g, _, base = stats
    mean_code, _, _ = draw_side(data.user_side() if side == "user" else data.item_side(),
                                V if side == "user" else U, mu, lam, prior, alpha, None,
                                mode=True)
    for r in range(len(rows)):
        # brute force over every cell of the row: V^T C_u V and V^T C_u p_u
        prec_ref = lam + alpha * (other.T * C[r]) @ other
        h_ref = lam @ mu + alpha * (other.T * C[r]) @ P[r]
        prec = lam + alpha * (base + _unpack(gram[r], K))
        np.testing.assert_allclose(prec, prec_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(lam @ mu + alpha * g[r], h_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(mean_code[r], np.linalg.solve(prec_ref, h_ref), rtol=1e-10,
                                   atol=1e-10)
    # the weighted loss over all cells (active users x items)
    sse_ref = np.sum(c[active] * (pref[active] - U[active] @ V.T) ** 2)
    assert weighted_sse(data, U, V) == pytest.approx(sse_ref, rel=1e-10)


def test_draws_have_the_conditional_mean_and_covariance(counts):
    """Many draws of one user's row: mean and covariance match P^-1 h and P^-1 (dense).

    Power: 20,000 draws give a standard error of the mean of ~0.7% of a posterior sd, so the
    2%-of-sd tolerance below catches a 5% error in the mean; the covariance is checked to
    5% relative (its sampling error is ~1%)."""
    conf, alpha = 1.0, 3.0
    data = WMFData.from_ratings(counts, conf)
    pref, c = _dense(counts, conf)
    rng = np.random.default_rng(1)
    V = rng.normal(size=(counts.n_items, K))
    lam, mu = 1.5 * np.eye(K), np.full(K, 0.2)
    u = 0
    prec = lam + alpha * (V.T * c[u]) @ V
    mean = np.linalg.solve(prec, lam @ mu + alpha * (V.T * c[u]) @ pref[u])
    cov = np.linalg.inv(prec)
    # the draw path of draw_side (its stats, then the batched Cholesky draws), 20,000 times
    gram, g, t2, base = side_stats(*data.user_side(), V)
    n = 20000
    draws = draw_rows(np.repeat(gram[:1], n, 0), np.repeat(g[:1], n, 0),
                      np.repeat(t2[:1], n, 0), lam + alpha * base, lam @ mu, alpha, rng)[0]
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(draws.mean(0) - mean) < 0.02 * sd)
    np.testing.assert_allclose(np.cov(draws.T), cov, rtol=0.05, atol=0.05 * sd.max() ** 2)


def _dense_als(pref, c, V, reg, n_iter, active):
    """Reference implicit ALS: per row a dense solve over every cell (Hu et al. eq. 4)."""
    U = np.zeros((pref.shape[0], V.shape[1]))
    for _ in range(n_iter):
        for u in active:
            A = (V.T * c[u]) @ V + reg * np.eye(V.shape[1])
            U[u] = np.linalg.solve(A, (V.T * c[u]) @ pref[u])
        Ua = U[active]
        for i in range(pref.shape[1]):
            A = (Ua.T * c[active, i]) @ Ua + reg * np.eye(V.shape[1])
            V[i] = np.linalg.solve(A, (Ua.T * c[active, i]) @ pref[active, i])
    return U, V


def _als_start(counts, conf, seed=5):
    """ImplicitALS's documented initialisation (``random_state=seed``): the active users'
    rows, then the items', N(0, init_scale^2); returns the data and the items' rows."""
    data = WMFData.from_ratings(counts, conf)
    rng = np.random.default_rng(seed)
    rng.standard_normal((data.n_active, K))
    return data, 0.1 * rng.standard_normal((counts.n_items, K))


def test_implicit_als_equals_dense_reference_solves(counts):
    reg, conf = 0.7, 3.0
    model = ImplicitALS(rank=K, reg=reg, confidence=conf, activity_exponent=0.0, n_iter=6,
                        tol=0.0, random_state=5).fit(counts)
    data, V0 = _als_start(counts, conf)
    pref, c = _dense(counts, conf)
    U_ref, V_ref = _dense_als(pref, c, V0, reg, 6, data.active_users)
    np.testing.assert_allclose(model.user_factors_, U_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(model.item_factors_, V_ref, rtol=1e-9, atol=1e-11)
    loss = model.history_["loss"].to_numpy()
    assert np.all(np.diff(loss) <= 1e-9 * loss[:-1])           # J never increases
    ref_loss = np.sum(c[data.active_users] * (pref[data.active_users] - U_ref[
        data.active_users] @ V_ref.T) ** 2) + reg * (np.sum(U_ref ** 2) + np.sum(V_ref ** 2))
    assert loss[-1] == pytest.approx(ref_loss, rel=1e-9)
    # tol stops early; the scores are u . v
    early = ImplicitALS(rank=K, reg=reg, confidence=conf, activity_exponent=0.0, n_iter=200,
                        tol=1e-3, random_state=5).fit(counts)
    assert early.n_iter_ < 200
    np.testing.assert_allclose(early._score_users(np.array([0, 1])),
                               early.user_factors_[[0, 1]] @ early.item_factors_.T)


@pytest.fixture(scope="module")
def ml_split():
    r = movielens_small().most_active(300, 2000)
    return random_split(r, test_size=0.2, rng=0)


def test_implicit_models_beat_popularity_on_movielens(ml_split):
    """Who-rated-what is most of the signal: both weighted-MF models rank held-out liked
    movies far better than MostPopular (NDCG@10 about 0.16 there)."""
    train, test = ml_split
    pop = evaluate_topk(MostPopular().fit(train), train, test)["ndcg@10"]
    als = ImplicitALS(rank=8, n_iter=8, random_state=0).fit(train)
    bay = ImplicitBPMF(rank=8, alpha="sample", n_samples=10, burn_in=15, n_chains=1,
                       n_predictive_draws=5, verbose=False, random_state=0).fit(train,
                                                                                eval_set=test)
    res_als = evaluate_topk(als, train, test)
    res_bay = evaluate_topk(bay, train, test)
    res_ts = evaluate_topk(bay, train, test, strategy="thompson", random_state=0)
    assert res_als["ndcg@10"] > 1.3 * pop
    assert res_bay["ndcg@10"] > 1.3 * pop
    assert res_ts["coverage"] > res_bay["coverage"]      # Thompson lists explore more
    # posterior: rotation-invariant traces with ArviZ diagnostics
    post = bay.posterior
    assert set(post["posterior"].data_vars) >= {"train_loss", "alpha", "U_norm", "score"}
    assert post["posterior"]["score"].dims == ("chain", "draw", "cell")
    diag = bay.diagnostics()
    assert {"ess_bulk", "r_hat"} <= set(diag.columns)
    # alpha | S ~ Gamma(1 + n_cells / 2, 1 + S / 2): about one over the loss per cell
    alpha = float(post["posterior"]["alpha"].mean())
    assert alpha * float(post["posterior"]["train_loss"].mean()) == pytest.approx(1, rel=0.02)
    assert alpha > 2


def test_recommend_strategies_fallback_and_similar_items(counts):
    m = ImplicitBPMF(rank=2, n_samples=6, burn_in=4, n_chains=2, n_predictive_draws=4,
                     verbose=False, random_state=1).fit(counts)
    assert m.bank_user_factors_.shape == (4, counts.n_users, 2)
    users = np.arange(counts.n_users - 1)
    bu, bv = m.bank_user_factors_, m.bank_item_factors_
    scores = np.einsum("suk,sik->sui", bu[:, users], bv)
    np.testing.assert_allclose(m._score_users(users), scores.mean(0), rtol=1e-12)
    lb = m._score_users(users, strategy="lower_bound", prob=0.8)
    from scipy.stats import norm
    np.testing.assert_allclose(lb, scores.mean(0) - norm.ppf(0.8) * scores.std(0),
                               rtol=1e-9, atol=1e-12)
    ts = m._score_users(users, strategy="thompson", random_state=3)
    for row, u in enumerate(users):           # each user's row is one of the bank's draws
        assert min(np.abs(ts[row] - scores[s, u]).max() for s in range(4)) < 1e-12
    a = m.recommend(counts.user_ids[0], k=3, strategy="thompson", random_state=4)
    b = m.recommend(counts.user_ids[0], k=3, strategy="thompson", random_state=4)
    pd.testing.assert_frame_equal(a, b)
    # unknown user and the zero-count-only user: popularity fallback, not an error
    for who in ("nobody", counts.user_ids[-1]):
        rec = m.recommend(who, k=3)
        assert len(rec) == 3
    with pytest.raises(ValueError, match="strategy"):
        m.recommend(counts.user_ids[0], strategy="best")
    sim = m.similar_items(counts.item_ids[0], k=3)
    assert len(sim) == 3 and counts.item_ids[0] not in sim["item"].to_numpy()
    # the embeddings' inner products are the items' score columns' over users, per draw
    e = m._item_embeddings()
    ref = sum(bv[s] @ bu[s].T @ bu[s] @ bv[s].T for s in range(4))
    np.testing.assert_allclose(e @ e.T, ref, rtol=1e-6, atol=1e-10)


def test_mean_scores_read_the_item_bank_in_place_and_after_a_round_trip(counts, tmp_path):
    import bayesrec
    from bayesrec.inference.draw_bank import side_by_side
    m = ImplicitBPMF(rank=2, n_samples=6, burn_in=4, n_chains=2, n_predictive_draws=4,
                     verbose=False, random_state=1).fit(counts)
    # a fresh fit lays the item draws out side by side: no copy of the bank per call
    assert np.shares_memory(side_by_side(m, "bank_item_factors_"), m.bank_item_factors_)
    users = np.arange(counts.n_users - 1)
    want = np.einsum("suk,sik->ui", m.bank_user_factors_[:, users], m.bank_item_factors_) / 4
    np.testing.assert_allclose(m._score_users(users), want, rtol=1e-12)
    m.save(tmp_path / "wmf")
    back = bayesrec.load(tmp_path / "wmf")
    np.testing.assert_array_equal(back.bank_item_factors_, m.bank_item_factors_)
    back.bank_item_factors_ = np.ascontiguousarray(back.bank_item_factors_)  # draws first
    np.testing.assert_allclose(back._score_users(users), want, rtol=1e-12)
    wide = side_by_side(back, "bank_item_factors_")
    assert wide is side_by_side(back, "bank_item_factors_")    # that layout: copied once


def test_explicit_ratings_are_one_interaction_per_pair():
    r = synthetic_ratings(40, 30, 400, rank=2, rng=2)[0]
    a = ImplicitALS(rank=2, n_iter=3, random_state=0).fit(r)
    b = ImplicitALS(rank=2, n_iter=3, random_state=0).fit(r.to_implicit())
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_bad_hyperparameters_raise():
    r = synthetic_ratings(20, 10, 80, rank=2, rng=2)[0]
    for bad in (dict(rank=0), dict(reg=-1.0), dict(confidence=-1.0), dict(n_iter=0)):
        with pytest.raises(ValueError):
            ImplicitALS(**bad).fit(r)
    for bad in (dict(alpha="fixed"), dict(alpha=-1.0), dict(alpha_prior=(1.0,)),
                dict(n_samples=0), dict(default_strategy="max")):
        with pytest.raises(ValueError):
            ImplicitBPMF(verbose=False, **bad).fit(r)
    zero = Ratings.from_arrays([1, 2], [1, 2], [0.0, 0.0], implicit=True)
    with pytest.raises(ValueError, match="no positive"):
        ImplicitALS().fit(zero)


def _activity(pref, gamma):
    """Reference activity weights a_u = (n_u / mean n)^-gamma over the users with a positive
    cell (0 for the others)."""
    n = (pref > 0).sum(1).astype(float)
    a = np.zeros(len(n))
    on = n > 0
    a[on] = (n[on] / n[on].mean()) ** -gamma
    return a


@pytest.mark.parametrize("kernel", ["outer table", "direct"])
def test_activity_weighted_conditionals_equal_dense_computation(counts, kernel, monkeypatch):
    """With activity weights every cell of user u has precision alpha a_u c_ui: both sides'
    conditional means, the draws (same normals, dense Cholesky) and the weighted loss equal a
    brute-force computation over all cells."""
    from bayesrec.factorization.implicit.wmf import _sweep
    if kernel == "direct":
        monkeypatch.setattr(_sweep, "OUTER_TABLE_MAX_BYTES", 0)
    conf, alpha, gamma = 2.5, 1.7, 0.7
    data = WMFData.from_ratings(counts, conf, activity_exponent=gamma)
    pref, c = _dense(counts, conf)
    a = _activity(pref, gamma)
    assert len(np.unique(a[a > 0])) > 2                   # the weights really differ
    ca = a[:, None] * c                                   # precision factors of every cell
    active = data.active_users
    U, V, lam, mu, prior = _point(counts, active, alpha)
    # the two steps exactly as the sweep calls them
    calls = {"user": ((data.user_side(), V), data.active_scale(), V, ca[active],
                      pref[active]),
             "item": (data.item_side_scaled(U), None, U[active], ca[active].T,
                      pref[active].T)}
    for args, scale, other, C, P in calls.values():
        mean_code = draw_side(*args, mu, lam, prior, alpha, None, mode=True,
                              row_scale=scale)[0]
        draw_code = draw_side(*args, mu, lam, prior, alpha, np.random.default_rng(4),
                              row_scale=scale)[0]
        z = np.random.default_rng(4).standard_normal(draw_code.shape)
        for r in range(len(C)):
            prec_ref = lam + alpha * (other.T * C[r]) @ other
            h_ref = lam @ mu + alpha * (other.T * C[r]) @ P[r]
            mean_ref = np.linalg.solve(prec_ref, h_ref)
            np.testing.assert_allclose(mean_code[r], mean_ref, rtol=1e-10, atol=1e-10)
            chol = np.linalg.cholesky(prec_ref)               # x = mean + L^-T z
            np.testing.assert_allclose(draw_code[r], mean_ref + np.linalg.solve(chol.T, z[r]),
                                       rtol=1e-9, atol=1e-10)
    sse_ref = np.sum(ca[active] * (pref[active] - U[active] @ V.T) ** 2)
    assert weighted_sse(data, U, V) == pytest.approx(sse_ref, rel=1e-10)
    # gamma = 0 is Hu et al.'s model: no weights at all
    assert WMFData.from_ratings(counts, conf, activity_exponent=0.0).active_scale() is None


def test_activity_weighted_als_equals_dense_reference_solves(counts):
    """ImplicitALS with activity weights = the dense reference ALS with weights a_u c_ui."""
    reg, conf, gamma = 0.7, 3.0, 0.5
    model = ImplicitALS(rank=K, reg=reg, confidence=conf, activity_exponent=gamma, n_iter=6,
                        tol=0.0, random_state=5).fit(counts)
    data, V0 = _als_start(counts, conf)
    pref, c = _dense(counts, conf)
    ca = _activity(pref, gamma)[:, None] * c
    U_ref, V_ref = _dense_als(pref, ca, V0, reg, 6, data.active_users)
    np.testing.assert_allclose(model.user_factors_, U_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(model.item_factors_, V_ref, rtol=1e-9, atol=1e-11)
    act = data.active_users
    ref_loss = np.sum(ca[act] * (pref[act] - U_ref[act] @ V_ref.T) ** 2) + reg * (
        np.sum(U_ref ** 2) + np.sum(V_ref ** 2))
    assert model.history_["loss"].to_numpy()[-1] == pytest.approx(ref_loss, rel=1e-9)
    with pytest.raises(ValueError, match="activity_exponent"):
        ImplicitALS(activity_exponent=-0.5).fit(counts)
    with pytest.raises(ValueError, match="activity_exponent"):
        ImplicitBPMF(activity_exponent=3.0, verbose=False).fit(counts)


class _FixedNormals:
    """Stands in for the Generator: hands out pre-drawn normals (the draws are then a known
    function of them)."""

    def __init__(self, z):
        self.z = z

    def standard_normal(self, shape):
        assert tuple(shape) == self.z.shape
        return self.z


@pytest.mark.parametrize("gamma", [0.0, 0.7, "first row heaviest"])
def test_coordinate_updates_equal_dense_single_site_conditionals(counts, gamma):
    """The single-site sampler (``sampler="coordinate"``): one pass over a row's coordinates,
    in order, each ``x_k ~ N((h_k - sum_{j != k} P_kj x_j) / P_kk, 1 / P_kk)`` with ``P``, ``h``
    summed densely over every cell of the row (precision ``alpha a_u c_ui``), given the same
    normals; and the side's weighted squared error over all cells.  Weights: none, activity
    weights, and arbitrary weights whose largest is the first row's (the kernel treats equal
    weights specially)."""
    from bayesrec.factorization.implicit.wmf._coordinate import coordinate_side
    conf, alpha = 2.5, 1.7
    pref, c = _dense(counts, conf)
    if gamma == "first row heaviest":
        data = WMFData.from_ratings(counts, conf)
        a = np.zeros(counts.n_users)
        a[data.active_users] = np.linspace(3.0, 0.5, data.n_active)
        data.set_user_scale(a)
    else:
        data = WMFData.from_ratings(counts, conf, activity_exponent=gamma)
        a = _activity(pref, gamma) if gamma else (pref > 0).any(1).astype(float)
    ca = a[:, None] * c
    active = data.active_users
    U, V, lam, mu, prior = _point(counts, active, alpha)
    x_start = {"user": U[active] + 0.3, "item": V - 0.2}
    calls = {"user": ((data.user_side(), V), data.active_scale(), V, ca[active], pref[active]),
             "item": (data.item_side_scaled(U), None, U[active], ca[active].T,
                      pref[active].T)}
    for name, ((side, other), scale, dense_other, C, P) in calls.items():
        x0 = x_start[name]
        x_keep = x0.copy()
        z = np.random.default_rng(8).standard_normal(x0.shape)
        got, sse = coordinate_side(side, other, x0, mu, lam, prior, alpha, _FixedNormals(z),
                                   row_scale=scale)
        got_mode, _ = coordinate_side(side, other, x0, mu, lam, prior, alpha, None, mode=True,
                                      row_scale=scale)
        ref = x0.copy()
        ref_mode = x0.copy()
        for r in range(len(C)):
            prec = lam + alpha * (dense_other.T * C[r]) @ dense_other
            h = lam @ mu + alpha * (dense_other.T * C[r]) @ P[r]
            for k in range(K):
                for x, noise in ((ref, z[r, k]), (ref_mode, 0.0)):
                    rest = prec[k] @ x[r] - prec[k, k] * x[r, k]
                    x[r, k] = (h[k] - rest) / prec[k, k] + noise / np.sqrt(prec[k, k])
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got_mode, ref_mode, rtol=1e-10, atol=1e-10)
        sse_ref = np.sum(C * (P - got @ dense_other.T) ** 2)
        assert sse == pytest.approx(sse_ref, rel=1e-10)
        np.testing.assert_array_equal(x0, x_keep)            # the input is not modified


def test_coordinate_ascent_converges_to_the_block_conditional_mean(counts):
    """Repeated coordinate passes in ``mode`` are Gauss-Seidel on ``P x = h``: they reach the
    blocked sampler's conditional mean (dense solve) for every row."""
    from bayesrec.factorization.implicit.wmf._coordinate import coordinate_side
    conf, alpha = 2.5, 1.7
    data = WMFData.from_ratings(counts, conf, activity_exponent=0.7)
    active = data.active_users
    U, V, lam, mu, prior = _point(counts, active, alpha)
    block = draw_side(data.user_side(), V, mu, lam, prior, alpha, None, mode=True,
                      row_scale=data.active_scale())[0]
    x = np.zeros((len(active), K))
    for _ in range(400):
        x, _ = coordinate_side(data.user_side(), V, x, mu, lam, prior, alpha, None, mode=True,
                               row_scale=data.active_scale())
    np.testing.assert_allclose(x, block, rtol=1e-8, atol=1e-10)


def test_coordinate_side_same_numbers_serial_and_parallel(monkeypatch):
    """The row-parallel kernel (chunks of rows over threads) gives the serial numbers bit for
    bit: each row's arithmetic runs in one fixed order whatever the chunking."""
    from bayesrec.factorization.implicit.wmf import _coordinate
    r, _ = synthetic_ratings(n_users=300, n_items=200, n_ratings=6000, rank=3, rng=0)
    data = WMFData.from_ratings(r, 2.0, activity_exponent=0.5)
    rng = np.random.default_rng(2)
    V = rng.normal(size=(r.n_items, 4))
    x0 = rng.normal(size=(data.n_active, 4))
    prior = make_prior(4, NormalWishart(np.zeros(4), 2.0, 4, np.eye(4)), 1.0, 15.0, (1, 1))
    lam, mu = 2.0 * np.eye(4), np.full(4, 0.1)
    args = (data.user_side(), V, x0, mu, lam, prior, 15.0)

    def run():
        return _coordinate.coordinate_side(*args, np.random.default_rng(5),
                                           row_scale=data.active_scale())
    serial = run()
    monkeypatch.setattr(_coordinate, "PARALLEL_MIN_CELLS", 0)
    parallel = run()
    np.testing.assert_array_equal(parallel[0], serial[0])
    assert parallel[1] == serial[1]


def _dense_weighted_sse(counts, conf, gamma, xu, xv):
    """``sum_{u active, i} a_u c_ui (p_ui - u_u . v_i)^2`` over every cell, densely."""
    pref, c = _dense(counts, conf)
    a = _activity(pref, gamma) if gamma else (pref > 0).any(1).astype(float)
    act = np.flatnonzero(a > 0)
    return float(np.sum(a[act, None] * c[act] * (pref[act] - xu[act] @ xv.T) ** 2))


@pytest.mark.parametrize("sampler", ["blocked", "coordinate"])
@pytest.mark.parametrize("gamma", [0.0, 0.7])
def test_sweep_reports_the_weighted_sse_of_the_state_it_returns(counts, sampler, gamma):
    """The SSE a sweep hands on (alpha's next conditional, the training loss) is the weighted
    squared error over all cells at the factors it returns (after the scale and GL(K) moves,
    which keep ``U V^T``), computed here densely."""
    from bayesrec.factorization.bpmf._sweep import State
    from bayesrec.factorization.implicit.wmf._sweep import sweep
    conf = 2.5
    data = WMFData.from_ratings(counts, conf, activity_exponent=gamma)
    U, V, lam, mu, prior = _point(counts, data.active_users, 1.7)
    st = State(U, V, 1.7, mu, lam, mu, lam, 1.0, 1.0,
               _dense_weighted_sse(counts, conf, gamma, U, V))
    rng = np.random.default_rng(6)
    for _ in range(3):
        st = sweep(st, data, prior, rng, sampler=sampler)
        assert st.sse == pytest.approx(_dense_weighted_sse(counts, conf, gamma, st.xu, st.xv),
                                       rel=1e-9)


@pytest.mark.parametrize("sampler", ["coordinate", "blocked"])
def test_alpha_and_user_hyperparameters_follow_their_conditionals(counts, sampler):
    """A sweep from a fixed state first draws ``alpha ~ Gamma(a + n / 2, b + S / 2)``, ``n``
    the cells of the likelihood (active users x items: the user with only a zero count is no
    cell) and ``S`` the weighted SSE, then ``(mu_U, Lambda_U)`` from the Normal-Wishart
    posterior given the *active* users' rows (the inactive user's row is 0 and outside the
    model).  1000 sweeps (the transformation moves off, so the draws are returned as drawn):
    ``alpha`` is KS-tested against its law, and the means of ``Lambda_U``'s entries and trace
    and of ``mu_U`` are z-tested (|z| < 4.5) against the closed forms ``E[Lambda] = nu_N W_N``
    (Wishart variances ``nu (W_ij^2 + W_ii W_jj)``) and ``E[mu] = mu_N``, with ``n``, ``S``,
    ``nu_N``, ``W_N``, ``mu_N`` computed here.

    Power (measured with these seeds): the correct draws give p = 0.77 and |z| < 0.9; against
    a law whose rate (or ``S``) is 5% off the same alpha draws give p < 1e-10, and against the
    law that counts the inactive user's cells p ~ 1e-57 (rejection at p < 1e-3); the mean of
    ``tr Lambda_U`` has a relative standard error of 1.0%, so a 5% error in it gives |z| ~ 5,
    and the posterior given the inactive user's zero row as well gives z = -8.6."""
    import dataclasses

    from scipy import stats

    from bayesrec.factorization.bpmf._sweep import State
    from bayesrec.factorization.implicit.wmf._sweep import sweep
    conf, gamma, a0, b0, beta0 = 2.5, 0.7, 2.0, 3.0, 2.0
    data = WMFData.from_ratings(counts, conf, activity_exponent=gamma)
    pref, _ = _dense(counts, conf)
    act = np.flatnonzero((pref > 0).any(1))
    n_cells = len(act) * counts.n_items
    assert len(act) < counts.n_users
    U, V, lam, mu, _ = _point(counts, data.active_users, 1.0)
    prior = dataclasses.replace(
        make_prior(K, NormalWishart(np.zeros(K), beta0, K, np.eye(K)), 1.0, None, (a0, b0)),
        rescale=False)
    sse = _dense_weighted_sse(counts, conf, gamma, U, V)
    rng = np.random.default_rng(7)
    n_draws = 1000
    alpha, lam_u, mu_u = np.empty(n_draws), np.empty((n_draws, K, K)), np.empty((n_draws, K))
    for j in range(n_draws):
        new = sweep(State(U, V, 1.0, mu, lam, mu, lam, 1.0, 1.0, sse), data, prior, rng,
                    sampler=sampler)
        alpha[j], lam_u[j], mu_u[j] = new.alpha, new.lam_u, new.mu_u
    law = stats.gamma(a0 + 0.5 * n_cells, scale=1.0 / (b0 + 0.5 * sse))
    assert stats.kstest(alpha, law.cdf).pvalue > 1e-3
    # Normal-Wishart posterior of the active rows (mu0 = 0, W0 = I, nu0 = K)
    x = U[act]
    n, xbar = len(x), x.mean(0)
    scatter = (x - xbar).T @ (x - xbar)
    w_n = np.linalg.inv(np.eye(K) + scatter + beta0 * n / (beta0 + n) * np.outer(xbar, xbar))
    nu_n = K + n
    e_lam = nu_n * w_n
    sd_lam = np.sqrt(nu_n * (w_n ** 2 + np.outer(np.diag(w_n), np.diag(w_n))))
    z = (lam_u.mean(0) - e_lam) / (sd_lam / np.sqrt(n_draws))
    assert np.all(np.abs(z) < 4.5), np.round(z, 2)
    tr = np.trace(lam_u, axis1=1, axis2=2)
    var_tr = 2.0 * nu_n * np.sum(w_n ** 2)        # Cov(L_ij, L_kl) = nu (W_ik W_jl + W_il W_jk)
    z_tr = (tr.mean() - np.trace(e_lam)) / np.sqrt(var_tr / n_draws)
    assert abs(z_tr) < 4.5, z_tr
    z_mu = (mu_u.mean(0) - n * xbar / (beta0 + n)) / (mu_u.std(0) / np.sqrt(n_draws))
    assert np.all(np.abs(z_mu) < 4.5), np.round(z_mu, 2)


def test_thompson_picks_one_bank_draw_per_user(counts):
    """Thompson scores: every row is one bank draw's ``u . v`` (computed here), picked per
    user: one user repeated 60 times in one call gets several different draws (all 60 on
    one draw, the behaviour of one pick per call, has probability 8^-59 with 8 draws)."""
    m = ImplicitBPMF(rank=2, n_samples=8, burn_in=4, n_chains=2, n_predictive_draws=8,
                     verbose=False, random_state=2).fit(counts)
    bu, bv = m.bank_user_factors_, m.bank_item_factors_
    assert len(bu) == 8
    per_draw = np.einsum("sk,sik->si", bu[:, 0], bv)
    got = m._score_users(np.zeros(60, dtype=np.int64), strategy="thompson", random_state=9)
    err = np.abs(got[:, None, :] - per_draw[None]).max(-1) / np.abs(per_draw).max()
    assert np.all(err.min(1) < 1e-12)
    assert len(set(err.argmin(1).tolist())) > 1


def test_each_chains_traces_belong_to_its_own_bank_draws(counts):
    """With two chains, the traced scores ``u . v`` at the tracked cells of chain ``c`` contain
    the scores of chain ``c``'s bank draws (computed here from the bank; the bank lists chain
    0's draws first), and not the other chain's: the posterior's chains are the real chains
    (a copy of one chain would make r_hat 1 whatever the mixing)."""
    m = ImplicitBPMF(rank=2, n_samples=6, burn_in=2, n_chains=2, n_predictive_draws=4,
                     n_tracked=6, verbose=False, random_state=3).fit(counts)
    tu, ti = m.tracked_users_, m.tracked_items_
    bu, bv = m.bank_user_factors_, m.bank_item_factors_
    traced = m.traces_["score"]                        # (chain, draw, cell)
    assert traced.shape == (2, 6, len(tu))
    for s in range(4):
        score = np.einsum("nk,nk->n", bu[s, tu], bv[s, ti])
        dist = np.abs(traced - score).max(-1).min(-1)   # per chain: the closest draw
        own = s // 2
        assert dist[own] < 1e-10 and dist[1 - own] > 1e-6, (s, dist)
    post = m.posterior["posterior"]
    np.testing.assert_array_equal(post["score"].values, traced)
