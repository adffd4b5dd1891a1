"""Model selection: folds, cross_validate, GridSearch, RandomizedSearch (serial and loky)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesrec.data import Ratings, synthetic_ratings
from bayesrec.data.splits import kfold
from bayesrec.factorization import ALS
from bayesrec.metrics import evaluate_topk
from bayesrec.model_selection import Folds, GridSearch, RandomizedSearch, cross_validate, summarize
from bayesrec.neighbors import ItemKNN


@pytest.fixture(scope="module")
def data():
    r, _ = synthetic_ratings(150, 80, 4000, rank=3, noise=0.5, rng=0, rating_scale=(0.5, 5.0),
                             step=0.5)
    return r


def _rows(folds, ratings):
    """Original row numbers of each fold's test part (rows are unique (user, item) pairs)."""
    key = {(u, i): n for n, (u, i) in enumerate(zip(ratings.users, ratings.items))}
    return [np.array(sorted(key[(u, i)] for u, i in zip(te.users, te.items)))
            for _, te in folds]


# ---------------------------------------------------------------- folds
def test_random_folds_partition_the_rows(data):
    folds = Folds("random", 4).split(data, 0)
    rows = _rows(folds, data)
    np.testing.assert_array_equal(np.sort(np.concatenate(rows)), np.arange(len(data)))
    assert max(map(len, rows)) - min(map(len, rows)) <= 1
    for tr, te in folds:
        assert len(tr) + len(te) == len(data)


