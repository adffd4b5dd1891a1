"""Top-N benchmark: bayesrec's implicit models against implicit (ALS, BPR), hpfrec and EASE.

``python -m experiments.bench_topn [--parts 1,2,3,4,5]``; peers are benchmark-only
(``pip install -e ".[bench]"``), never imported by the library or the tests.

1. Accuracy on the embedded data's test split (random 80/20, seed 0; relevant = held-out
   rating >= 4; seen items excluded; k = 10).  Every implicit model sees who rated what.  The
   peers' small grids (implicit ALS and BPR, EASE's lambda) are tuned on a validation split
   carved from the training rows (20%, seed 1), as the bayesrec defaults were
   (``experiments/topn.py``); hpfrec runs with bayesrec HPF's rank and its own defaults.
   ImplicitBPMF runs with several chain seeds (``--seeds``) and counts with their median.
   Target: the best of HPF / ImplicitBPMF reaches the best peer's NDCG@10.  A paired
   bootstrap over the test users gives the interval of ImplicitBPMF's (median seed) gap to
   the best peer.
2. Speed, one thread each, same K (ImplicitBPMF's default rank, or ``--rank``): ImplicitBPMF
   seconds per Gibbs sweep, with each of its samplers (the single-site default and the
   blocked one), against implicit's ALS seconds per iteration (conjugate-gradient solver,
   its default) on the embedded data, measured in the same run, repeated, medians.
   Target: ratio <= 2 for the default sampler.
3. MovieLens-20M shape (synthetic interactions from ``synthetic_ratings`` with
   ``MOVIELENS_20M_SHAPE``), each side in a child process (run it with no other
   big job running): seconds per sweep / iteration and peak memory
   (whole process, data included), ImplicitBPMF with its default sampler; then the peak
   memory of a whole ImplicitBPMF fit that keeps the default bank of draws (chains cut to
   the sweeps that fill the bank, :func:`time_bpmf_fit`).  Target: <= 6 GB.
4. (not run by default) ImplicitBPMF's defaults against EASE on three validation splits of
   the training data, each with EASE's lambda picked on that split: is the order of the two
   on the test split more than the noise of one split?
5. (not run by default) part 1's protocol, ImplicitBPMF against EASE only, on five other
   random 80/20 splits of the whole data (seeds 1-5), with the caveat of
   :func:`part_outer_splits`.

EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019) is written here:
``B = I - P diagMat(1 / diag P)``, ``P = (X^T X + lambda I)^-1``, scores ``X B``; its dense
item-item inverse is restricted to items with at least 3 training interactions (the others are
never recommended by it), which keeps the inversion to seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bayesrec.base import top_k
from bayesrec.data import MOVIELENS_20M_SHAPE, movielens_small, random_split, synthetic_ratings
from bayesrec.factorization import HPF, ImplicitALS, ImplicitBPMF
from bayesrec.factorization.implicit.wmf._bpmf import SAMPLERS
from bayesrec.metrics import evaluate_topk, evaluate_topk_per_user
from bayesrec.model_selection import paired_bootstrap
from bayesrec.popularity import MostPopular
from experiments.benchtools import peak_memory_gb

K_EVAL = 10
THRESHOLD = 4.0


# ------------------------------------------------------------------ peers as ranked models
class ScoreModel:
    """A peer wrapped for :func:`bayesrec.metrics.evaluate_topk`: ``scores(users)`` gives the
    (n, n_items) block; training items are excluded like every bayesrec model does."""

    def __init__(self, train, scores):
        self.train_ = train
        self.scores = scores

    def recommend_indices(self, users, k=10, exclude_seen=True, **options):
        users = np.asarray(users)
        out_i = np.empty((len(users), k), np.int64)
        out_s = np.empty((len(users), k))
        csr = self.train_.csr
        for s in range(0, len(users), 512):
            ub = users[s:s + 512]
            sc = np.array(self.scores(ub), dtype=np.float64)
            sub = csr[ub]
            sc[np.repeat(np.arange(len(ub)), np.diff(sub.indptr)), sub.indices] = -np.inf
            best = top_k(sc, k)
            out_i[s:s + 512] = best
            out_s[s:s + 512] = np.take_along_axis(sc, best, 1)
        return out_i, out_s


def interactions(train) -> sp.csr_matrix:
    x = train.csr.copy()
    x.data = np.ones_like(x.data)
    return x.astype(np.float32)


def fit_implicit(kind: str, train, params: dict, threads: int = 1):
    import implicit
    from threadpoolctl import threadpool_limits
    x = interactions(train)
    # implicit asks for a single-threaded BLAS (its own threads do the work)
    with threadpool_limits(1, "blas"):
        if kind == "als":
            model = implicit.als.AlternatingLeastSquares(**params, num_threads=threads,
                                                         random_state=0)
        else:
            model = implicit.bpr.BayesianPersonalizedRanking(**params, num_threads=threads,
                                                             random_state=0)
        model.fit(x, show_progress=False)
    uf, itf = np.asarray(model.user_factors), np.asarray(model.item_factors)
    return ScoreModel(train, lambda u: uf[u] @ itf.T)


def fit_ease(train, lam: float, min_count: int = 3):
    x = interactions(train).astype(np.float64)
    keep = np.flatnonzero(np.asarray(x.sum(0)).ravel() >= min_count)
    xs = x[:, keep]
    g = (xs.T @ xs).toarray()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0

    def scores(u):
        out = np.full((len(u), train.n_items), -np.inf)
        out[:, keep] = xs[u] @ b
        return out
    return ScoreModel(train, scores)


def fit_hpfrec(train, k: int, maxiter: int = 100):
    import hpfrec
    df = pd.DataFrame({"UserId": train.users.astype(np.int64),
                       "ItemId": train.items.astype(np.int64),
                       "Count": np.ones(len(train))})
    model = hpfrec.HPF(k=k, maxiter=maxiter, ncores=1, random_seed=0, verbose=False,
                       reindex=True, stop_crit="maxiter", check_every=10)
    model.fit(df)
    theta = np.zeros((train.n_users, k))
    beta = np.zeros((train.n_items, k))
    theta[np.asarray(model.user_mapping_, dtype=np.int64)] = model.Theta
    beta[np.asarray(model.item_mapping_, dtype=np.int64)] = model.Beta
    return ScoreModel(train, lambda u: theta[u] @ beta.T)


PEER_GRIDS = {
    "implicit ALS": ("als", [{"factors": f, "regularization": r, "alpha": a, "iterations": 15}
                             for f in (32, 64) for r in (0.1, 1.0, 10.0) for a in (1.0, 5.0)]),
    "implicit BPR": ("bpr", [{"factors": f, "learning_rate": lr, "regularization": 0.01,
                              "iterations": it}
                             for f in (32, 64) for lr in (0.01, 0.05) for it in (100, 300)]),
}
EASE_GRID = [100.0, 500.0, 1000.0, 3000.0]


def tune_ease(fit_set, val) -> float:
    """EASE's lambda with the best validation NDCG@10 over ``EASE_GRID``."""
    return max((_ndcg(fit_ease(fit_set, lam), fit_set, val), lam) for lam in EASE_GRID)[1]


