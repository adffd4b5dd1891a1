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