def test_per_user_folds_partition_every_user(data):
    k = 3
    folds = Folds("per_user", k).split(data, 1)
    rows = _rows(folds, data)
    np.testing.assert_array_equal(np.sort(np.concatenate(rows)), np.arange(len(data)))
    counts = data.user_counts
    for tr, te in folds:
        per_user = np.bincount(te.users, minlength=data.n_users)
        # dealt round-robin: each user has floor(n/k) or ceil(n/k) test rows in every fold
        assert np.all(per_user >= counts // k) and np.all(per_user <= -(-counts // k))
        assert np.all(tr.user_counts + te.user_counts == counts)


def test_time_folds_never_train_on_the_future():
    r, _ = synthetic_ratings(100, 60, 2000, rank=2, rng=3)
    folds = Folds("time", 3).split(r)
    assert len(folds) == 3
    sizes = []
    for tr, te in folds:
        assert tr.timestamps.max() <= te.timestamps.min()
        sizes.append((len(tr), len(te)))
    # rolling origin: blocks of 500 rows; fold f trains on f + 1 blocks
    assert sizes == [(500, 500), (1000, 500), (1500, 500)]


@pytest.mark.parametrize("cv, match", [
    (1, "cv"), (0, "cv"), ("weekly", "weekly"), (3.5, "cv"), ([], "empty"),
    ([(1, 2)], "pair"), (Folds("per_user", 151), "exceed the number of users"),
])
def test_bad_cv(data, cv, match):
    with pytest.raises(ValueError, match=match):
        cross_validate(ALS(n_iter=2), data, cv=cv, metrics="rmse", verbose=False)


def test_time_cv_needs_timestamps(data):
    no_time = Ratings.from_arrays(data.users, data.items, data.ratings)
    with pytest.raises(ValueError, match="timestamps"):
        cross_validate(ALS(n_iter=2), no_time, cv="time", metrics="rmse", verbose=False)


# ---------------------------------------------------------------- cross_validate
def test_cross_validate_matches_a_manual_loop(data):
    """Per-fold values equal fitting each fold by hand; summary = mean and sd / sqrt(n)."""
    folds = list(kfold(data, 3, rng=5))
    model = ALS(rank=3, reg=5.0, n_iter=5, random_state=0)
    df = cross_validate(model, data, cv=folds, metrics=("rmse", "mae", "ndcg@5", "recall@5",
                                                        "coverage@5"), verbose=False)
    assert list(df.columns) == ["fold", "metric", "value", "fit_seconds", "predict_seconds"]
    assert len(df) == 15 and (df["fit_seconds"] > 0).all()
    for f, (tr, te) in enumerate(folds):
        m = ALS(rank=3, reg=5.0, n_iter=5, random_state=0).fit(tr)
        err = np.clip(m.predict(te.user_ids[te.users], te.item_ids[te.items]), 0.5, 5.0) \
            - te.ratings
        top = evaluate_topk(m, tr, te, k=5)
        got = df[df["fold"] == f].set_index("metric")["value"]
        assert got["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)), rel=1e-12)
        assert got["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
        assert got["ndcg@5"] == pytest.approx(top["ndcg@5"], rel=1e-12)
        assert got["recall@5"] == pytest.approx(top["recall@5"], rel=1e-12)
        assert got["coverage@5"] == pytest.approx(top["coverage"], rel=1e-12)
    summary = df.attrs["summary"]
    pd.testing.assert_frame_equal(summary, summarize(df))
    v = df[df["metric"] == "rmse"]["value"].to_numpy()
    assert summary.loc["rmse", "mean"] == pytest.approx(v.mean())
    assert summary.loc["rmse", "se"] == pytest.approx(v.std(ddof=1) / np.sqrt(3))
    assert model.__dict__.keys() == ALS(rank=3, reg=5.0, n_iter=5,
                                        random_state=0).__dict__.keys()   # template unfitted


def test_seeded_models_and_folds_are_reproducible(data):
    """A model with random_state=None gets a fold generator spawned from cross_validate's."""
    kw = dict(cv="per_user", metrics=("rmse",), verbose=False)
    a = cross_validate(ALS(rank=3, n_iter=3), data, random_state=4, **kw)
    b = cross_validate(ALS(rank=3, n_iter=3), data, random_state=4, **kw)
    c = cross_validate(ALS(rank=3, n_iter=3), data, random_state=5, **kw)
    np.testing.assert_array_equal(a["value"], b["value"])
    assert not np.array_equal(a["value"], c["value"])


@pytest.mark.parametrize("metrics, match", [
    (("rmse", "auc"), "auc"), (("ndcg@0",), "ndcg@0"), (("ndcg",), "ndcg"), ((), "empty"),
    (("rmse", "rmse"), "duplicates"),
])
def test_unknown_metric(data, metrics, match):
    with pytest.raises(ValueError, match=match):
        cross_validate(ALS(n_iter=2), data, cv=3, metrics=metrics, verbose=False)


def test_rating_metric_needs_a_rating_model(data):
    class Ranker:                     # ranks only: no predict_ratings
        def __init__(self, k=1):
            self.k = k

        def fit(self, r):
            return self

        def recommend_indices(self, users, k=10, exclude_seen=True):
            raise AssertionError("not reached")

    with pytest.raises(ValueError, match="'rmse' needs a model with predict_ratings"):
        cross_validate(Ranker(), data, cv=3, metrics=("ndcg@10", "rmse"), verbose=False)


# ---------------------------------------------------------------- searches
GRID = {"rank": [2, 4], "reg": [1.0, 30.0]}


def test_grid_search_scores_every_point_like_cross_validate(data):
    folds = list(kfold(data, 3, rng=2))
    gs = GridSearch(ALS(n_iter=4, random_state=0), GRID, cv=folds, metric=["rmse", "ndcg@10"],
                    verbose=False).fit(data)
    res = gs.results_
    assert len(res) == 4 and set(res["params"].map(lambda p: tuple(sorted(p)))) == {
        ("rank", "reg")}
    for _, row in res.iterrows():
        ref = cross_validate(ALS(n_iter=4, random_state=0, **row["params"]), data, cv=folds,
                             metrics=("rmse", "ndcg@10"), verbose=False).attrs["summary"]
        assert row["mean_rmse"] == pytest.approx(ref.loc["rmse", "mean"], rel=1e-12)
        assert row["se_ndcg@10"] == pytest.approx(ref.loc["ndcg@10", "se"], rel=1e-12)
    best = res["mean_rmse"].idxmin()
    assert gs.best_params_ == res.loc[best, "params"] and gs.best_index_ == best
    assert gs.best_score_ == res["mean_rmse"].min()
    assert res.loc[best, "rank_rmse"] == 1 and res.loc[res["mean_ndcg@10"].idxmax(),
                                                       "rank_ndcg@10"] == 1
    ref = ALS(n_iter=4, random_state=0, **gs.best_params_).fit(data)
    u, i = data.user_ids[:20], data.item_ids[:20]
    np.testing.assert_array_equal(gs.best_estimator_.predict(u, i), ref.predict(u, i))
    assert len(gs.fold_results_) == 4 * 3 * 2


def test_top_n_metric_is_maximised(data):
    gs = GridSearch(ItemKNN(min_overlap=1), {"k": [1, 30]}, cv=3, metric="precision@10",
                    random_state=0, refit=False, verbose=False).fit(data)
    res = gs.results_
    assert gs.best_params_ == res.loc[res["mean_precision@10"].idxmax(), "params"]
    assert not hasattr(gs, "best_estimator_")


@pytest.mark.parametrize("grid, match", [
    ({}, "empty"), ([], "empty"), ({"rank": []}, "rank"), ({"rank": 3}, "rank"),
    ({"rnak": [1, 2]}, "'rnak'"), ([{"rank": [2]}, {"lr": [0.1]}], "'lr'"),
])
def test_bad_grids(data, grid, match):
    with pytest.raises(ValueError, match=match):
        GridSearch(ALS(n_iter=2), grid, cv=3, verbose=False).fit(data)


def test_grid_search_in_loky_workers_equals_serial(data):
    kw = dict(cv="per_user", metric=["rmse", "map@5"], random_state=3, verbose=False)
    grid = {"rank": [2, 4], "reg": [5.0]}
    a = GridSearch(ALS(n_iter=3), grid, n_jobs=1, **kw).fit(data)
    b = GridSearch(ALS(n_iter=3), grid, n_jobs=2, **kw).fit(data)
    pd.testing.assert_frame_equal(a.fold_results_.drop(columns=["fit_seconds",
                                                                 "predict_seconds"]),
                                  b.fold_results_.drop(columns=["fit_seconds",
                                                                "predict_seconds"]))
    assert a.best_params_ == b.best_params_


def test_randomized_search_draws(data):
    dists = {"rank": [2, 3, 4], "reg": stats.loguniform(0.5, 50.0)}
    kw = dict(n_iter=5, cv=2, random_state=7, refit=False, verbose=False)
    a = RandomizedSearch(ALS(n_iter=2), dists, **kw).fit(data)
    b = RandomizedSearch(ALS(n_iter=2), dists, **kw).fit(data)
    pa = list(a.results_["params"])
    assert pa == list(b.results_["params"]) and len(pa) == 5
    assert all(p["rank"] in (2, 3, 4) and 0.5 <= p["reg"] <= 50.0 for p in pa)
    assert len({p["reg"] for p in pa}) == 5
    # only lists and a grid no larger than n_iter: every point exactly once
    c = RandomizedSearch(ALS(n_iter=2), {"rank": [2, 3], "reg": [1.0, 5.0]}, **kw).fit(data)
    assert sorted(map(lambda p: (p["rank"], p["reg"]), c.results_["params"])) == [
        (2, 1.0), (2, 5.0), (3, 1.0), (3, 5.0)]
    for bad, match in ((dict(n_iter=0), "n_iter"), (dict(n_iter=2.5), "n_iter")):
        with pytest.raises(ValueError, match=match):
            RandomizedSearch(ALS(n_iter=2), dists, **(kw | bad)).fit(data)
    with pytest.raises(ValueError, match="param_distributions"):
        RandomizedSearch(ALS(n_iter=2), {}, **kw).fit(data)
    with pytest.raises(ValueError, match="'rnak'"):
        RandomizedSearch(ALS(n_iter=2), {"rnak": [1]}, **kw).fit(data)
