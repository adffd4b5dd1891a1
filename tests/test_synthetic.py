"""Synthetic ratings follow the generative story they claim."""

import numpy as np
import pytest

from bayesrec.data import synthetic_ratings


def test_shape_uniqueness_and_truth():
    r, truth = synthetic_ratings(300, 200, 6000, rank=4, noise=0.3, rng=0)
    assert len(r) == 6000 and r.n_users == 300 and r.n_items == 200
    keys = r.users.astype(np.int64) * r.n_items + r.items
    assert len(np.unique(keys)) == len(keys)          # no repeated pair
    assert (r.user_counts >= 1).all()                 # every user has a rating
    resid = r.ratings - truth.mean(r.users, r.items)
    # residuals are the N(0, 0.3^2) noise: sd within 3 standard errors
    assert abs(resid.std() - 0.3) < 3 * 0.3 / np.sqrt(2 * len(r))
    assert abs(resid.mean()) < 3 * 0.3 / np.sqrt(len(r))
    # Var(u.v) = signal (0.5 by default) over the population of (user, item) pairs
    uv = truth.user_factors @ truth.item_factors.T
    assert 0.35 < uv.var() < 0.65


def test_skew_seed_and_scale():
    r, _ = synthetic_ratings(2000, 1000, 60000, rng=1, rating_scale=(0.5, 5.0), step=0.5)
    counts = np.sort(r.item_counts)[::-1]
    assert counts[:100].sum() > 0.3 * len(r)          # long tail: top 10% items > 30% ratings
    assert r.ratings.min() >= 0.5 and r.ratings.max() <= 5.0
    np.testing.assert_array_equal(np.round(r.ratings * 2), r.ratings * 2)
    again, _ = synthetic_ratings(2000, 1000, 60000, rng=1, rating_scale=(0.5, 5.0), step=0.5)
    np.testing.assert_array_equal(again.ratings, r.ratings)
    with pytest.raises(ValueError, match="n_ratings"):
        synthetic_ratings(10, 10, 5)
    with pytest.raises(ValueError, match="rank"):
        synthetic_ratings(10, 10, 20, rank=0)


def test_small_dense_sets_are_feasible():
    # 500 of 1,200 cells: the MovieLens-like caps alone would be infeasible here
    r, _ = synthetic_ratings(40, 30, 500, rank=3, noise=0.7, rng=1)
    assert len(r) == 500 and r.item_counts.max() <= 40 and r.user_counts.max() <= 30
