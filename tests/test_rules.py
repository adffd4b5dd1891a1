"""Association rules against mlxtend (test-only dependency) and hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlxtend.frequent_patterns import apriori, fpgrowth
from mlxtend.frequent_patterns import association_rules as mlx_rules

from bayesrec.data import Ratings
from bayesrec.rules import RULE_COLUMNS, association_rules, basket_matrix, frequent_itemsets

MLX_COLUMNS = RULE_COLUMNS[:-1]


def random_baskets(n_baskets, n_items, seed):
    """Baskets with correlated items (a few latent 'tastes'), so that long itemsets exist."""
    rng = np.random.default_rng(seed)
    taste = rng.integers(0, 3, n_baskets)
    base = rng.random((3, n_items)) ** 1.5
    onehot = rng.random((n_baskets, n_items)) < base[taste]
    names = [f"i{j}" for j in range(n_items)]
    baskets = [[names[j] for j in np.flatnonzero(row)] for row in onehot]
    return baskets, pd.DataFrame(onehot, columns=names)


def as_dict(df, columns):
    return {(a, c): row for a, c, *row in df[["antecedents", "consequents"] + columns]
            .itertuples(index=False, name=None)}


@pytest.mark.parametrize("seed, min_support, max_len", [(0, 0.23, None), (1, 0.171, None),
                                                          (2, 0.11, 3)])
def test_identical_to_mlxtend(seed, min_support, max_len):
    baskets, onehot = random_baskets(300, 25, seed)
    ours = association_rules(baskets, min_support, max_len=max_len)
    for algo in (apriori, fpgrowth):
        freq = algo(onehot, min_support=min_support, use_colnames=True, max_len=max_len)
        ref = mlx_rules(freq, len(onehot), metric="confidence", min_threshold=0.0)
        assert len(ours) == len(ref) > 100
        a, b = as_dict(ours, MLX_COLUMNS[2:]), as_dict(ref, MLX_COLUMNS[2:])
        assert a.keys() == b.keys()
        keys = list(a)
        np.testing.assert_allclose(np.array([a[k] for k in keys]), np.array([b[k] for k in keys]),
                                   rtol=1e-12, atol=1e-15)
    # frequent itemsets and supports
    fi = frequent_itemsets(baskets, min_support, max_len=max_len)
    ref = dict(zip(freq.itemsets, freq.support))
    assert dict(zip(fi.itemsets, fi.support)) == pytest.approx(ref, rel=1e-14)
    assert fi.itemsets.map(len).max() >= (3 if max_len else 4)


def test_support_boundary_follows_the_definition():
    """count / n >= min_support exactly (as mlxtend's apriori); mlxtend's fpgrowth uses
    ceil(min_support * n), and 0.17 * 300 = 51.00000000000001 rounds up to 52."""
    baskets, onehot = random_baskets(300, 25, 1)
    ours = frequent_itemsets(baskets, 0.17)
    ref = apriori(onehot, min_support=0.17, use_colnames=True)
    assert set(ours.itemsets) == set(ref.itemsets)
    assert (np.round(ours.support * 300) == 51).any()
    assert len(fpgrowth(onehot, min_support=0.17, use_colnames=True)) < len(ours)


def test_confidence_and_lift_filters_match_mlxtend():
    baskets, onehot = random_baskets(250, 20, 3)
    freq = fpgrowth(onehot, min_support=0.13, use_colnames=True)
    ref = mlx_rules(freq, len(onehot), metric="confidence", min_threshold=0.61)
    ours = association_rules(onehot, 0.13, min_confidence=0.61)  # one-hot DataFrame input
    assert as_dict(ours, []).keys() == as_dict(ref, []).keys() and len(ref) > 20
    ref = mlx_rules(freq, len(onehot), metric="lift", min_threshold=1.37)
    ours = association_rules(baskets, 0.13, min_lift=1.37)
    assert as_dict(ours, []).keys() == as_dict(ref, []).keys() and len(ref) > 20
    assert list(ours.columns) == RULE_COLUMNS
    assert ours["lift"].is_monotonic_decreasing


def test_hand_computed():
    baskets = [["bread", "milk"], ["bread", "diapers", "beer", "eggs"],
               ["milk", "diapers", "beer", "cola"], ["bread", "milk", "diapers", "beer"],
               ["bread", "milk", "diapers", "cola"]]
    rules = association_rules(baskets, min_support=0.4, sort_by=None)
    r = rules[(rules.antecedents == frozenset({"diapers"}))
              & (rules.consequents == frozenset({"beer"}))].iloc[0]
    # diapers in 4 baskets, beer in 3, both in 3
    assert r.support == pytest.approx(3 / 5)
    assert r.confidence == pytest.approx(3 / 4)
    assert r.lift == pytest.approx((3 / 4) / (3 / 5))
    assert r.cosine == pytest.approx((3 / 5) / np.sqrt(4 / 5 * 3 / 5))
    assert r.leverage == pytest.approx(3 / 5 - 4 / 5 * 3 / 5)
    r = rules[(rules.antecedents == frozenset({"beer"}))
              & (rules.consequents == frozenset({"diapers"}))].iloc[0]
    assert r.confidence == 1.0 and r.conviction == np.inf
    # {milk, diapers, bread} is in 2/5 baskets: frequent at 0.4; repeated items count once
    fi = frequent_itemsets([b + b[:1] for b in baskets], 0.4)
    assert dict(zip(fi.itemsets, fi.support))[frozenset({"milk", "diapers", "bread"})] == 0.4
    assert association_rules(baskets, 0.9).empty
    assert list(association_rules(baskets, 0.9).columns) == RULE_COLUMNS


def test_ratings_baskets():
    r = Ratings.from_arrays(users=[1, 1, 1, 2, 2, 3, 3, 4], items=["a", "b", "c", "a", "b", "a",
                                                                   "c", "a"],
                            ratings=[5, 4, 2, 4.5, 5, 1, 3, 2])
    x, labels = basket_matrix(r, min_rating=4)
    assert x.shape == (4, 3)  # one basket per user, users 3 and 4 have empty baskets
    rules = association_rules(r, min_support=0.5, min_rating=4)
    ab = rules[(rules.antecedents == frozenset({"a"})) & (rules.consequents == frozenset({"b"}))]
    assert ab.support.iloc[0] == 0.5 and ab.confidence.iloc[0] == 1.0 and ab.lift.iloc[0] == 2.0


def test_bad_input():
    with pytest.raises(ValueError, match="min_support"):
        association_rules([["a"]], 0.0)
    with pytest.raises(ValueError, match="min_confidence"):
        association_rules([["a"]], 0.5, min_confidence=1.5)
    with pytest.raises(ValueError, match="max_len"):
        association_rules([["a"]], 0.5, max_len=0)
    with pytest.raises(ValueError, match="sort_by"):
        association_rules([["a"]], 0.5, sort_by="nope")
    with pytest.raises(ValueError, match="no baskets"):
        association_rules([], 0.5)