def _ndcg(model, train, test) -> float:
    return evaluate_topk(model, train, test, k=K_EVAL, threshold=THRESHOLD)[f"ndcg@{K_EVAL}"]


def part_accuracy(seeds=(0, 1, 2)):
    data = movielens_small()
    train, test = random_split(data, test_size=0.2, rng=0)
    fit_set, val = random_split(train, test_size=0.2, rng=1)
    rows = []
    per_user = {}

    def add(name, build, settings=""):
        t0 = time.perf_counter()
        model = build(train)
        seconds = time.perf_counter() - t0
        res = evaluate_topk(model, train, test, k=K_EVAL, threshold=THRESHOLD)
        per_user[name] = evaluate_topk_per_user(model, train, test, k=K_EVAL,
                                                threshold=THRESHOLD)[f"ndcg@{K_EVAL}"]
        rows.append({"model": name, "settings": settings, "ndcg@10": res["ndcg@10"],
                     "precision@10": res["precision@10"], "recall@10": res["recall@10"],
                     "map@10": res["map@10"], "coverage": res["coverage"],
                     "fit seconds": seconds})
        print(f"  {name:28s} ndcg@10 {res['ndcg@10']:.4f}  ({seconds:.1f} s) {settings}",
              flush=True)

    print("== 1. accuracy on the test split (peers tuned on validation)")
    add("MostPopular", lambda t: MostPopular().fit(t))
    hpf_rank = HPF().rank
    add("bayesrec HPF (CAVI)", lambda t: HPF(method="cavi", random_state=0).fit(t),
        "defaults")
    add("bayesrec HPF (Gibbs)", lambda t: HPF(method="gibbs", random_state=0).fit(t),
        "defaults")
    add("bayesrec ImplicitALS", lambda t: ImplicitALS(random_state=0).fit(t), "defaults")
    bpmf_rows = []
    for seed in seeds:
        bpmf_rows.append(f"bayesrec ImplicitBPMF (seed {seed})")
        add(bpmf_rows[-1], lambda t, seed=seed: ImplicitBPMF(verbose=False,
                                                             random_state=seed).fit(t),
            "defaults")
    for name, (kind, grid) in PEER_GRIDS.items():
        scores = [(_ndcg(fit_implicit(kind, fit_set, p), fit_set, val), i)
                  for i, p in enumerate(grid)]
        best = grid[max(scores)[1]]
        add(name, lambda t, kind=kind, best=best: fit_implicit(kind, t, best), str(best))
    lam = tune_ease(fit_set, val)
    add("EASE", lambda t: fit_ease(t, lam), f"lambda={lam}")
    add("hpfrec HPF", lambda t: fit_hpfrec(t, hpf_rank), f"k={hpf_rank}, maxiter=100")
    table = pd.DataFrame(rows).set_index("model")
    # ImplicitBPMF counts with the median over its seeds (a lucky chain is no result)
    bpmf = table.loc[bpmf_rows, "ndcg@10"]
    ours = pd.concat([table.loc[["bayesrec HPF (CAVI)", "bayesrec HPF (Gibbs)"], "ndcg@10"],
                      pd.Series({"bayesrec ImplicitBPMF (median over seeds)":
                                 float(bpmf.median())})])
    peers = table.loc[["implicit ALS", "implicit BPR", "EASE", "hpfrec HPF"], "ndcg@10"]
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"best of HPF / ImplicitBPMF: {ours.max():.4f} ({ours.idxmax()}); best peer: "
          f"{peers.max():.4f} ({peers.idxmax()}); ratio {ours.max() / peers.max():.3f} "
          f"(target >= 1); ImplicitBPMF over seeds {list(seeds)}: min {bpmf.min():.4f}, "
          f"max {bpmf.max():.4f}")
    median_seed = (bpmf - bpmf.median()).abs().idxmin()
    _print_gap(per_user[median_seed], per_user[peers.idxmax()],
               f"{median_seed} - {peers.idxmax()}")
    return table


