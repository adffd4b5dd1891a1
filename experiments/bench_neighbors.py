"""Benchmark of bayesrec.neighbors: Surprise, the course's loops, and MovieLens-20M scale.

Run ``python -m experiments.bench_neighbors [--part surprise,course,scale] [--repeats 3]``.

1. ``surprise`` (ml-latest-small, the suite's random 80/20 split, seed 0): scikit-surprise's
   ``KNNWithMeans`` (pearson, same k, ``min_k=1``, user-based and item-based) against
   ``UserKNN``/``ItemKNN`` with the same neighbourhood rule (per prediction the k most similar
   that rated the item, positive weights: ``neighborhood="rated", positive_only=True``).
   Both start from the training DataFrame and predict the test split by original ids; the
   times are medians over ``--repeats`` runs, measured in the same process.  Targets: time
   ratio <= 0.2, RMSE no worse than Surprise's by more than 0.005.  Surprise is a
   benchmark-only dependency (``pip install scikit-surprise``), never imported by the library.
2. ``course``: the course's nested-loop user-user CF (dicts, a loop over every pair of users,
   a sorted list of the 25 best, a loop over neighbours per prediction; means and deviations
   precomputed, which favours the course) on 1,000 users of the course's shrunk data (the
   10,000 most active users x 2,000 most rated items of a MovieLens-20M-shaped synthetic set).
   Its O(N^2 M) weight loop is timed on the first ``--course-rows`` target users and scaled to
   all 1,000, then extrapolated to the 10,000 users of the shrunk set.
3. ``scale``: on the MovieLens-20M-shaped synthetic set (138,493 users, 26,744 items, 20M
   ratings, 80/20 split), each in a fresh subprocess so that peak RSS is its own: item-item
   (both neighbourhoods) fitted in full, predictions of the 4M test pairs, peak RSS; user-user
   similarities timed on a sample of target users and extrapolated (the per-row work is
   independent of the other rows, so the total is linear in the number of rows).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

from bayesrec.data import (
    MOVIELENS_20M_SHAPE,
    Ratings,
    movielens_small,
    random_split,
    synthetic_ratings,
)
from bayesrec.metrics import rmse
from bayesrec.neighbors import ItemKNN, UserKNN

PEER = dict(neighborhood="rated", positive_only=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ surprise
def bench_surprise(repeats: int) -> None:
    from surprise import Dataset, KNNWithMeans, Reader

    ratings = movielens_small()
    train, test = random_split(ratings, 0.2, rng=0)
    frame = train.to_frame()
    t_users = test.user_ids[test.users]
    t_items = test.item_ids[test.items]
    UserKNN().fit(train.take(np.arange(2000)))  # load the compiled kernels before timing
    print("== scikit-surprise KNNWithMeans vs bayesrec.neighbors (ml-latest-small, "
          f"{len(train)} train / {len(test)} test ratings, median of {repeats})")

    def run_surprise(user_based, k):
        t0 = time.perf_counter()
        data = Dataset.load_from_df(frame[["userId", "movieId", "rating"]],
                                    Reader(rating_scale=ratings.rating_scale))
        algo = KNNWithMeans(k=k, min_k=1, verbose=False,
                            sim_options=dict(name="pearson", user_based=user_based))
        algo.fit(data.build_full_trainset())
        pred = np.array([algo.predict(u, i).est for u, i in zip(t_users, t_items)])
        return time.perf_counter() - t0, rmse(test.ratings, pred)

    def run_ours(Model, k, **kw):
        t0 = time.perf_counter()
        tr = Ratings.from_frame(frame, rating_scale=ratings.rating_scale)
        pred = Model(k=k, **kw).fit(tr).predict(t_users, t_items)
        return time.perf_counter() - t0, rmse(test.ratings, pred)

    for Model, user_based, k in ((UserKNN, True, 25), (ItemKNN, False, 20)):
        s_t, o_t = [], []
        for _ in range(repeats):  # interleaved, so that load drifts hit both
            t, s_rmse = run_surprise(user_based, k)
            s_t.append(t)
            t, o_rmse = run_ours(Model, k, **PEER)
            o_t.append(t)
        _, z_rmse = run_ours(Model, k, prior_weight=0.0, **PEER)
        c_t, c_rmse = run_ours(Model, k, neighborhood="fixed")
        s_med, o_med = float(np.median(s_t)), float(np.median(o_t))
        print(f"{Model.__name__} (k={k}): Surprise {s_med:.3f} s, RMSE {s_rmse:.4f} | ours "
              f"{o_med:.3f} s, RMSE {o_rmse:.4f}")
        print(f"   time ratio ours/Surprise = {o_med / s_med:.3f} (target <= 0.2); "
              f"RMSE ratio = {o_rmse / s_rmse:.4f}, RMSE difference = {o_rmse - s_rmse:+.4f} "
              f"(target <= +0.005)")
        print(f"   same without the prior (prior_weight=0, plain means as Surprise): RMSE "
              f"{z_rmse:.4f}; course neighbourhood (fixed k, default prior): {c_t:.3f} s, "
              f"RMSE {c_rmse:.4f}")


# ------------------------------------------------------------------------------ course
def course_user_user(rows: dict, n_targets: int, k: int = 25, limit: int = 5):
    """The course's loop (lecture formula: Pearson on the overlap), for the first targets."""
    users = list(rows)
    averages = {u: sum(r.values()) / len(r) for u, r in rows.items()}
    deviations = {u: {m: v - averages[u] for m, v in r.items()} for u, r in rows.items()}
    movie_sets = {u: set(r) for u, r in rows.items()}
    neighbors = {}
    for i in users[:n_targets]:
        sl = []  # sorted list of (-w, j), truncated to k (the course's SortedList)
        dev_i = deviations[i]
        for j in users:
            if j == i:
                continue
            common = movie_sets[i] & movie_sets[j]
            if len(common) >= limit:
                dev_j = deviations[j]
                num = sum(dev_i[m] * dev_j[m] for m in common)
                den = math.sqrt(sum(dev_i[m] ** 2 for m in common)
                                * sum(dev_j[m] ** 2 for m in common))
                if den > 0:
                    bisect.insort(sl, (-num / den, j))
                    if len(sl) > k:
                        del sl[-1]
        neighbors[i] = sl
    return neighbors, averages, deviations


