"""ALS: recovery on known truth, monotone loss, course normal equations, biases-only baseline."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from bayesrec.data import Ratings, synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import ALS


@pytest.fixture(scope="module")
def synth():
    ratings, truth = synthetic_ratings(400, 250, 30_000, rank=3, noise=0.3, rng=1)
    train, test = random_split(ratings, 0.2, rng=2)
    return train, test, truth


@pytest.fixture(scope="module")
def tiny():
    ratings, _ = synthetic_ratings(60, 40, 700, rank=2, noise=0.5, rng=3)
    return ratings


def reference_als(r: Ratings, K, reg, n_iter, seed, init_scale=0.1):
    """The course's ALS written literally: a Python loop over users and items."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0.0, init_scale, (r.n_items, K))   # item factors u_j
    W = np.zeros((r.n_users, K))                     # user factors w_i
    b = np.zeros(r.n_users)
    c = np.zeros(r.n_items)
    mu = r.ratings.mean()
    by_user = [np.flatnonzero(r.users == i) for i in range(r.n_users)]
    by_item = [np.flatnonzero(r.items == j) for j in range(r.n_items)]
    for _ in range(n_iter):
        for i in range(r.n_users):
            rows = by_user[i]
            js = r.items[rows]
            A = U[js].T @ U[js] + reg * np.eye(K)
            rhs = ((r.ratings[rows] - b[i] - c[js] - mu)[:, None] * U[js]).sum(0)
            W[i] = np.linalg.solve(A, rhs)
        for i in range(r.n_users):
            rows = by_user[i]
            js = r.items[rows]
            b[i] = np.sum(r.ratings[rows] - U[js] @ W[i] - c[js] - mu) / (len(rows) + reg)
        for j in range(r.n_items):
            rows = by_item[j]
            is_ = r.users[rows]
            A = W[is_].T @ W[is_] + reg * np.eye(K)
            rhs = ((r.ratings[rows] - b[is_] - c[j] - mu)[:, None] * W[is_]).sum(0)
            U[j] = np.linalg.solve(A, rhs)
        for j in range(r.n_items):
            rows = by_item[j]
            is_ = r.users[rows]
            c[j] = np.sum(r.ratings[rows] - W[is_] @ U[j] - b[is_] - mu) / (len(rows) + reg)
    return W, U, b, c


def test_matches_course_normal_equations(tiny):
    """Every update equals a direct np.linalg.solve of the course's per-user equations."""
    K, reg = 3, 2.5
    W, U, b, c = reference_als(tiny, K, reg, n_iter=3, seed=7)
    m = ALS(rank=K, reg=reg, n_iter=3, random_state=7).fit(tiny)
    np.testing.assert_allclose(m.user_factors_, W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.item_factors_, U, rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.user_bias_, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.item_bias_, c, rtol=0, atol=1e-10)


def test_loss_never_increases(tiny, synth):
    for data, kw in ((tiny, dict(rank=4, reg=0.5)), (synth[0], dict(rank=5, reg=1.0))):
        h = ALS(n_iter=30, random_state=0, **kw).fit(data).history_
        loss = h["loss"].to_numpy()
        assert np.all(np.diff(loss) <= 1e-10 * loss[:-1]), np.diff(loss).max()
        # and it actually moves (not a constant sequence)
        assert loss[0] > loss[-1] * 1.001


def test_loss_is_the_course_objective(tiny):
    m = ALS(rank=3, reg=1.5, n_iter=4, random_state=0).fit(tiny)
    r = tiny
    err = (r.ratings - m.global_mean_ - m.user_bias_[r.users] - m.item_bias_[r.items]
           - np.sum(m.user_factors_[r.users] * m.item_factors_[r.items], axis=1))
    J = err @ err + 1.5 * (np.sum(m.user_factors_ ** 2) + np.sum(m.item_factors_ ** 2)
                           + m.user_bias_ @ m.user_bias_ + m.item_bias_ @ m.item_bias_)
    assert m.history_["loss"].iloc[-1] == pytest.approx(J, rel=1e-12)
    assert m.history_["train_rmse"].iloc[-1] == pytest.approx(np.sqrt(np.mean(err ** 2)),
                                                              rel=1e-12)


