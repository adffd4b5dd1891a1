"""Bias baseline and damped means against plain-Python loops over the ratings."""

import numpy as np
import pytest

from bayesrec.baseline import BiasBaseline, damped_means
from bayesrec.data import synthetic_ratings


@pytest.fixture(scope="module")
def small():
    return synthetic_ratings(30, 20, 200, rank=2, noise=0.5, rng=3)[0]


def _loop_biases(r, lam):
    """``c_i`` from the residuals ``r - mu``, then ``b_u`` from ``r - mu - c_i``, each a sum
    divided by (count + lambda), accumulated rating by rating."""
    users, items, vals = r.users.tolist(), r.items.tolist(), r.ratings.tolist()
    mu = sum(vals) / len(vals)
    s, n = {}, {}
    for i, x in zip(items, vals):
        s[i] = s.get(i, 0.0) + x - mu
        n[i] = n.get(i, 0) + 1
    c = {i: s[i] / (n[i] + lam) for i in s}
    s, n = {}, {}
    for u, i, x in zip(users, items, vals):
        s[u] = s.get(u, 0.0) + x - mu - c[i]
        n[u] = n.get(u, 0) + 1
    return mu, {u: s[u] / (n[u] + lam) for u in s}, c


def test_bias_baseline_predictions_match_a_loop(small):
    lam = 3.0
    model = BiasBaseline(damping=lam).fit(small)
    mu, b, c = _loop_biases(small, lam)
    assert model.global_mean_ == pytest.approx(mu, rel=1e-12)
    # every (user, item) index pair, the first user and item included, plus unknown ids
    u_idx, i_idx = np.meshgrid(np.arange(small.n_users), np.arange(small.n_items))
    u_ids = np.r_[small.user_ids[u_idx.ravel()], -5, small.user_ids[0]]
    i_ids = np.r_[small.item_ids[i_idx.ravel()], small.item_ids[0], -7]
    want = [mu + b[u] + c[i] for u, i in zip(u_idx.ravel().tolist(), i_idx.ravel().tolist())]
    want += [mu + c[0], mu + b[0]]                  # an unknown side contributes 0
    np.testing.assert_allclose(model.predict(u_ids, i_ids), want, rtol=1e-12)
    scores = model._score_users(np.array([0, 7]))
    np.testing.assert_allclose(scores[0], [mu + b[0] + c[i] for i in range(small.n_items)],
                               rtol=1e-12)


def test_damped_means_closed_form():
    """``(sum + lambda mu0) / (n + lambda)`` by hand; ``mu0`` where ``n + lambda = 0``."""
    sums = np.array([10.0, 0.0, 9.0, -4.0])
    counts = np.array([2, 0, 2, 1])
    np.testing.assert_allclose(damped_means(sums, counts, 3.5, 5.0),
                               [(10 + 17.5) / 7, 3.5, (9 + 17.5) / 7, (-4 + 17.5) / 6],
                               rtol=1e-14)
    np.testing.assert_allclose(damped_means(sums, counts, 3.5, 0.0), [5.0, 3.5, 4.5, -4.0])
