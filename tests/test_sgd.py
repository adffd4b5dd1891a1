"""FunkSVD and SVD++: compiled epochs against literal Python loops, recovery, determinism."""

import numpy as np
import pytest

from bayesrec.data import synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import FunkSVD, SVDpp
from bayesrec.factorization._sgd_kernels import funk_epoch, svdpp_epoch


@pytest.fixture(scope="module")
def tiny():
    ratings, _ = synthetic_ratings(40, 30, 400, rank=2, noise=0.5, rng=8)
    return ratings


@pytest.fixture(scope="module")
def synth():
    ratings, truth = synthetic_ratings(400, 250, 30_000, rank=3, noise=0.3, rng=1)
    train, test = random_split(ratings, 0.2, rng=2)
    return train, test, truth


def reference_funk_epoch(users, items, vals, order, mu, bu, bi, P, Q, lr, reg, lr_b, reg_b,
                         m, vbu, vbi, vP, vQ):
    for n in order:
        u, i = users[n], items[n]
        e = vals[n] - (mu + bu[u] + bi[i] + P[u] @ Q[i])
        steps = [lr_b * (e - reg_b * bu[u]), lr_b * (e - reg_b * bi[i]),
                 lr * (e * Q[i] - reg * P[u]), lr * (e * P[u] - reg * Q[i])]
        if m > 0:
            vbu[u] = m * vbu[u] + steps[0]
            vbi[i] = m * vbi[i] + steps[1]
            vP[u] = m * vP[u] + steps[2]
            vQ[i] = m * vQ[i] + steps[3]
            steps = [vbu[u], vbi[i], vP[u].copy(), vQ[i].copy()]
        bu[u] += steps[0]
        bi[i] += steps[1]
        P[u] += steps[2]
        Q[i] += steps[3]


@pytest.mark.parametrize("momentum", [0.0, 0.8])
def test_funk_epoch_matches_literal_loop(tiny, momentum):
    r = tiny
    rng = np.random.default_rng(0)
    K = 3
    init = [np.zeros(r.n_users), np.zeros(r.n_items), rng.normal(0, .1, (r.n_users, K)),
            rng.normal(0, .1, (r.n_items, K))]
    a = [x.copy() for x in init]
    b = [x.copy() for x in init]
    va = [np.zeros_like(x) for x in init]
    vb = [np.zeros_like(x) for x in init]
    users, items, vals = (np.ascontiguousarray(x) for x in (r.users, r.items, r.ratings))
    for _ in range(3):
        order = rng.permutation(len(r))
        funk_epoch(users, items, vals, order, 3.5, *a, 0.05, 0.1, 0.03, 0.2, momentum, *va,
                   True)
        reference_funk_epoch(users, items, vals, order, 3.5, *b, 0.05, 0.1, 0.03, 0.2,
                             momentum, *vb)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def reference_svdpp_epoch(r, visit, mu, bu, bi, P, Q, Y, lr, reg):
    """Surprise's SVD++ update, literally: every y_j of N(u) updated at every rating."""
    csr = r.csr
    for pos in visit:
        u = np.searchsorted(csr.indptr, pos, side="right") - 1
        Nu = csr.indices[csr.indptr[u]:csr.indptr[u + 1]]
        norm = 1 / np.sqrt(len(Nu))
        i = csr.indices[pos]
        z = norm * Y[Nu].sum(0)
        e = csr.data[pos] - (mu + bu[u] + bi[i] + Q[i] @ (P[u] + z))
        bu[u] += lr * (e - reg * bu[u])
        bi[i] += lr * (e - reg * bi[i])
        pu, qi = P[u].copy(), Q[i].copy()
        P[u] += lr * (e * qi - reg * pu)
        Q[i] += lr * (e * (pu + z) - reg * qi)
        Y[Nu] += lr * (e * norm * qi - reg * Y[Nu])