def course_predict(neighbors, averages, deviations, i, m):
    numerator = denominator = 0.0
    for neg_w, j in neighbors[i]:
        if m in deviations[j]:
            numerator += -neg_w * deviations[j][m]
            denominator += abs(neg_w)
    pred = averages[i] + (numerator / denominator if denominator else 0.0)
    return min(5.0, max(0.5, pred))


def _shrunk_20m():
    r, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=10, rating_scale=(0.5, 5), step=0.5,
                             rng=0, with_timestamps=False)
    return r.most_active(10_000, 2_000)


def bench_course(n_rows: int) -> None:
    shrunk = _shrunk_20m()
    sub = shrunk.take(shrunk.users < 1000).compact()  # 1,000 of the 10,000 (random order)
    train, test = random_split(sub, 0.2, rng=0)
    print(f"== course nested loops vs UserKNN (1,000 users of the course's 10,000 x 2,000 "
          f"shrink of the 20M-shaped set: {len(train)} train ratings)")
    rows = {}
    for u, i, v in zip(train.users, train.items, train.ratings):
        rows.setdefault(int(u), {})[int(i)] = float(v)
    UserKNN().fit(train.take(np.arange(2000)))  # compiled kernels loaded before timing
    t0 = time.perf_counter()
    nbrs, avg, dev = course_user_user(rows, n_rows)
    t_loop = (time.perf_counter() - t0) * len(rows) / n_rows
    t0 = time.perf_counter()
    m = UserKNN(k=25, prior_weight=0.0, neighborhood="fixed").fit(train)
    pred = m.predict_ratings(test)
    t_ours = time.perf_counter() - t0
    # the course's predictions for the timed targets agree with ours
    sel = np.isin(test.users, list(nbrs)) & (train.user_counts[test.users] > 0)
    ref = [course_predict(nbrs, avg, dev, int(u), int(i))
           for u, i in zip(test.users[sel], test.items[sel])]
    gap = float(np.max(np.abs(np.asarray(ref) - pred[sel]))) if sel.any() else float("nan")
    n_big = shrunk.n_users
    t0 = time.perf_counter()
    UserKNN(k=25, prior_weight=0.0, neighborhood="fixed").fit(shrunk)
    t_big = time.perf_counter() - t0
    print(f"course loop, weights for 1,000 users: {t_loop:.1f} s (timed on {n_rows} "
          f"targets x all candidates, scaled x{len(rows) / n_rows:.0f}); ours fit+predict "
          f"{t_ours:.3f} s; speed-up {t_loop / t_ours:.0f}x (max |prediction gap| on the timed "
          f"users {gap:.1e})")
    scale = (n_big / len(rows)) ** 2  # O(N^2 M), M fixed by the shrink
    print(f"extrapolated to the {n_big:,} users of the shrink: course "
          f"{t_loop * scale / 3600:.1f} h vs ours {t_big:.2f} s measured (fit); "
          f"speed-up {t_loop * scale / t_big:.0f}x")


