"""Splits: sizes, disjointness, per-user and time semantics, k-fold coverage, seeding."""

import numpy as np
import pytest

from bayesrec.data import kfold, per_user_split, random_split, synthetic_ratings, time_split


@pytest.fixture(scope="module")
def data():
    return synthetic_ratings(200, 100, 4000, rank=3, rng=1)[0]


def _rows(r):
    return set(zip(r.users.tolist(), r.items.tolist()))


def test_random_split_partition_and_seed(data):
    train, test = random_split(data, 0.25, np.random.default_rng(5))
    assert len(test) == 1000 and len(train) == 3000
    assert _rows(train) | _rows(test) == _rows(data) and not _rows(train) & _rows(test)
    assert train.user_ids is data.user_ids  # maps kept: indices agree
    again = random_split(data, 0.25, np.random.default_rng(5))[1]
    np.testing.assert_array_equal(again.users, test.users)
    other = random_split(data, 0.25, np.random.default_rng(6))[1]
    assert _rows(other) != _rows(test)
    for bad in (0, 1, -0.1, 1.5, "0.2"):
        with pytest.raises(ValueError, match="test_size"):
            random_split(data, bad, 0)


def test_per_user_split_fraction_and_count(data):
    train, test = per_user_split(data, test_size=0.2, rng=0)
    expected = np.minimum(np.round(0.2 * data.user_counts), data.user_counts - 1)
    np.testing.assert_array_equal(test.user_counts, expected)
    assert (train.user_counts >= 1).all()
    train, test = per_user_split(data, n_test=2, rng=0, min_train=3)
    np.testing.assert_array_equal(test.user_counts,
                                  np.clip(data.user_counts - 3, 0, 2))
    with pytest.raises(ValueError, match="exactly one"):
        per_user_split(data, test_size=0.2, n_test=1)


def test_time_split_global_and_per_user(data):
    train, test = time_split(data, test_size=0.1)
    assert len(test) == 400 and train.timestamps.max() < test.timestamps.min()
    cut = int(np.median(data.timestamps))
    train, test = time_split(data, cutoff=cut)
    assert (test.timestamps >= cut).all() and (train.timestamps < cut).all()
    train, test = time_split(data, per_user=True, n_test=1)
    # each user's held-out row is its latest
    latest = np.full(data.n_users, -1)
    np.maximum.at(latest, data.users, data.timestamps)
    np.testing.assert_array_equal(test.timestamps, latest[test.users])
    assert (test.user_counts <= 1).all()


def test_kfold_covers_every_row_once(data):
    folds = list(kfold(data, 4, rng=0))
    assert len(folds) == 4
    seen = [_rows(te) for _, te in folds]
    assert set().union(*seen) == _rows(data) and sum(map(len, seen)) == len(data)
    assert max(map(len, seen)) - min(map(len, seen)) <= 1
    for tr, te in folds:
        assert not _rows(tr) & _rows(te)
    with pytest.raises(ValueError, match="n_splits"):
        next(kfold(data, 1))
