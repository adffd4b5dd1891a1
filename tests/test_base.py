"""The estimator contract: id mapping, unknown-id fallback, clipping, top-k recommendation."""

import numpy as np
import pytest

from bayesrec.base import NotFittedError, RatingModel, check_positive, top_k
from bayesrec.data import Ratings


class ItemMean(RatingModel):
    """Item mean (global mean for unknown items): enough to exercise the contract."""

    def _fit(self, r, eval_set):
        return {"mu_": r.global_mean, "means_": r.item_sums() / np.maximum(r.item_counts, 1)}

    def _predict_indices(self, u, i):
        return np.where(i >= 0, self.means_[np.maximum(i, 0)], self.mu_)


@pytest.fixture
def ratings():
    return Ratings.from_arrays(["a", "a", "b", "c"], [1, 2, 2, 3], [5.0, 1.0, 3.0, 4.0],
                               rating_scale=(1, 5))


def test_predict_maps_ids_and_falls_back(ratings):
    m = ItemMean().fit(ratings)
    np.testing.assert_allclose(m.predict(["a", "zzz", "b"], [1, 2, 99]), [5.0, 2.0, 3.25])
    np.testing.assert_allclose(m.predict("a", 3), [4.0])
    np.testing.assert_allclose(m.predict_ratings(ratings), [5.0, 2.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="same length"):
        m.predict(["a", "b"], [1])


def test_rows_without_training_data_count_as_unknown(ratings):
    train = ratings.take([0, 1, 2])  # item 3 is in the id map but has no training row
    m = ItemMean().fit(train)
    assert m.predict(["c"], [3])[0] == pytest.approx(3.0)


def test_recommend_excludes_seen_and_ranks(ratings):
    m = ItemMean().fit(ratings)
    rec = m.recommend("a", k=3)
    assert list(rec["item"]) == [3] and list(rec["rank"]) == [1]
    rec = m.recommend("a", k=3, exclude_seen=False)
    assert list(rec["item"]) == [1, 3, 2]
    new = m.recommend("stranger", k=2)
    assert list(new["item"]) == [1, 3]


def test_not_fitted_and_bad_input(ratings):
    with pytest.raises(NotFittedError):
        ItemMean().predict([1], [1])
    with pytest.raises(TypeError, match="Ratings"):
        ItemMean().fit(ratings.to_frame())
    with pytest.raises(ValueError, match="k must be"):
        ItemMean().fit(ratings).recommend("a", k=0)


def test_top_k_and_check_positive():
    s = np.array([[0.1, 0.9, 0.5, -np.inf], [3.0, 2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(top_k(s, 2), [[1, 2], [0, 1]])
    assert check_positive("k", 3, integer=True) == 3
    for bad in (0, -1, 1.5, np.nan, "2", True):
        with pytest.raises(ValueError, match="k must be"):
            check_positive("k", bad, integer=True)


def test_check_probability():
    from bayesrec.base import check_probability
    assert check_probability("prob", 0.9) == 0.9
    for bad in (0, 1, -0.5, 1.5, np.nan, "0.5", True):
        with pytest.raises(ValueError, match="prob must lie in"):
            check_probability("prob", bad)


# --------------------------------------------------------------------------- _validation
def test_declared_checks_convert_and_name_the_parameter():
    from bayesrec._validation import (
        Boolean,
        Choice,
        Integer,
        OptionalCheck,
        Probability,
        RandomState,
        Real,
    )
    assert Integer()("rank", 3.0) == 3 and isinstance(Integer()("rank", 3.0), int)
    assert Integer(low=0)("rank", 0) == 0
    for bad in (0, -1, 2.5, np.nan, np.inf, "3", True, None):
        with pytest.raises(ValueError, match=r"rank must be an integer in \[1, inf\)"):
            Integer()("rank", bad)
    assert Real()("reg", 2) == 2.0
    for bad in (0, -1e-9, np.nan, np.inf, "x", False):
        with pytest.raises(ValueError, match=r"reg must be a finite number in \(0, inf\)"):
            Real()("reg", bad)
    assert Real(closed="left")("tol", 0) == 0.0
    m = Real(0.0, 1.0, closed="left")
    assert m("momentum", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"momentum .* \[0, 1\)"):
        m("momentum", 1.0)
    for bad in (0.0, 1.0, -0.1, np.nan):
        with pytest.raises(ValueError, match="prob must lie in"):
            Probability()("prob", bad)
    assert Choice("a", "b")("method", "b") == "b"
    for bad in ("c", None, ["a"], 1):
        with pytest.raises(ValueError, match=r"method must be one of \('a', 'b'\)"):
            Choice("a", "b")("method", bad)
    assert Choice(1, 2)("x", 2) == 2
    with pytest.raises(ValueError):
        Choice(1, 2)("x", True)  # a bool is not the integer 1
    assert Boolean()("biases", np.bool_(True)) is True
    with pytest.raises(ValueError, match="biases must be True or False"):
        Boolean()("biases", 1)
    assert OptionalCheck(Real())("lr", None) is None
    with pytest.raises(ValueError, match="lr must"):
        OptionalCheck(Real())("lr", -1.0)
    g = np.random.default_rng(0)
    assert RandomState()("random_state", g) is g
    assert RandomState()("random_state", 3) == 3
    with pytest.raises(ValueError, match="random_state"):
        RandomState()("random_state", -1)
    with pytest.raises(TypeError, match="random_state"):
        RandomState()("random_state", np.random.RandomState(0))


def test_check_indices_and_known_index():
    from bayesrec._validation import check_indices, known_index
    out = check_indices("users", np.array([0, 4], np.int32), 5)
    assert out.dtype == np.int64 and list(out) == [0, 4]
    assert check_indices("users", 3, 5).tolist() == [3]
    assert check_indices("users", [], 5).shape == (0,)
    for bad, msg in ((np.array([5]), r"users must lie in \[0, 5\), got 5"),
                     (np.array([-1]), r"got -1"), (np.array([1.0]), "integer indices"),
                     (np.array([[1]]), "1-d"), (np.array([True]), "integer indices")):
        with pytest.raises(ValueError, match=msg):
            check_indices("users", bad, 5)
    counts = np.array([2, 0, 1])
    np.testing.assert_array_equal(known_index([0, 1, 2, -1], counts), [0, -1, 2, -1])


def test_eval_set_maps_held_out_rows_to_training_indices(ratings):
    from bayesrec.base import EvalSet
    train = ratings.take([0, 1, 2])                      # item 3 has no training row
    held = Ratings.from_arrays(["a", "zzz", "c", "b"], [2, 1, 3, 9], [4.0, 2.0, 5.0, 1.0])
    ev = EvalSet.build(train, held)
    a, b, c = (int(train.user_index([x])[0]) for x in "abc")
    assert list(ev.users) == [a, -1, -1, b]              # user c has no training row
    assert list(ev.items) == [int(train.item_index([2])[0]), int(train.item_index([1])[0]),
                              -1, -1]
    assert len(ev) == 4 and ev.rating_scale == (1.0, 5.0)
    np.testing.assert_allclose(ev.rmse(np.array([4.0, 2.0, 5.0, 9.0])), np.sqrt(16 / 4))
    # a split shares the id maps: the indices pass through
    same = EvalSet.build(ratings, ratings)
    np.testing.assert_array_equal(same.users, ratings.users)


def test_fit_publishes_only_a_dict_of_learned_names(ratings):
    class Bad(ItemMean):
        def _fit(self, r, eval_set):
            return {"mu": 1.0}

    with pytest.raises(TypeError, match="end in '_'"):
        Bad().fit(ratings)

    class NotDict(ItemMean):
        def _fit(self, r, eval_set):
            return None

    with pytest.raises(TypeError, match="must return a dict"):
        NotDict().fit(ratings)
    m = ItemMean().fit(ratings)
    assert m.is_fitted and sorted(m._learned_names()) == ["means_", "mu_", "train_"]
