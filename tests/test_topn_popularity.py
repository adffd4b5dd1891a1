"""Popularity recommenders: counts, Beta posterior, Thompson draws, co-occurrence similarity."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesrec.data import Ratings, random_split, synthetic_ratings
from bayesrec.metrics import evaluate_topk
from bayesrec.popularity import BetaPopularity, MostPopular


@pytest.fixture(scope="module")
def data():
    return synthetic_ratings(120, 60, 1800, rank=2, rng=5)[0]


def test_most_popular_counts_and_lists(data):
    df = data.to_frame()
    for thr in (None, 4.0):
        sel = df if thr is None else df[df.rating >= thr]
        ref = sel.groupby("movieId").userId.nunique().reindex(data.item_ids, fill_value=0)
        m = MostPopular(threshold=thr).fit(data)
        np.testing.assert_array_equal(m.item_counts_, ref.to_numpy())
    m = MostPopular().fit(data)
    u = data.user_ids[3]
    rec = m.recommend(u, k=5)
    seen = set(df.movieId[df.userId == u])
    assert not seen & set(rec["item"])
    # the best unseen items by count, ties by index
    unseen = [i for i in np.argsort(-m.item_counts_, kind="stable")
              if data.item_ids[i] not in seen][:5]
    assert list(rec["item"]) == list(data.item_ids[unseen])
    # an unknown user gets the overall top 5
    top = data.item_ids[np.argsort(-m.item_counts_, kind="stable")[:5]]
    assert list(m.recommend("new user", k=5)["item"]) == list(top)


def test_beta_popularity_posterior_and_strategies(data):
    m = BetaPopularity(a=2.0, b=3.0, prob=0.9).fit(data)
    s = MostPopular().fit(data).item_counts_
    n = data.n_users
    np.testing.assert_allclose(m.alpha_, 2.0 + s)
    np.testing.assert_allclose(m.beta_, 3.0 + n - s)
    users = np.arange(4)
    np.testing.assert_allclose(m._score_users(users)[0],
                               stats.beta(2.0 + s, 3.0 + n - s).mean())
    np.testing.assert_allclose(m._score_users(users, strategy="lower_bound")[1],
                               stats.beta(2.0 + s, 3.0 + n - s).ppf(0.1), rtol=1e-8)
    t1 = m._score_users(users, strategy="thompson", random_state=0)
    t2 = m._score_users(users, strategy="thompson", random_state=0)
    np.testing.assert_array_equal(t1, t2)
    assert not np.allclose(t1[0], t1[1])          # one draw per user
    a = m.recommend_indices(np.arange(n), k=5, strategy="thompson", random_state=1)[0]
    b = m.recommend_indices(np.arange(n), k=5, strategy="thompson", random_state=1, block=7)[0]
    assert not np.array_equal(a[:7], a[7:14])     # blocks do not repeat a seeded stream
    assert a.shape == b.shape
    with pytest.raises(ValueError, match="strategy"):
        m.recommend(data.user_ids[0], strategy="max")
    with pytest.raises(ValueError, match="prob"):
        m.recommend(data.user_ids[0], strategy="lower_bound", prob=1.5)


def test_thompson_draws_follow_the_posterior(data):
    """Mean and sd of 4,000 per-user draws of one item match Beta(a + s, b + N - s).

    Power: the standard error of the mean is 1.6% of a posterior sd, so the 6%-of-sd
    tolerance (3.8 se) catches a 6% error; the sd is checked to 5% (its se is ~1.1%)."""
    m = BetaPopularity().fit(data)
    draws = m._score_users(np.zeros(4000, int), strategy="thompson", random_state=2)
    j = int(np.argmax(m.item_counts_))
    post = stats.beta(m.alpha_[j], m.beta_[j])
    assert abs(draws[:, j].mean() - post.mean()) < 0.06 * post.std()
    assert draws[:, j].std() == pytest.approx(post.std(), rel=0.05)


def test_similar_items_is_cosine_of_cointeractions(data):
    m = MostPopular().fit(data)
    dense = np.zeros(data.shape)
    dense[data.users, data.items] = 1.0
    item = data.item_ids[int(np.argmax(m.item_counts_))]
    i = int(data.item_index([item])[0])
    ref = {}
    for j in range(data.n_items):                 # slow loop reference
        co = float(dense[:, i] @ dense[:, j])
        if j != i and co > 0:
            ref[data.item_ids[j]] = co / np.sqrt(dense[:, i].sum() * dense[:, j].sum())
    sim = m.similar_items(item, k=5)
    best = sorted(ref.items(), key=lambda kv: -kv[1])[:5]
    np.testing.assert_allclose(sim["similarity"], [v for _, v in best])
    assert len(m.similar_items("unknown item", k=3)) == 0
    assert len(BetaPopularity().fit(data).similar_items(item, k=3)) == 3


def test_popularity_on_implicit_counts_and_in_evaluation():
    df = pd.DataFrame({"u": [1, 1, 2, 2, 3, 3, 3], "i": [1, 2, 1, 3, 1, 2, 4],
                       "plays": [5, 0, 1, 2, 7, 1, 1]})
    r = Ratings.from_frame(df, user_col="u", item_col="i", rating_col="plays", implicit=True)
    m = MostPopular().fit(r)
    # the zero count of (1, 2) is no interaction
    np.testing.assert_array_equal(m.item_counts_, [3, 1, 1, 1])
    base = synthetic_ratings(80, 50, 1200, rank=2, rng=9)[0]
    train, test = random_split(base, 0.25, rng=0)
    res = evaluate_topk(MostPopular().fit(train.to_implicit()), train, test)
    assert 0 <= res["ndcg@10"] <= 1 and res["n_users"] > 0
    with pytest.raises(ValueError):
        BetaPopularity(a=0.0).fit(train)
    with pytest.raises(ValueError):
        MostPopular(threshold="high").fit(train)


def test_saved_model_keeps_implicit_counts(tmp_path):
    import bayesrec
    r = Ratings.from_arrays([1, 1, 2, 3], [5, 6, 5, 6], [2, 0, 1, 4], implicit=True)
    m = MostPopular().fit(r)
    m.save(tmp_path / "pop.zip")
    back = bayesrec.load(tmp_path / "pop.zip")
    assert back.train_.implicit
    np.testing.assert_array_equal(back.train_.interactions(), r.interactions())
    pd.testing.assert_frame_equal(back.similar_items(5, k=2), m.similar_items(5, k=2))


def test_beta_popularity_counts_only_active_users(data):
    """``N`` is the number of users with at least one interaction under the threshold: a user
    whose ratings are all below it is no evidence about any item (counted here by pandas)."""
    df = data.to_frame()
    liked = df[df.rating >= 4.0]
    n_active = liked.userId.nunique()
    assert n_active < data.n_users                 # some users liked nothing
    s = liked.groupby("movieId").userId.nunique().reindex(data.item_ids, fill_value=0)
    m = BetaPopularity(a=2.0, b=3.0, threshold=4.0).fit(data)
    assert m.n_active_users_ == n_active
    np.testing.assert_allclose(m.alpha_, 2.0 + s.to_numpy())
    np.testing.assert_allclose(m.beta_, 3.0 + n_active - s.to_numpy())