# ------------------------------------------------------------------------------ scale
def _scale_child(task: str) -> dict:
    t0 = time.perf_counter()
    r, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=10, rating_scale=(0.5, 5), step=0.5,
                             rng=0, with_timestamps=False)
    train, test = random_split(r, 0.2, rng=0)
    del r
    out = {"task": task, "data_s": time.perf_counter() - t0, "data_peak_mb": _peak_mb()}
    if task.startswith("item"):
        kw = PEER if task == "item-rated" else dict(neighborhood="fixed")
        t0 = time.perf_counter()
        m = ItemKNN(**kw).fit(train)
        out["fit_s"] = time.perf_counter() - t0
        out["fit_peak_mb"] = _peak_mb()
        t0 = time.perf_counter()
        pred = m.predict_ratings(test)
        out["predict_s"] = time.perf_counter() - t0
        out["rmse"] = rmse(test.ratings, pred)
        out["pool"] = m.pool_
    else:  # user-user: similarities of a sample of target rows, extrapolated
        from bayesrec.neighbors.similarity import top_k_similarities
        n_rows = int(task.split(":")[1])
        X = train.csr
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        means = (np.bincount(rows, X.data, X.shape[0]) + 5 * train.global_mean) / (
            np.diff(X.indptr) + 5)
        D = X.copy()
        D.data = X.data - means[rows]
        t0 = time.perf_counter()
        top_k_similarities(D, 25 * 20, 5, rows=(0, n_rows))
        t = time.perf_counter() - t0
        out.update(rows=n_rows, sample_s=t, extrapolated_s=t * X.shape[0] / n_rows,
                   fit_peak_mb=_peak_mb())
    out["peak_mb"] = _peak_mb()
    return out


def bench_scale(user_rows: int) -> None:
    print("== MovieLens-20M-shaped synthetic set (138,493 x 26,744, 20,000,263 ratings; "
          "16M train / 4M test), one subprocess per task")
    for task in ("item-fixed", "item-rated", f"user:{user_rows}"):
        res = subprocess.run([sys.executable, "-m", "experiments.bench_neighbors",
                              "--scale-child", task], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{task}: failed\n{res.stderr[-2000:]}")
            continue
        out = json.loads(res.stdout.strip().splitlines()[-1])
        if task.startswith("item"):
            print(f"ItemKNN {task[5:]} (pool {out['pool']}): fit {out['fit_s']:.1f} s, predict "
                  f"4M pairs {out['predict_s']:.1f} s, test RMSE {out['rmse']:.4f}; peak RSS "
                  f"{out['peak_mb']:.0f} MB (data and split alone: {out['data_peak_mb']:.0f} MB)")
        else:
            print(f"UserKNN similarities (rated pool 500): {out['rows']} of 138,493 users in "
                  f"{out['sample_s']:.1f} s -> all users ~{out['extrapolated_s'] / 60:.0f} min "
                  f"(2 threads); peak RSS {out['peak_mb']:.0f} MB (data and split alone: "
                  f"{out['data_peak_mb']:.0f} MB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="surprise,course,scale")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--course-rows", type=int, default=200)
    parser.add_argument("--user-rows", type=int, default=2000)
    parser.add_argument("--scale-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scale_child:
        print(json.dumps(_scale_child(args.scale_child)))
        return 0
    parts = args.part.split(",")
    if "surprise" in parts:
        bench_surprise(args.repeats)
    if "course" in parts:
        bench_course(args.course_rows)
    if "scale" in parts:
        bench_scale(args.user_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