def _print_gap(ours, peer, label: str):
    """Paired bootstrap of the per-user NDCG@10 difference (the same test users)."""
    gap = paired_bootstrap(ours, peer, n_boot=10_000, random_state=0)
    print(f"  paired bootstrap over {gap['n_users']} users, {label}: "
          f"{gap['difference']:+.4f} (95% interval {gap['low']:+.4f} .. {gap['high']:+.4f}; "
          f"share of resamples above 0: {gap['share_above_zero']:.2f})", flush=True)


def _versus_ease(splits) -> pd.DataFrame:
    """ImplicitBPMF's defaults against EASE on each ``(label, fit_set, eval_set, lam)``:
    per-split NDCG@10 with a paired bootstrap of the gap, then the means over splits."""
    rows = []
    for label, fit_set, eval_set, lam in splits:
        ours = ImplicitBPMF(verbose=False, random_state=0).fit(fit_set)
        pu = {name: evaluate_topk_per_user(m, fit_set, eval_set, k=K_EVAL,
                                           threshold=THRESHOLD)[f"ndcg@{K_EVAL}"]
              for name, m in (("ImplicitBPMF", ours), ("EASE", fit_ease(fit_set, lam)))}
        rows.append({"split": label, "ImplicitBPMF": pu["ImplicitBPMF"].mean(),
                     "EASE": pu["EASE"].mean(), "EASE lambda": lam})
        print(f"  {label}: ImplicitBPMF {rows[-1]['ImplicitBPMF']:.4f}, EASE "
              f"{rows[-1]['EASE']:.4f} (lambda {lam:g})", flush=True)
        _print_gap(pu["ImplicitBPMF"], pu["EASE"], "ImplicitBPMF - EASE")
    table = pd.DataFrame(rows).set_index("split")
    wins = int((table["ImplicitBPMF"] >= table["EASE"]).sum())
    print(f"  mean over splits: ImplicitBPMF {table['ImplicitBPMF'].mean():.4f}, EASE "
          f"{table['EASE'].mean():.4f}, ratio "
          f"{table['ImplicitBPMF'].mean() / table['EASE'].mean():.3f}; ImplicitBPMF at least "
          f"as high on {wins} of {len(table)} splits")
    return table


