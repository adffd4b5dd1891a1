"""Top-N protocol: leave-last-k-out split, evaluate_topk for models fitted on views."""

import numpy as np
import pandas as pd
import pytest

from bayesrec.data import Ratings, leave_last_k_out
from bayesrec.metrics import (
    _drop_seen,
    evaluate_topk,
    evaluate_topk_per_user,
    ndcg_at_k,
    relevance_matrix,
)


@pytest.fixture(scope="module")
def timed():
    rng = np.random.default_rng(7)
    n = 3000
    users = rng.integers(0, 120, n)
    items = rng.integers(0, 300, n)
    df = pd.DataFrame({"u": users, "i": items}).drop_duplicates()
    df["r"] = rng.integers(1, 6, len(df)).astype(float)
    df["t"] = rng.integers(0, 50, len(df))  # many ties in time
    return Ratings.from_frame(df, user_col="u", item_col="i", rating_col="r",
                              timestamp_col="t")


def _reference_last_k(r: Ratings, k: int, min_train: int) -> set:
    """Slow per-user loop: sort the user's rows by (time, row), hold out the last ones."""
    out = set()
    for u in range(r.n_users):
        rows = np.flatnonzero(r.users == u)
        rows = sorted(rows, key=lambda j: (r.timestamps[j], j))
        n_test = min(k, max(len(rows) - min_train, 0))
        out |= {(u, int(r.items[j])) for j in rows[len(rows) - n_test:]}
    return out


@pytest.mark.parametrize("k,min_train", [(1, 1), (3, 1), (2, 0), (5, 4)])
def test_leave_last_k_out_matches_reference(timed, k, min_train):
    train, test = leave_last_k_out(timed, k=k, min_train=min_train)
    assert set(zip(test.users.tolist(), test.items.tolist())) == _reference_last_k(
        timed, k, min_train)
    assert len(train) + len(test) == len(timed)
    assert train.user_ids is timed.user_ids
    # every training row of a user is no later than its test rows
    last_train = np.full(timed.n_users, -1)
    np.maximum.at(last_train, train.users, train.timestamps)
    first_test = np.full(timed.n_users, 10**9)
    np.minimum.at(first_test, test.users, test.timestamps)
    assert (last_train <= first_test).all()


def test_leave_last_k_out_errors(timed):
    with pytest.raises(ValueError, match="k must be"):
        leave_last_k_out(timed, k=0)
    with pytest.raises(ValueError, match="k must be"):
        leave_last_k_out(timed, k=1.5)
    no_time = Ratings.from_arrays([1, 2], [1, 2], [3.0, 4.0])
    with pytest.raises(ValueError, match="timestamps"):
        leave_last_k_out(no_time, k=1)


def test_drop_seen_compacts_rows():
    import scipy.sparse as sp
    rec = np.array([[5, 1, 2, 3, 4], [0, 9, 8, -1, 7]])
    seen = sp.csr_matrix((np.ones(3), ([0, 0, 1], [1, 4, 9])), shape=(2, 10))
    np.testing.assert_array_equal(_drop_seen(rec, seen, 3), [[5, 2, 3], [0, 8, 7]])


class _FixedScores:
    """A minimal ranked model: fixed item scores, the seen items of its own training data
    excluded (enough of the recommend_indices contract for evaluate_topk)."""

    def __init__(self, scores, train):
        self.scores, self.train_ = scores, train

    def recommend_indices(self, users, k=10, exclude_seen=True, **options):
        s = np.tile(self.scores, (len(users), 1))
        if exclude_seen:
            s[self.train_.csr[users].toarray() > 0] = -np.inf
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(s, order, axis=1)


def test_evaluate_topk_excludes_all_training_items_for_a_model_on_a_view():
    r = Ratings.from_arrays([0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 0, 3, 1, 2, 3],
                            [5, 2, 4, 5, 1, 4, 4, 5.0])
    train = r.take(np.array([0, 1, 3, 4, 5]))     # user 0: items 0, 1; user 1: 0, 3; user 2: 1
    test = r.take(np.array([2, 6, 7]))            # user 0: 2 (4.0); user 2: 2 (4.0), 3 (5.0)
    liked = train.to_implicit(threshold=4.0)      # the model sees only items rated >= 4
    scores = np.array([4.0, 3.0, 2.0, 1.0])
    model = _FixedScores(scores, liked)
    res = evaluate_topk(model, train, test, k=1)
    # user 0: unseen in train are 2, 3 -> top is item 2 (hit); user 2: unseen 0, 2, 3 ->
    # top is 0 (miss).  Without the extra exclusion user 0 would get item 1 (seen).
    assert res["n_users"] == 2
    assert res["precision@1"] == pytest.approx(0.5)
    rel = relevance_matrix(test, 4.0)[[0, 2]]
    assert res["ndcg@1"] == pytest.approx(ndcg_at_k(np.array([[2], [0]]), rel, 1))
    with pytest.raises(ValueError, match="id maps"):
        other = Ratings.from_arrays([7, 8], [0, 1], [1.0, 2.0])
        evaluate_topk(_FixedScores(scores, other), train, test)
    per = evaluate_topk_per_user(model, train, test, k=1)
    assert per.index.tolist() == [0, 2]
    assert per["precision@1"].tolist() == [1.0, 0.0]
    assert per["ndcg@1"].tolist() == [1.0, 0.0]


def test_per_user_values_against_slow_loop(timed):
    """Per-user NDCG/recall/hit of a fixed-score model, recomputed user by user."""
    train, test = leave_last_k_out(timed, k=3, min_train=2)
    scores = np.random.default_rng(3).standard_normal(timed.n_items)
    model = _FixedScores(scores, train)
    k = 5
    per = evaluate_topk_per_user(model, train, test, k=k, threshold=3.0)
    expected = {}
    for u in range(train.n_users):
        relevant = set(test.items[(test.users == u) & (test.ratings >= 3.0)].tolist())
        if not relevant or not (train.users == u).any():
            continue
        seen = set(train.items[train.users == u].tolist())
        ranked = [i for i in np.argsort(-scores, kind="stable") if i not in seen][:k]
        dcg = sum(1.0 / np.log2(p + 2) for p, i in enumerate(ranked) if i in relevant)
        ideal = sum(1.0 / np.log2(p + 2) for p in range(min(k, len(relevant))))
        hits = sum(i in relevant for i in ranked)
        expected[u] = (dcg / ideal, hits / len(relevant), float(hits > 0))
    assert per.index.tolist() == sorted(expected)
    ref = np.array([expected[u] for u in per.index])
    np.testing.assert_allclose(per[["ndcg@5", "recall@5", "hit_rate@5"]].to_numpy(), ref,
                               rtol=1e-12)
    means = evaluate_topk(model, train, test, k=k, threshold=3.0)
    for name in per.columns:
        assert per[name].mean() == pytest.approx(means[name], rel=1e-12)


def test_implicit_relevance_is_every_interaction():
    r = Ratings.from_arrays([0, 0, 1], [0, 1, 1], [1, 3, 0], implicit=True)
    assert relevance_matrix(r, None).toarray().tolist() == [[True, True], [False, False]]
    assert relevance_matrix(r, "auto").toarray().tolist() == [[True, True], [False, False]]
    assert relevance_matrix(r, 2).toarray().tolist() == [[False, True], [False, False]]
    with pytest.raises(ValueError, match="threshold"):
        relevance_matrix(r, "high")
