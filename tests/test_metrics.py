"""Metrics: hand-computed values and a slow per-user reference loop."""

import numpy as np
import pytest
import scipy.sparse as sp

from bayesrec import metrics as M
from bayesrec.data import Ratings


def test_rmse_mae_hand_values():
    assert M.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert M.mae([1, 2, 3], [2, 2, 5]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        M.rmse([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        M.mae([], [])
    with pytest.raises(ValueError, match="NaN prediction at position 1"):
        M.rmse([1, 2], [1, np.nan])


def test_topk_hand_values():
    # user 0: relevant {1, 3}; list [1, 2, 3] -> hits at positions 1 and 3
    # user 1: relevant {0}; list [2, 0, 1] -> hit at position 2
    # user 2: no relevant item -> excluded
    rel = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]], bool))
    rec = np.array([[1, 2, 3], [2, 0, 1], [0, 1, 2]])
    assert M.precision_at_k(rec, rel, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert M.recall_at_k(rec, rel, 3) == pytest.approx((1 + 1) / 2)
    assert M.hit_rate_at_k(rec, rel, 1) == pytest.approx(0.5)
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    ndcg1 = (1 / np.log2(3)) / 1.0
    assert M.ndcg_at_k(rec, rel, 3) == pytest.approx((ndcg0 + ndcg1) / 2)
    ap0 = (1 / 1 + 2 / 3) / 2
    ap1 = (1 / 2) / 1
    assert M.average_precision_at_k(rec, rel, 3) == pytest.approx((ap0 + ap1) / 2)
    per = M.precision_at_k(rec, rel, 3, per_user=True)
    assert np.isnan(per[2]) and per[0] == pytest.approx(2 / 3)
    assert M.catalogue_coverage(rec, 4) == 1.0
    assert M.catalogue_coverage(rec, 4, k=1) == pytest.approx(0.75)  # items {1, 2, 0}
    # -1 padding never counts as a hit
    assert M.precision_at_k(np.array([[1, -1, -1]]), rel[:1], 3) == pytest.approx(1 / 3)


def _slow_reference(rec, rel_sets, k):
    out = {"p": [], "r": [], "ndcg": [], "ap": []}
    for row, relevant in zip(rec, rel_sets):
        if not relevant:
            continue
        hits = [1.0 if item in relevant else 0.0 for item in row[:k]]
        out["p"].append(sum(hits) / k)
        out["r"].append(sum(hits) / len(relevant))
        dcg = sum(h / np.log2(p + 2) for p, h in enumerate(hits))
        idcg = sum(1 / np.log2(p + 2) for p in range(min(k, len(relevant))))
        out["ndcg"].append(dcg / idcg)
        precs = [sum(hits[:p + 1]) / (p + 1) * hits[p] for p in range(k)]
        out["ap"].append(sum(precs) / min(k, len(relevant)))
    return {key: np.mean(v) for key, v in out.items()}


def test_topk_against_slow_loop():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 50, 40, 7
    rel = sp.random(n_users, n_items, density=0.1, random_state=1, format="csr") > 0
    rec = np.array([rng.permutation(n_items)[:10] for _ in range(n_users)])
    rel_sets = [set(rel[u].indices) for u in range(n_users)]
    ref = _slow_reference(rec, rel_sets, k)
    assert M.precision_at_k(rec, rel, k) == pytest.approx(ref["p"])
    assert M.recall_at_k(rec, rel, k) == pytest.approx(ref["r"])
    assert M.ndcg_at_k(rec, rel, k) == pytest.approx(ref["ndcg"])
    assert M.average_precision_at_k(rec, rel, k) == pytest.approx(ref["ap"])


def test_relevance_matrix_threshold_and_errors():
    test = Ratings.from_arrays([1, 1, 2], ["a", "b", "a"], [4.5, 3.0, 4.0])
    rel = M.relevance_matrix(test, threshold=4.0)
    np.testing.assert_array_equal(rel.toarray(), [[True, False], [True, False]])
    with pytest.raises(ValueError, match="fewer than k"):
        M.precision_at_k(np.zeros((2, 2), int), rel, 3)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        M.precision_at_k(np.zeros((2, 1), int), M.relevance_matrix(test, 5.0), 1)
