"""The Ratings container: construction, id maps, sparse views, selection, validation."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bayesrec.data import Ratings


@pytest.fixture
def frame():
    return pd.DataFrame({
        "userId": ["u2", "u1", "u1", "u3", "u2"],
        "movieId": [10, 30, 10, 20, 20],
        "rating": [4.0, 3.5, 5.0, 1.0, 2.0],
        "timestamp": [5, 3, 1, 4, 2],
    })


def test_from_frame_indices_and_maps(frame):
    r = Ratings.from_frame(frame, timestamp_col="timestamp")
    assert len(r) == 5 and r.n_users == 3 and r.n_items == 3
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    # id maps are sorted originals and round-trip every row
    assert list(r.user_ids) == ["u1", "u2", "u3"] and list(r.item_ids) == [10, 20, 30]
    back = r.to_frame()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert list(r.user_index(["u3", "nobody", "u1"])) == [2, -1, 0]
    assert r.item_index(30) == 2 and r.item_index(99) == -1


def test_sparse_views_match_dense(frame):
    r = Ratings.from_frame(frame)
    dense = np.zeros((3, 3))
    dense[r.users, r.items] = r.ratings
    assert isinstance(r.csr, sp.csr_matrix) and isinstance(r.csc, sp.csc_matrix)
    np.testing.assert_array_equal(r.csr.toarray(), dense)
    np.testing.assert_array_equal(r.csc.toarray(), dense)
    assert r.csr is r.csr  # built once
    np.testing.assert_array_equal(r.csr.data, r.ratings[r.csr_order])
    for row in range(3):  # sorted column indices within rows
        idx = r.csr.indices[r.csr.indptr[row]:r.csr.indptr[row + 1]]
        assert np.all(np.diff(idx) > 0)


def test_explicit_zero_ratings_are_kept():
    r = Ratings.from_arrays([1, 1, 2], [1, 2, 2], [0.0, 1.0, 0.0])
    assert r.csr.nnz == 3 and r.csc.nnz == 3


def test_immutable(frame):
    r = Ratings.from_frame(frame)
    with pytest.raises(ValueError):
        r.ratings[0] = 1.0
    with pytest.raises(ValueError):
        r.users[0] = 2


def test_take_keeps_maps_and_compact_reindexes(frame):
    r = Ratings.from_frame(frame, timestamp_col="timestamp")
    sub = r.take(r.to_frame()["userId"].to_numpy() == "u2")
    assert len(sub) == 2 and sub.n_users == 3 and sub.user_ids is r.user_ids
    np.testing.assert_array_equal(sub.timestamps, [5, 2])
    c = sub.compact()
    assert c.n_users == 1 and list(c.item_ids) == [10, 20]
    pd.testing.assert_frame_equal(c.to_frame(), sub.to_frame())
    assert len(r.take([4, 0])) == 2
    with pytest.raises(ValueError, match="repeated"):
        r.take([0, 0])
    with pytest.raises(ValueError, match="out of range"):
        r.take([7])
    with pytest.raises(ValueError, match="shape"):
        r.take(np.ones(3, bool))


def test_most_active_matches_pandas_reference():
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame({"userId": rng.zipf(1.5, n) % 200, "movieId": rng.zipf(1.3, n) % 300,
                       "rating": rng.integers(1, 6, n).astype(float)})
    df = df.drop_duplicates(["userId", "movieId"], ignore_index=True)
    small = Ratings.from_frame(df).most_active(20, 30)

    def top(col, n):  # reference: counts in the full data, ties broken by the smaller id
        c = df[col].value_counts().rename("n").reset_index()
        return set(c.sort_values(["n", col], ascending=[False, True])[col].head(n))

    users, items = top("userId", 20), top("movieId", 30)
    ref = df[df.userId.isin(users) & df.movieId.isin(items)]
    got = small.to_frame().sort_values(["userId", "movieId"], ignore_index=True)
    pd.testing.assert_frame_equal(got, ref.sort_values(["userId", "movieId"], ignore_index=True),
                                  check_dtype=False)
    # densely re-indexed: every kept id has a row
    assert (small.user_counts > 0).all() and (small.item_counts > 0).all()
    with pytest.raises(ValueError, match="n_users must be a finite integer > 0"):
        small.most_active(0, 3)


@pytest.mark.parametrize("bad, message", [
    (dict(userId=[1, 2], movieId=[1, 1], rating=[3.0, np.nan]), "NaN rating at row 1"),
    (dict(userId=[1, 2], movieId=[1, 1], rating=["3", "good"]), "non-numeric rating at row 1"),
    (dict(userId=[1, None], movieId=[1, 1], rating=[3.0, 4.0]), "missing .*user id at row 1"),
    (dict(userId=[1, 2], movieId=[np.nan, 1], rating=[3.0, 4.0]), "missing .*item id at row 0"),
    (dict(userId=[1, 2, 1], movieId=[1, 1, 1], rating=[3.0, 4.0, 2.0]),
     r"duplicate \(user, item\) pair at row 2 .*repeats row 0"),
    (dict(userId=[1, 2], movieId=[1, 1], rating=[3.0, np.inf]), "infinite rating at row 1"),
])
def test_bad_input_names_problem_and_row(bad, message):
    with pytest.raises(ValueError, match=message):
        Ratings.from_frame(pd.DataFrame(bad))


def test_missing_columns_and_empty():
    with pytest.raises(ValueError, match=r"missing column\(s\) \['rating'\]"):
        Ratings.from_frame(pd.DataFrame({"userId": [1], "movieId": [1], "score": [1.0]}))
    with pytest.raises(ValueError, match="empty input"):
        Ratings.from_frame(pd.DataFrame({"userId": [], "movieId": [], "rating": []}))
    with pytest.raises(ValueError, match="same length"):
        Ratings.from_arrays([1, 2], [1], [3.0, 4.0])
    with pytest.raises(TypeError):
        Ratings.from_frame({"userId": [1]})


def test_rating_scale():
    with pytest.raises(ValueError, match=r"rating 6.0 at row 1 .*outside the rating scale"):
        Ratings.from_arrays([1, 2], [1, 1], [5.0, 6.0], rating_scale=(1, 5))
    with pytest.raises(ValueError, match="low < high"):
        Ratings.from_arrays([1], [1], [5.0], rating_scale=(5, 1))
    r = Ratings.from_arrays([1], [1], [5.0], rating_scale=(1, 5))
    assert r.rating_scale == (1.0, 5.0)


def test_duplicate_policies():
    users = [1, 2, 1, 1]
    items = [7, 7, 7, 8]
    vals = [1.0, 2.0, 4.0, 5.0]
    ts = [10, 20, 30, 40]
    last = Ratings.from_arrays(users, items, vals, ts, duplicates="last")
    f = last.to_frame()
    assert len(last) == 3
    assert f.query("userId == 1 and movieId == 7")["rating"].item() == 4.0
    mean = Ratings.from_arrays(users, items, vals, ts, duplicates="mean")
    f = mean.to_frame()
    row = f.query("userId == 1 and movieId == 7")
    assert row["rating"].item() == 2.5 and row["timestamp"].item() == 30
    assert sorted(f["rating"]) == [2.0, 2.5, 5.0]
    with pytest.raises(ValueError, match="duplicates must be one of"):
        Ratings.from_arrays(users, items, vals, duplicates="first")


def test_string_datetime_timestamps():
    r = Ratings.from_arrays([1, 2], [1, 1], [3.0, 4.0],
                            ["1970-01-01 00:00:10", "2000-01-01 00:00:00"])
    np.testing.assert_array_equal(r.timestamps, [10, 946684800])


def test_counts_and_means(frame):
    r = Ratings.from_frame(frame)
    np.testing.assert_array_equal(r.user_counts, [2, 2, 1])
    np.testing.assert_array_equal(r.item_counts, [2, 2, 1])
    np.testing.assert_allclose(r.user_sums(), [8.5, 6.0, 1.0])
    assert r.global_mean == pytest.approx(15.5 / 5)


def test_integer_ids_compact_and_sparse_ranges_agree():
    # compact range (presence table) and huge range (hash factorize) give sorted id maps
    for ids in ([7, 3, 7, -2, 3], [10**15, 3, 10**15, -2, 3]):
        r = Ratings.from_arrays(ids, [1, 1, 2, 1, 2], [1.0, 2.0, 3.0, 4.0, 5.0])
        assert list(r.user_ids) == sorted(set(ids))
        np.testing.assert_array_equal(r.user_ids[r.users], ids)