def part_validation_folds(folds=(1, 2, 3)):
    """ImplicitBPMF's defaults against EASE on several validation splits of the training data
    (EASE's lambda picked on each split itself, which favours EASE): how stable the ranking
    of the two is beyond the one test split."""
    print(f"== 4. validation splits {list(folds)} of the training data (20% each)")
    train, _ = random_split(movielens_small(), test_size=0.2, rng=0)

    def splits():
        for fold in folds:
            fit_set, val = random_split(train, test_size=0.2, rng=fold)
            yield f"fold {fold}", fit_set, val, tune_ease(fit_set, val)
    return _versus_ease(splits())


def part_outer_splits(seeds=(1, 2, 3, 4, 5)):
    """The test-split protocol of part 1 repeated on other random 80/20 splits of the whole
    data (seed ``s`` instead of 0; EASE's lambda tuned on a validation split of that split's
    training rows).  ImplicitBPMF's defaults were chosen on validation splits of seed 0's
    training rows, which overlap these test rows: a spread of the comparison over splits,
    not a clean held-out result."""
    print(f"== 5. other test splits {list(seeds)} of the whole data (20% each)")
    data = movielens_small()

    def splits():
        for seed in seeds:
            train, test = random_split(data, test_size=0.2, rng=seed)
            fit_set, val = random_split(train, test_size=0.2, rng=1)
            yield f"split {seed}", train, test, tune_ease(fit_set, val)
    return _versus_ease(splits())


# ------------------------------------------------------------------ speed
def _one_thread():
    import numba
    from threadpoolctl import threadpool_limits
    numba.set_num_threads(1)
    return threadpool_limits(1)