def test_svdpp_lazy_implicit_update_is_exact(tiny):
    r = tiny
    rng = np.random.default_rng(1)
    K = 3
    init = [np.zeros(r.n_users), np.zeros(r.n_items)] + [
        rng.normal(0, .1, s) for s in ((r.n_users, K), (r.n_items, K), (r.n_items, K))]
    a = [x.copy() for x in init]
    b = [x.copy() for x in init]
    csr = r.csr
    u_rows = np.repeat(np.arange(r.n_users), np.diff(csr.indptr))
    lr, reg = 0.05, 0.3     # large steps, so a mistake would show
    for _ in range(2):
        within = rng.permutation(len(r))
        visit = within[np.argsort(rng.permutation(r.n_users)[u_rows[within]], kind="stable")]
        svdpp_epoch(csr.indptr.astype(np.int64), csr.indices, csr.data, visit, 3.5, *a,
                    lr, reg, lr, reg, lr, reg, lr, reg)
        reference_svdpp_epoch(r, visit, 3.5, *b, lr, reg)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def test_funk_model_follows_documented_draws(tiny):
    """shuffle=False: init p then q from the seed, ratings visited in CSR order."""
    r = tiny
    m = FunkSVD(rank=2, lr=0.02, reg=0.05, n_iter=2, shuffle=False, random_state=3).fit(r)
    rng = np.random.default_rng(3)
    P = rng.normal(0, 0.1, (r.n_users, 2))
    Q = rng.normal(0, 0.1, (r.n_items, 2))
    bu, bi = np.zeros(r.n_users), np.zeros(r.n_items)
    for _ in range(2):
        reference_funk_epoch(r.users, r.items, r.ratings, r.csr_order, r.global_mean, bu, bi,
                             P, Q, 0.02, 0.05, 0.02, 0.05, 0.0, None, None, None, None)
    np.testing.assert_allclose(m.user_factors_, P, atol=1e-12)
    np.testing.assert_allclose(m.item_bias_, bi, atol=1e-12)


@pytest.mark.parametrize("model", [
    FunkSVD(rank=3, lr=0.01, reg=0.02, n_iter=40, random_state=0),
    FunkSVD(rank=3, lr=0.002, reg=0.02, n_iter=40, momentum=0.8, random_state=0),
    SVDpp(rank=3, lr=0.007, reg=0.02, n_iter=40, random_state=0),
])
def test_recovers_held_out_truth(synth, model):
    train, test, truth = synth
    model.fit(train, test)
    pred = model.predict_ratings(test)
    err_truth = np.sqrt(np.mean((pred - truth.mean(test.users, test.items)) ** 2))
    assert err_truth < 0.6 * truth.noise
    h = model.history_
    assert h["test_rmse"].iloc[-1] < 1.15 * truth.noise
    assert h["train_rmse"].iloc[-1] < h["train_rmse"].iloc[0]


def test_svdpp_user_vector_and_history(tiny):
    m = SVDpp(rank=2, n_iter=3, random_state=0).fit(tiny)
    csr = tiny.csr
    u = 5
    Nu = csr.indices[csr.indptr[u]:csr.indptr[u + 1]]
    z = m.implicit_factors_[Nu].sum(0) / np.sqrt(len(Nu))
    np.testing.assert_allclose(m.user_implicit_[u], z, atol=1e-12)
    i = tiny.items[tiny.users == u][0]
    expected = (m.global_mean_ + m.user_bias_[u] + m.item_bias_[i]
                + m.item_factors_[i] @ (m.user_factors_[u] + z))
    got = m.predict([tiny.user_ids[u]], [tiny.item_ids[i]])[0]
    assert got == pytest.approx(np.clip(expected, *tiny.rating_scale) if tiny.rating_scale
                                else expected, rel=1e-12)
    assert list(m.history_.index) == [1, 2, 3]


def test_seeds_and_validation(tiny):
    for cls in (FunkSVD, SVDpp):
        a = cls(rank=2, n_iter=2, random_state=4).fit(tiny)
        b = cls(rank=2, n_iter=2, random_state=4).fit(tiny)
        c = cls(rank=2, n_iter=2, random_state=5).fit(tiny)
        np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
        assert not np.allclose(a.item_factors_, c.item_factors_)
        for bad in (dict(rank=0), dict(lr=0), dict(reg=-1), dict(n_iter=0)):
            with pytest.raises(ValueError):
                cls(**bad).fit(tiny)
    with pytest.raises(ValueError, match="momentum"):
        FunkSVD(momentum=1.0).fit(tiny)
