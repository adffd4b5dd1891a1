"""Tests of bayesrec.ranking and bayesrec.inference.beta: hand-computed values, edge cases,
monotonicity, and agreement with scipy / pandas / a sequential Bayesian update."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesrec.data import Ratings, movielens_small
from bayesrec.inference.beta import (
    beta_draws,
    beta_interval,
    beta_mean,
    beta_quantile,
    beta_update,
    beta_var,
)
from bayesrec.ranking import (
    REDDIT_EPOCH,
    BetaPosteriorRanker,
    hacker_news_score,
    item_statistics,
    reddit_hot,
    smoothed_average,
    wilson_lower_bound,
    wilson_upper_bound,
)


# ---------------------------------------------------------------------------- Hacker News
def test_hacker_news_hand_values():
    # (2 - 1)^0.8 / (0 + 2)^1 = 1 / 2
    assert hacker_news_score(2, 0, gravity=1.0) == pytest.approx(0.5)
    # (33 - 1)^0.8 = 2^4 = 16 and (2 + 2)^2 = 16
    assert hacker_news_score(33, 2, gravity=2.0) == pytest.approx(1.0)
    # default gravity 1.8: 4^0.8 / 12^1.8
    assert hacker_news_score(5, 10) == pytest.approx(4 ** 0.8 / 12 ** 1.8, rel=1e-12)
    # a penalty multiplies
    assert hacker_news_score(33, 2, gravity=2.0, penalty=0.25) == pytest.approx(0.25)


def test_hacker_news_votes_below_one_and_zero_votes():
    # votes <= 1 (none but the submitter's, zero, net-negative): defined as score 0, not NaN
    out = hacker_news_score(np.array([1, 0, -3, 0.5]), np.array([0, 5, 1, 100]))
    np.testing.assert_array_equal(out, 0.0)
    assert isinstance(hacker_news_score(0, 0), float)


def test_hacker_news_vectorized_monotone_and_ties():
    votes = np.array([10, 10, 20, 10])
    age = np.array([1.0, 1.0, 1.0, 5.0])
    s = hacker_news_score(votes, age)
    assert s.shape == (4,)
    assert s[0] == s[1]                # tie: same votes, same age
    assert s[2] > s[0] > s[3]          # more votes up, more age down
    # broadcasting a scalar age
    np.testing.assert_allclose(hacker_news_score(votes, 1.0)[:3], s[:3])


def test_hacker_news_bad_input():
    with pytest.raises(ValueError, match="age_hours"):
        hacker_news_score(3, -1)
    with pytest.raises(ValueError, match="votes"):
        hacker_news_score(np.nan, 1)
    with pytest.raises(ValueError, match="gravity"):
        hacker_news_score(3, 1, gravity=-1)
    with pytest.raises(ValueError, match="penalty"):
        hacker_news_score(3, 1, penalty=-0.5)


# ---------------------------------------------------------------------------- reddit
def test_reddit_hand_values():
    assert reddit_hot(10, 0, REDDIT_EPOCH) == pytest.approx(1.0)            # log10(10)
    assert reddit_hot(0, 100, REDDIT_EPOCH) == pytest.approx(-2.0)          # negative net votes
    assert reddit_hot(2, 12, REDDIT_EPOCH + 45000) == pytest.approx(0.0)    # -1 + 1
    assert reddit_hot(5, 5, REDDIT_EPOCH + 90000) == pytest.approx(2.0)     # s = 0: sign 0
    assert reddit_hot(1, 0, REDDIT_EPOCH) == 0.0                            # |s| = 1: log10 1
    assert reddit_hot(0, 0, REDDIT_EPOCH - 45000) == pytest.approx(-1.0)    # zero votes
    assert isinstance(reddit_hot(1, 0, REDDIT_EPOCH), float)


def test_reddit_datetime_inputs_agree_with_epoch_seconds():
    secs = np.array([REDDIT_EPOCH, REDDIT_EPOCH + 45000, 1_500_000_000])
    ups, downs = np.array([10, 3, 100]), np.array([0, 7, 1])
    expected = reddit_hot(ups, downs, secs)
    np.testing.assert_allclose(expected, [1.0, -np.log10(4) + 1.0,
                                          np.log10(99) + (1_500_000_000 - REDDIT_EPOCH)
                                          / 45000], rtol=1e-12)
    as_np = secs.astype("datetime64[s]")
    as_pd = pd.Series(pd.to_datetime(secs, unit="s"))
    as_py = [dt.datetime.fromtimestamp(int(s), dt.UTC).replace(tzinfo=None) for s in secs]
    as_aware = [dt.datetime.fromtimestamp(int(s), dt.timezone(dt.timedelta(hours=-5)))
                for s in secs]
    for created in (as_np, as_pd, pd.DatetimeIndex(as_pd), as_py, as_aware):
        np.testing.assert_allclose(reddit_hot(ups, downs, created), expected, rtol=1e-12)
    # launch second as a single naive datetime (UTC) and as a pandas Timestamp in UTC+1
    assert reddit_hot(10, 0, dt.datetime(2005, 12, 8, 7, 46, 43)) == pytest.approx(1.0)
    assert reddit_hot(10, 0, pd.Timestamp("2005-12-08T08:46:43+01:00")) == pytest.approx(1.0)


def test_reddit_ordering_and_bad_input():
    # ten times the votes is worth exactly 12.5 hours
    later = reddit_hot(10, 0, REDDIT_EPOCH + 45000)
    assert reddit_hot(100, 0, REDDIT_EPOCH) == pytest.approx(later)
    with pytest.raises(ValueError, match="ups"):
        reddit_hot(-1, 0, REDDIT_EPOCH)
    with pytest.raises(ValueError, match="created"):
        reddit_hot(1, 0, ["not a date"])
    with pytest.raises(ValueError, match="NaT"):
        reddit_hot([1], [0], np.array(["NaT"], dtype="datetime64[s]"))


# ---------------------------------------------------------------------------- Wilson
def test_wilson_hand_values():
    z1 = 2 * stats.norm.cdf(1.0) - 1        # confidence at which z = 1
    # p = 1, n = 1, z = 1: (1 + 1/2 -+ sqrt(0 + 1/4)) / 2 = 1/2 and 1
    assert wilson_lower_bound(1, 1, z1) == pytest.approx(0.5)
    assert wilson_upper_bound(1, 1, z1) == pytest.approx(1.0)
    # p = 0, n = 1, z = 1: (0 + 1/2 -+ 1/2) / 2 = 0 and 1/2
    assert wilson_lower_bound(0, 1, z1) == pytest.approx(0.0, abs=1e-15)
    assert wilson_upper_bound(0, 1, z1) == pytest.approx(0.5)
    # p = 1/2, n = 10, z = 1.959964: (0.5 + 0.192073 - 0.364594) / 1.384146 (by hand)
    assert wilson_lower_bound(5, 10) == pytest.approx(0.236593, abs=2e-6)
    assert wilson_upper_bound(5, 10) == pytest.approx(0.763407, abs=2e-6)


def test_wilson_total_zero_and_extremes():
    for conf in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999):
        assert wilson_lower_bound(0, 0, conf) == 0.0
        assert wilson_upper_bound(0, 0, conf) == 1.0
        np.testing.assert_array_equal(wilson_lower_bound(0, np.arange(50), conf), 0.0)
        np.testing.assert_array_equal(wilson_upper_bound(np.arange(50), np.arange(50), conf), 1.0)
    lo = wilson_lower_bound(np.array([0, 0, 7]), np.array([0, 9, 7]))
    assert lo[0] == 0.0 and lo[1] == 0.0 and 0 < lo[2] < 1
    assert wilson_upper_bound(7, 7) == 1.0


def test_wilson_agrees_with_scipy_binomtest():
    rng = np.random.default_rng(0)
    total = rng.integers(1, 500, size=60)
    positive = rng.binomial(total, rng.random(60))
    for conf in (0.8, 0.95, 0.99):
        lo = wilson_lower_bound(positive, total, conf)
        hi = wilson_upper_bound(positive, total, conf)
        ref = [stats.binomtest(int(k), int(n)).proportion_ci(conf, method="wilson")
               for k, n in zip(positive, total)]
        np.testing.assert_allclose(lo, [r.low for r in ref], atol=1e-12)
        np.testing.assert_allclose(hi, [r.high for r in ref], atol=1e-12)


def test_wilson_monotonicity():
    n = np.arange(1, 3001)
    for share in (0.0, 0.2, 0.5, 0.8, 1.0):
        # more votes at a fixed share (positive = share * n, fractional allowed) never lowers it
        lb = wilson_lower_bound(share * n, n)
        assert np.all(np.diff(lb) >= -1e-15)
    pos, tot = np.meshgrid(np.arange(0, 200), np.arange(0, 200))
    ok = pos <= tot
    pos, tot = pos[ok], tot[ok]
    base = wilson_lower_bound(pos, tot)
    assert np.all(wilson_lower_bound(pos + 1, tot + 1) >= base)         # one more up-vote
    assert np.all(wilson_lower_bound(pos, tot + 1) <= base + 1e-15)     # one more down-vote
    # ties: same counts give the same score; same share, fewer votes ranks lower
    assert wilson_lower_bound(3, 4) == wilson_lower_bound(3, 4)
    assert wilson_lower_bound(3, 4) < wilson_lower_bound(30, 40)


def test_wilson_bad_input():
    with pytest.raises(ValueError, match="exceeds"):
        wilson_lower_bound([3, 5], [4, 4])
    with pytest.raises(ValueError, match="total"):
        wilson_lower_bound(0, -1)
    with pytest.raises(ValueError, match="confidence"):
        wilson_lower_bound(1, 2, confidence=1.0)


# ---------------------------------------------------------------------------- smoothed mean
def test_smoothed_average_hand_values():
    # (10 + 5 * 3.5) / (2 + 5) = 27.5 / 7
    assert smoothed_average(10, 2, 3.5, 5) == pytest.approx(27.5 / 7)
    assert smoothed_average(0, 0, 3.5, 5) == pytest.approx(3.5)           # no ratings: mu0
    assert smoothed_average(9, 2, 3.5, 0) == pytest.approx(4.5)           # lambda 0: the mean
    out = smoothed_average(np.array([5.0, 50.0]), np.array([1, 10]), 3.0, 1.0)
    np.testing.assert_allclose(out, [4.0, 53 / 11])                       # ties at mean 5


def test_smoothed_average_is_sequential_normal_posterior_mean():
    # Independent computation: update a Normal prior N(mu0, sigma^2 / lambda) one rating at a
    # time with known noise sigma^2 (precision-weighted averaging); the mean must match.
    rng = np.random.default_rng(3)
    r = rng.normal(3.7, 0.9, size=25)
    mu0, lam, sigma2 = 3.2, 4.0, 0.81
    mean, prec = mu0, lam / sigma2
    for x in r:
        mean = (prec * mean + x / sigma2) / (prec + 1 / sigma2)
        prec += 1 / sigma2
    assert smoothed_average(r.sum(), r.size, mu0, lam) == pytest.approx(mean, rel=1e-12)


def test_smoothed_average_bad_input():
    with pytest.raises(ValueError, match="prior_weight"):
        smoothed_average(0, 0, 3.0, 0)
    with pytest.raises(ValueError, match="count"):
        smoothed_average(1, -1, 3.0, 1)


# ---------------------------------------------------------------------------- Beta inference
def test_beta_inference_helpers():
    a, b = beta_update(1.0, 1.0, [3, 0], [1, 0])
    np.testing.assert_array_equal(a, [4, 1])
    np.testing.assert_array_equal(b, [2, 1])
    np.testing.assert_allclose(beta_mean(a, b), [4 / 6, 0.5])
    np.testing.assert_allclose(beta_var(4, 2), stats.beta.var(4, 2))
    lo, hi = beta_interval(4, 2, 0.9)
    assert (lo, hi) == pytest.approx(stats.beta.ppf([0.05, 0.95], 4, 2))
    d = beta_draws(4.0, 2.0, np.random.default_rng(0), size=200_000)
    assert d.mean() == pytest.approx(4 / 6, abs=4 * np.sqrt(stats.beta.var(4, 2) / d.size))
    with pytest.raises(ValueError, match="Beta parameter a"):
        beta_update(0.0, 1.0, 1, 1)
    with pytest.raises(ValueError, match="successes"):
        beta_update(1.0, 1.0, -1, 1)
    with pytest.raises(ValueError, match="quantile"):
        beta_quantile(1.5, 1, 1)


def test_beta_quantile_large_arrays_match_scipy():
    # above the deduplication threshold; mixes lattice pairs, large counts and off-lattice values
    rng = np.random.default_rng(1)
    n = 150_000
    tot = np.floor(rng.lognormal(1.5, 1.5, n))
    s = rng.binomial(tot.astype(np.int64), 0.6).astype(float)
    a, b = 0.5 + s, 0.5 + (tot - s)
    b[:500] += rng.random(500)                      # off the lattice
    for q in (0.025, 0.5, 0.975):
        np.testing.assert_allclose(beta_quantile(q, a, b), stats.beta.ppf(q, a, b),
                                   rtol=1e-12, atol=1e-300)
    # most elements off the lattice: the direct path
    c = a + rng.random(n)
    np.testing.assert_allclose(beta_quantile(0.1, c, b), stats.beta.ppf(0.1, c, b), rtol=1e-12)
    assert isinstance(beta_quantile(0.5, 2, 3), float)


# ---------------------------------------------------------------------------- Beta ranker
def test_beta_ranker_scores():
    rk = BetaPosteriorRanker(a=1, b=1, credible=0.9).fit([3, 0, 30, 3], [1, 0, 10, 1])
    np.testing.assert_allclose(rk.posterior_mean(), [4 / 6, 0.5, 31 / 42, 4 / 6])
    np.testing.assert_allclose(rk.lower_bound(), stats.beta.ppf(0.05, [4, 1, 31, 4],
                                                                [2, 1, 11, 2]))
    np.testing.assert_allclose(rk.upper_bound(0.5), stats.beta.ppf(0.75, [4, 1, 31, 4],
                                                                   [2, 1, 11, 2]))
    # ties keep index order; the lower bound demotes the item with few votes
    np.testing.assert_array_equal(rk.rank("mean"), [2, 0, 3, 1])
    assert rk.rank("lower", k=1)[0] == 2
    # a per-item prior
    rk2 = BetaPosteriorRanker(a=[1, 2, 1, 1], b=1).fit([3, 0, 30, 3], [1, 0, 10, 1])
    assert rk2.posterior_mean()[1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="method"):
        rk.scores("median")
    with pytest.raises(ValueError, match="prior a"):
        BetaPosteriorRanker(a=[1, 2]).fit([1, 2, 3], [1, 1, 1])
    with pytest.raises(ValueError, match="failures"):
        BetaPosteriorRanker().fit([1, 2], [1, -1])


def test_top_k_rank_equals_prefix_of_stable_sort():
    rng = np.random.default_rng(2)
    rk = BetaPosteriorRanker().fit(rng.integers(0, 4, 500), rng.integers(0, 4, 500))  # many ties
    full = rk.rank("mean")
    np.testing.assert_array_equal(full, np.argsort(-rk.posterior_mean(), kind="stable"))
    for k in (0, 1, 7, 33, 499, 500, 800):
        np.testing.assert_array_equal(rk.rank("mean", k=k), full[:k])


def test_beta_ranker_thompson_frequency_and_reproducibility():
    # Item 0 ~ Beta(2, 1), item 1 ~ Beta(1, 2): P(theta_0 > theta_1) = int 2x (2x - x^2) dx = 5/6
    rk = BetaPosteriorRanker(random_state=7).fit([1, 0], [0, 1])
    n = 20_000
    first = np.array([rk.rank("thompson")[0] for _ in range(n)])
    share = np.mean(first == 0)
    assert share == pytest.approx(5 / 6, abs=4 * np.sqrt(5 / 36 / n))
    a = BetaPosteriorRanker(random_state=3).fit([1, 5, 2], [4, 1, 2])
    b = BetaPosteriorRanker(random_state=3).fit([1, 5, 2], [4, 1, 2])
    np.testing.assert_array_equal([a.scores("thompson") for _ in range(5)],
                                  [b.scores("thompson") for _ in range(5)])
    np.testing.assert_array_equal(a.sample(np.random.default_rng(1)),
                                  b.sample(np.random.default_rng(1)))


def test_beta_ranker_online_update_equals_batch_fit():
    rng = np.random.default_rng(5)
    items = rng.integers(0, 4, size=300)
    liked = rng.random(300) < 0.4
    rk = BetaPosteriorRanker().fit(np.zeros(4), np.zeros(4))
    rk.update(items[:100], liked[:100]).update(items[100:], liked[100:])
    s = np.bincount(items, weights=liked, minlength=4)
    f = np.bincount(items, weights=~liked, minlength=4)
    batch = BetaPosteriorRanker().fit(s, f)
    np.testing.assert_allclose(rk.lower_bound(), batch.lower_bound())
    with pytest.raises(ValueError, match="items"):
        rk.update([4], [1])
    with pytest.raises(ValueError, match="liked"):
        rk.update([0], [2])


def test_beta_ranker_posterior_datatree():
    rk = BetaPosteriorRanker(random_state=0).fit([5, 40], [5, 10], item_ids=["x", "y"])
    tree = rk.posterior(n_draws=4000)
    theta = tree["posterior"]["theta"]
    assert theta.dims == ("chain", "draw", "item")
    assert list(theta["item"].values) == ["x", "y"]
    sd = np.sqrt(beta_var(rk.alpha_, rk.beta_) / 4000)
    err = np.abs(theta.mean(("chain", "draw")).values - rk.posterior_mean())
    assert np.all(err < 4 * sd)
    np.testing.assert_array_equal(tree["constant_data"]["successes"], [5, 40])


# ---------------------------------------------------------------------------- MovieLens inputs
def test_item_statistics_matches_pandas_groupby():
    r = movielens_small()
    st = item_statistics(r, threshold=4.0)
    df = r.to_frame()
    g = df.groupby("movieId")["rating"]
    ref = pd.DataFrame({"count": g.size(), "sum": g.sum(),
                        "likes": g.apply(lambda x: int((x >= 4.0).sum()))})
    ref = ref.loc[st.index]
    np.testing.assert_array_equal(st["count"], ref["count"])
    np.testing.assert_allclose(st["sum"], ref["sum"])
    np.testing.assert_array_equal(st["likes"], ref["likes"])
    np.testing.assert_array_equal(st["dislikes"], st["count"] - st["likes"])
    assert st.index.name == "item_id" and len(st) == r.n_items
    # every score ranks real movies
    rk = BetaPosteriorRanker.from_ratings(r, threshold=4.0)
    assert rk.n_items == r.n_items
    wl = wilson_lower_bound(st["likes"].to_numpy(), st["count"].to_numpy())
    assert np.all((wl >= 0) & (wl <= 1))


def test_item_statistics_unrated_item_and_threshold():
    r = Ratings.from_arrays([1, 1, 2], [10, 20, 10], [5.0, 2.0, 3.5]).take([0, 2])
    st = item_statistics(r, threshold=3.5)
    assert st.loc[10, "likes"] == 2 and st.loc[10, "dislikes"] == 0
    assert st.loc[20, "count"] == 0 and np.isnan(st.loc[20, "mean"])