def time_bpmf_sweeps(train, rank: int, n_sweeps: int, sampler: str | None = None) -> float:
    """Seconds per ImplicitBPMF Gibbs sweep (median over the sweeps, after one warm-up) with
    ``sampler`` (default: the estimator's)."""
    from bayesrec.factorization.implicit.wmf._data import WMFData
    from bayesrec.factorization.implicit.wmf._sweep import init_state, sweep
    model = ImplicitBPMF(rank=rank)
    p = model._validated()
    prior = model._prior(p)
    # the data exactly as the estimator builds them (confidence, activity weights)
    data = WMFData.from_ratings(train, p["confidence"], p["activity_exponent"])
    sampler = p["sampler"] if sampler is None else sampler
    rng = np.random.default_rng(0)
    state = sweep(init_state(data, prior, rng), data, prior, rng, sampler=sampler)
    times = []
    for _ in range(n_sweeps):
        t0 = time.perf_counter()
        state = sweep(state, data, prior, rng, sampler=sampler)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_bpmf_fit(train, rank: int) -> float:
    """Seconds of a whole ImplicitBPMF fit that keeps the default bank of draws.

    The chains are cut to the sweeps the bank needs (no burn-in, every retained draw banked):
    the memory of a default fit (data, sweeps and the bank of ``n_predictive_draws`` draws)
    without its full run time."""
    default = ImplicitBPMF(rank=rank)
    per_chain = -(-default.n_predictive_draws // default.n_chains)
    t0 = time.perf_counter()
    model = ImplicitBPMF(rank=rank, burn_in=0, n_samples=per_chain, verbose=False,
                         random_state=0).fit(train)
    seconds = time.perf_counter() - t0
    assert len(model.bank_user_factors_) == default.n_predictive_draws
    return seconds


def time_implicit_als(train, rank: int, n_iter: int) -> float:
    """Seconds per iteration of implicit's ALS (one thread, its default CG solver)."""
    import implicit
    x = interactions(train)
    model = implicit.als.AlternatingLeastSquares(factors=rank, iterations=1, num_threads=1,
                                                 random_state=0)
    model.fit(x, show_progress=False)                       # warm-up (and JIT of nothing)
    model = implicit.als.AlternatingLeastSquares(factors=rank, iterations=n_iter,
                                                 num_threads=1, random_state=0)
    t0 = time.perf_counter()
    model.fit(x, show_progress=False)
    return (time.perf_counter() - t0) / n_iter


def part_speed(rank: int, repeats: int):
    print(f"== 2. speed, one thread each, K={rank}, embedded data (median of {repeats})")
    with _one_thread():
        data = movielens_small()
        train, _ = random_split(data, test_size=0.2, rng=0)
        ours = {name: [] for name in SAMPLERS}
        peer = []
        for _ in range(repeats):
            for name in SAMPLERS:
                ours[name].append(time_bpmf_sweeps(train, rank, 10, name))
            peer.append(time_implicit_als(train, rank, 10))
    p = float(np.median(peer))
    default = ImplicitBPMF().sampler
    for name in SAMPLERS:
        o = float(np.median(ours[name]))
        print(f"  ImplicitBPMF (sampler={name!r}{', the default' if name == default else ''}) "
              f"{o * 1e3:.1f} ms/sweep, implicit ALS {p * 1e3:.1f} ms/iteration, ratio "
              f"{o / p:.2f} (target <= 2)")
    return {name: float(np.median(v)) for name, v in ours.items()}, p


def child_20m(which: str, rank: int, n: int):
    with _one_thread() if which != "ours-2threads" else _nothing():
        ratings, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=5, rng=0,
                                       with_timestamps=False)
        imp = ratings.to_implicit()
        del ratings
        if which == "ours-fit":
            sec = time_bpmf_fit(imp, rank)
        elif which.startswith("ours"):
            sec = time_bpmf_sweeps(imp, rank, n)
        else:
            sec = time_implicit_als(imp, rank, n)
    print(json.dumps({"seconds": sec, "peak_gb": peak_memory_gb()}))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_child(args):
    out = subprocess.run([sys.executable, "-m", "experiments.bench_topn", "--child", *args],
                         capture_output=True, text=True, env={**os.environ})
    if out.returncode != 0:
        print(out.stderr[-3000:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_20m(rank: int, n: int):
    print(f"== 3. MovieLens-20M shape ({MOVIELENS_20M_SHAPE}), K={rank}, one thread each")
    res = {}
    for which in ("ours", "implicit-als", "ours-fit"):
        res[which] = run_child([which, str(rank), str(n)])
        print(f"  {which:14s} {res[which]}", flush=True)
    if res["ours"] and res["implicit-als"]:
        print(f"  ratio {res['ours']['seconds'] / res['implicit-als']['seconds']:.2f}; "
              f"ImplicitBPMF peak {res['ours']['peak_gb']:.2f} GB while sweeping")
    if res["ours-fit"]:
        print(f"  a whole ImplicitBPMF fit with its default bank of "
              f"{ImplicitBPMF().n_predictive_draws} draws: peak "
              f"{res['ours-fit']['peak_gb']:.2f} GB (target <= 6)")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="1,2,3")
    ap.add_argument("--rank", type=int, default=None,
                    help="K of parts 2 and 3 (default: ImplicitBPMF's default rank)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-20m", type=int, default=3, help="sweeps / iterations at 20M shape")
    ap.add_argument("--seeds", default="0,1,2", help="ImplicitBPMF chain seeds (part 1)")
    ap.add_argument("--child", nargs="*")
    a = ap.parse_args(argv)
    if a.child:
        child_20m(a.child[0], int(a.child[1]), int(a.child[2]))
        return
    parts = {int(p) for p in a.parts.split(",")}
    rank = ImplicitBPMF().rank if a.rank is None else a.rank
    if 1 in parts:
        part_accuracy(tuple(int(v) for v in a.seeds.split(",")))
    if 2 in parts:
        part_speed(rank, a.repeats)
    if 3 in parts:
        part_20m(rank, a.n_20m)
    if 4 in parts:
        part_validation_folds()
    if 5 in parts:
        part_outer_splits()


if __name__ == "__main__":
    main()
