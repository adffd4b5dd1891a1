"""Implicit feedback in Ratings: bare pairs, counts, the to_implicit view, bad counts."""

import numpy as np
import pandas as pd
import pytest

from bayesrec.data import Ratings, random_split, synthetic_ratings


def test_frame_without_rating_column_is_implicit_ones():
    df = pd.DataFrame({"userId": ["a", "b", "a", "c"], "movieId": [10, 10, 20, 30]})
    r = Ratings.from_frame(df)
    assert r.implicit and len(r) == 4
    np.testing.assert_array_equal(r.ratings, np.ones(4))
    np.testing.assert_array_equal(r.interactions(), np.ones(4))
    assert "interactions" in repr(r)
    # same through rating_col=None and from_arrays without ratings
    r2 = Ratings.from_frame(df, rating_col=None)
    r3 = Ratings.from_arrays(df["userId"], df["movieId"])
    for other in (r2, r3):
        assert other.implicit
        np.testing.assert_array_equal(other.csr.toarray(), r.csr.toarray())
    # a rating column that was asked for by name must exist
    with pytest.raises(ValueError, match="missing column"):
        Ratings.from_frame(df, rating_col="plays")
    with pytest.raises(ValueError, match="missing column"):
        Ratings.from_frame(df, rating_col="rating", implicit=True)
    # an unknown extra column is ambiguous: no silent guess
    with pytest.raises(ValueError, match="rating_col=None"):
        Ratings.from_frame(df.assign(score=1.0))
    with pytest.raises(ValueError, match="needs ratings"):
        Ratings.from_arrays([1], [2], None, implicit=False)


def test_counts_kept_and_validated():
    df = pd.DataFrame({"u": [1, 1, 2, 3], "i": [5, 6, 5, 7], "plays": [3, 0, 12, 1]})
    r = Ratings.from_frame(df, user_col="u", item_col="i", rating_col="plays", implicit=True)
    assert r.implicit
    np.testing.assert_array_equal(r.interactions(), [3, 0, 12, 1])
    bad = df.assign(plays=[3, -1, 2, 1])
    with pytest.raises(ValueError, match=r"negative count -1.0 at row 1"):
        Ratings.from_frame(bad, user_col="u", item_col="i", rating_col="plays", implicit=True)
    nan = df.assign(plays=[3, np.nan, 2, 1])
    with pytest.raises(ValueError, match="NaN count at row 1"):
        Ratings.from_frame(nan, user_col="u", item_col="i", rating_col="plays", implicit=True)
    with pytest.raises(TypeError, match="implicit"):
        Ratings.from_arrays([1], [2], [1.0], implicit="yes")
    # repeated plays of the same pair can be summed
    rep = pd.DataFrame({"u": [1, 1, 2], "i": [5, 5, 5], "plays": [2, 3, 1]})
    r = Ratings.from_frame(rep, user_col="u", item_col="i", rating_col="plays", implicit=True,
                           duplicates="sum")
    assert sorted(r.ratings.tolist()) == [1.0, 5.0]
    with pytest.raises(ValueError, match="duplicates"):
        Ratings.from_frame(rep, user_col="u", item_col="i", rating_col="plays",
                           duplicates="sum")  # summing ratings is no policy for explicit data


def test_explicit_ratings_interact_once_per_pair():
    r = synthetic_ratings(50, 40, 600, rank=2, rng=3)[0]
    assert not r.implicit
    np.testing.assert_array_equal(r.interactions(), np.ones(len(r)))


def test_to_implicit_keeps_maps_and_selects_by_threshold():
    r = synthetic_ratings(80, 60, 1500, rank=2, rng=4)[0]
    train, test = random_split(r, 0.2, rng=0)
    imp = train.to_implicit()
    assert imp.implicit and len(imp) == len(train)
    assert imp.user_ids is train.user_ids and imp.item_ids is train.item_ids
    np.testing.assert_array_equal(imp.users, train.users)
    np.testing.assert_array_equal(imp.items, train.items)
    np.testing.assert_array_equal(imp.ratings, np.ones(len(train)))
    np.testing.assert_array_equal(imp.csr.indices, train.csr.indices)
    liked = train.to_implicit(threshold=4.0)
    ref = {(u, i) for u, i, v in zip(train.users, train.items, train.ratings) if v >= 4.0}
    assert set(zip(liked.users.tolist(), liked.items.tolist())) == ref
    assert liked.user_ids is train.user_ids
    # the implicit view survives take / compact
    assert imp.take(np.arange(10)).implicit and imp.compact().implicit
    with pytest.raises(ValueError, match="threshold"):
        train.to_implicit(threshold=float("nan"))
    with pytest.raises(ValueError, match="no rating"):
        train.to_implicit(threshold=100.0)
