"""Non-personalized ranking of real movies: mean, smoothed mean, Wilson bound, Beta posterior.

The top-20 movies of ``ctx.data`` under four scores, side by side, and how each treats movies
with few ratings; a Thompson-sampling (randomized) ranking; Hacker News / reddit scores as
"trending" illustrations on the rating timestamps; timings of every score.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bayesrec.ranking import (
    REDDIT_EPOCH,
    BetaPosteriorRanker,
    hacker_news_score,
    item_statistics,
    reddit_hot,
    smoothed_average,
    wilson_lower_bound,
)
from experiments.framework import Context, Section

TITLE = "Non-personalized ranking: mean, smoothed mean, Wilson bound, Beta posterior"
ORDER = 10
THRESHOLD = 4.0   # a rating >= 4 is a like
TOP = 20


def empirical_bayes_weight(ratings, st: pd.DataFrame) -> tuple[float, float, float]:
    """Method-of-moments ``(lambda, sigma^2, tau^2)`` of the Normal model behind the smoothing.

    ``r_ij ~ N(mu_i, sigma^2)``, ``mu_i ~ N(mu0, tau^2)``; the conjugate posterior mean is
    :func:`smoothed_average` with ``lambda = sigma^2 / tau^2``.  ``sigma^2`` is the pooled
    within-movie variance; ``tau^2 = Var(item means) - sigma^2 mean(1 / n_i)``.
    """
    n = st["count"].to_numpy()
    sumsq = np.bincount(ratings.items, weights=ratings.ratings ** 2, minlength=ratings.n_items)
    rated = n > 0
    within = sumsq[rated] - st["sum"].to_numpy()[rated] ** 2 / n[rated]
    sigma2 = within.sum() / (n[rated] - 1).sum()
    means = st["mean"].to_numpy()[rated]
    tau2 = means.var() - sigma2 * np.mean(1.0 / n[rated])
    return float(sigma2 / tau2), float(sigma2), float(tau2)


def _cell(title: str, n: int) -> str:
    return f"{title[:38]} (n={n})"


def run(ctx: Context) -> Section:
    sec = Section(f"{TITLE} ({ctx.data_name})")
    r = ctx.data
    st = item_statistics(r, THRESHOLD)
    n = st["count"].to_numpy()
    rated = n > 0
    lam, sigma2, tau2 = empirical_bayes_weight(r, st)
    mu0 = r.global_mean

    timings = {}

    def timed(name, fn, *args, **kw):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        timings[name] = time.perf_counter() - t0
        return out

    mean = np.where(rated, st["mean"].to_numpy(), -np.inf)
    smooth = timed("smoothed_average", smoothed_average, st["sum"].to_numpy(), n, mu0, lam)
    wilson = timed("wilson_lower_bound", wilson_lower_bound, st["likes"].to_numpy(), n)
    ranker = BetaPosteriorRanker(a=1.0, b=1.0, credible=0.95, random_state=ctx.seed).fit(
        st["likes"].to_numpy(), st["dislikes"].to_numpy(), st.index.to_numpy())
    beta_lb = timed("BetaPosteriorRanker.lower_bound", ranker.lower_bound)
    scores = {"mean rating": mean, "smoothed mean": smooth, "Wilson lower bound (likes)": wilson,
              "Beta 2.5% quantile (likes)": beta_lb}

    sec.note(
        f"{len(r):,} ratings of {r.n_items:,} movies; a like is a rating >= {THRESHOLD}. "
        f"Smoothed mean: posterior mean of mu_i in r_ij ~ N(mu_i, sigma^2), mu_i ~ N(mu0, "
        f"sigma^2/lambda), with mu0 = global mean {mu0:.3f} and lambda = sigma^2 / tau^2 = "
        f"{sigma2:.3f} / {tau2:.3f} = {lam:.2f} pseudo-ratings (method-of-moments empirical "
        "Bayes). Wilson: 95% two-sided score interval of the like share (total 0 -> 0). "
        "Beta: the 2.5% quantile of Beta(1 + likes, 1 + dislikes), the Bayesian twin of Wilson.")

    ids = st.index.to_numpy()
    titles = np.array(ctx.titles(ids), dtype=object)
    top = {name: np.argsort(-s, kind="stable")[:TOP] for name, s in scores.items()}
    side = pd.DataFrame({name: [_cell(titles[i], n[i]) for i in idx] for name, idx in top.items()},
                        index=pd.RangeIndex(1, TOP + 1, name="rank"))
    sec.table(f"Top {TOP} movies under each score (n = number of ratings)", side)

    rows = {}
    for name, idx in top.items():
        s = scores[name]
        rows[name] = {
            "median n in top 20": float(np.median(n[idx])),
            "min n in top 20": int(n[idx].min()),
            "top-20 movies with n < 10": int((n[idx] < 10).sum()),
            "Spearman with mean (rated movies)": float(stats.spearmanr(s[rated],
                                                                       mean[rated])[0]),
            "Spearman with n (rated movies)": float(stats.spearmanr(s[rated], n[rated])[0]),
        }
    sec.table("How each score treats movies with few ratings",
              pd.DataFrame(rows).T.rename_axis("score"))
    few = rated & (n == 1)
    single_like_beta = float(BetaPosteriorRanker().fit([1], [0]).lower_bound()[0])
    sec.note(
        f"{int(few.sum())} movies have a single rating; {int((few & (mean == 5.0)).sum())} of "
        f"them a 5, so the plain mean puts one-rating movies at the top. The smoothed mean pulls "
        f"a single 5 to ({5} + {lam:.2f} x {mu0:.2f}) / (1 + {lam:.2f}) = "
        f"{(5 + lam * mu0) / (1 + lam):.2f}; a single like scores "
        f"{wilson_lower_bound(1, 1):.3f} (Wilson) and {single_like_beta:.3f} (Beta), "
        "far below well-established favourites.")

    fig, axes = plt.subplots(1, 4, figsize=(18, 4), sharex=True)
    for ax, (name, s) in zip(axes, scores.items()):
        ax.scatter(n[rated], s[rated], s=3, alpha=0.25, color="0.4")
        ax.scatter(n[top[name]], s[top[name]], s=14, color="C3", label=f"top {TOP}")
        ax.set(xscale="log", xlabel="ratings of the movie", title=name)
        ax.legend(loc="lower right")
    axes[0].set_ylabel("score")
    sec.figure("Score against number of ratings (red: the top 20). Bounds and shrinkage demote "
               "movies with few ratings", ctx.savefig(fig, "ranking_scores_vs_count"))

    # Thompson ranking: one posterior draw per movie and call -> a randomized top 20
    n_calls = 200
    counts = np.zeros(r.n_items)
    for _ in range(n_calls):
        counts[ranker.rank("thompson", k=TOP)] += 1
    seen = np.flatnonzero(counts)
    order = seen[np.argsort(-counts[seen], kind="stable")][:30]
    sec.table(f"Thompson ranking: share of {n_calls} randomized top-{TOP} lists containing the "
              f"movie ({seen.size} distinct movies appear)",
              pd.DataFrame({"movie": [t[:45] for t in titles[order]], "n": n[order],
                            "likes": st["likes"].to_numpy()[order],
                            "share in top 20": counts[order] / n_calls}).set_index("movie"))

    if r.has_timestamps:
        _trending(ctx, sec, r, st, titles, timings)
    sec.table("Time of each score on this data (seconds; 10^7 items: experiments/bench_bandits.py)",
              pd.DataFrame({"seconds": timings}).rename_axis("function"))
    return sec


def _trending(ctx, sec, r, st, titles, timings) -> None:
    """Hacker News and reddit scores on MovieLens, as of the last rating of the data: a movie is
    "submitted" at its first rating, its likes are up-votes and its dislikes down-votes."""
    first = np.full(r.n_items, np.iinfo(np.int64).max)
    np.minimum.at(first, r.items, r.timestamps)
    now = r.timestamps.max()
    ups = st["likes"].to_numpy()
    downs = st["dislikes"].to_numpy()
    age_hours = (now - first) / 3600.0
    t0 = time.perf_counter()
    hn = hacker_news_score(ups + 1, age_hours)          # + 1: the "submitter's" own vote
    timings["hacker_news_score"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hot = reddit_hot(ups, downs, first)
    timings["reddit_hot"] = time.perf_counter() - t0
    sec.note("Trending: with time in the formula, recency dominates over years of data: at "
             "gravity 1.8 (and under reddit) movies first rated in the last days win with one "
             "like; lower gravity trades recency for votes (gravity 0 would rank by likes "
             "alone). Under "
             "reddit, net +1, 0 and -1 all give a vote term of 0, so one dislike ties one like.")
    columns = [("Hacker News, gravity 1.8", hn)]
    columns += [(f"Hacker News, gravity {g}", hacker_news_score(ups + 1, age_hours, gravity=g))
                for g in (0.6, 0.5)]
    columns += [("reddit hot", hot)]
    table = {}
    for name, s in columns:
        idx = np.argsort(-s, kind="stable")[:10]
        table[name] = [f"{titles[i][:32]} (+{int(ups[i])}/-{int(downs[i])}, "
                       f"{age_hours[i] / 24:.0f} d)" for i in idx]
    sec.table("Trending illustrations on the rating timestamps (top 10)",
              pd.DataFrame(table, index=pd.RangeIndex(1, 11, name="rank")))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    hours = np.linspace(0, 48, 200)
    for v in (2, 10, 100, 1000):
        axes[0].plot(hours, hacker_news_score(v, hours), label=f"{v} votes")
    axes[0].set(yscale="log", xlabel="age (hours)", ylabel="score",
                title="Hacker News: (votes - 1)^0.8 / (age + 2)^1.8")
    axes[0].legend()
    created = REDDIT_EPOCH + np.linspace(0, 3 * 86400, 200)
    for net in (-100, 1, 10, 1000):
        ups_, downs_ = max(net, 0), max(-net, 0)
        axes[1].plot((created - REDDIT_EPOCH) / 3600, reddit_hot(ups_, downs_, created),
                     label=f"net votes {net:+d}")
    axes[1].set(xlabel="submission time (hours after reddit's epoch)", ylabel="hot score",
                title="reddit hot: 10x the votes = 12.5 h newer")
    axes[1].legend()
    sec.figure("Hacker News decay with age and reddit's trade of votes for recency",
               ctx.savefig(fig, "ranking_hn_reddit"))