def test_biases_alone_reproduce_closed_form_baseline(tiny):
    """rank=0: the regularized baseline min sum (r - mu - b_i - c_j)^2 + reg(|b|^2 + |c|^2)."""
    reg = 5.0
    r = tiny
    n = len(r)
    A = sp.hstack([sp.csr_matrix((np.ones(n), (np.arange(n), r.users)), (n, r.n_users)),
                   sp.csr_matrix((np.ones(n), (np.arange(n), r.items)), (n, r.n_items))])
    A = A.tocsc()
    lhs = (A.T @ A + reg * sp.eye(r.n_users + r.n_items)).tocsc()
    x = spsolve(lhs, A.T @ (r.ratings - r.ratings.mean()))
    m = ALS(rank=0, reg=reg, n_iter=400, tol=0.0).fit(r)
    np.testing.assert_allclose(m.user_bias_, x[:r.n_users], atol=1e-9)
    np.testing.assert_allclose(m.item_bias_, x[r.n_users:], atol=1e-9)
    assert m.user_factors_.shape == (r.n_users, 0)


def test_recovers_held_out_truth(synth):
    train, test, truth = synth
    m = ALS(rank=3, reg=0.5, n_iter=30, random_state=0).fit(train, test)
    pred = m.predict_ratings(test)
    err_truth = np.sqrt(np.mean((pred - truth.mean(test.users, test.items)) ** 2))
    err_obs = np.sqrt(np.mean((pred - test.ratings) ** 2))
    assert err_truth < 0.5 * truth.noise          # estimation error well below the noise
    assert err_obs < 1.1 * truth.noise            # held-out RMSE at the noise floor
    assert m.history_["test_rmse"].iloc[-1] == pytest.approx(err_obs, rel=1e-12)
    # a baseline-only model cannot get there
    base = ALS(rank=0, reg=0.5, n_iter=30).fit(train)
    assert np.sqrt(np.mean((base.predict_ratings(test) - test.ratings) ** 2)) > 1.3 * err_obs


def test_fallback_and_recommend(tiny):
    m = ALS(rank=2, reg=1.0, n_iter=5, random_state=0).fit(tiny)
    item0 = tiny.item_ids[0]
    user0 = tiny.user_ids[0]
    pred = m.predict([-999, user0, -999], [item0, -999, -999])   # ids are ints 1..n
    assert pred[0] == pytest.approx(m.global_mean_ + m.item_bias_[0])
    assert pred[1] == pytest.approx(np.clip(m.global_mean_ + m.user_bias_[0],
                                            *(tiny.rating_scale or (-np.inf, np.inf))))
    assert pred[2] == pytest.approx(m.global_mean_)
    rec = m.recommend(user0, k=5)
    seen = set(tiny.item_ids[tiny.items[tiny.users == 0]])
    assert len(rec) == 5 and not seen & set(rec["item"])
    # scores from the fast path equal the per-pair predictions
    unclipped = m._predict_indices(np.zeros(len(rec), int), tiny.item_index(rec["item"]))
    np.testing.assert_allclose(rec["score"], unclipped, rtol=1e-12)


def test_deterministic_and_validated(tiny):
    a = ALS(rank=2, n_iter=3, random_state=11).fit(tiny)
    b = ALS(rank=2, n_iter=3, random_state=11).fit(tiny)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    for bad in (dict(rank=-1), dict(reg=0), dict(n_iter=0), dict(rank=2.5),
                dict(rank=0, biases=False)):
        with pytest.raises(ValueError):
            ALS(**bad).fit(tiny)


def test_row_blocked_solves_match_single_block(tiny, monkeypatch):
    """Large-K memory guard: solving in blocks of rows gives the same iterates."""
    import bayesrec.factorization._common as common
    one = ALS(rank=3, reg=2.0, n_iter=3, random_state=1).fit(tiny)
    monkeypatch.setattr(common, "_rows_per_block", lambda K: 7)
    blocked = ALS(rank=3, reg=2.0, n_iter=3, random_state=1).fit(tiny)
    np.testing.assert_allclose(blocked.user_factors_, one.user_factors_, atol=1e-12)
    np.testing.assert_allclose(blocked.item_factors_, one.item_factors_, atol=1e-12)
    np.testing.assert_allclose(blocked.item_bias_, one.item_bias_, atol=1e-12)


def test_default_stops_at_the_tolerance(tiny):
    """``tol``: the last sweep is the first whose relative decrease ``(J_prev - J) / J`` is at
    most ``tol``; every earlier one decreased more."""
    for tol in (1e-3, 1e-6):
        m = ALS(rank=2, reg=1.0, tol=tol, n_iter=500, random_state=0).fit(tiny)
        J = m.history_["loss"].to_numpy()
        rel = -np.diff(J) / J[1:]
        assert m.n_iter_ == len(J) < 500
        assert rel[-1] <= tol and np.all(rel[:-1] > tol)
    capped = ALS(rank=2, reg=1.0, tol=1e-12, n_iter=3, random_state=0).fit(tiny)
    assert capped.n_iter_ == 3
