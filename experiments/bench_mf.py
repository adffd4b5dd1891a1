"""Benchmark of the matrix-factorization baselines against scikit-surprise, plus ALS at 20M scale.

Run::

    .venv/bin/python -m experiments.bench_mf                 # both parts
    .venv/bin/python -m experiments.bench_mf --skip-20m      # ml-latest-small vs Surprise only
    .venv/bin/python -m experiments.bench_mf --only-20m      # ALS on the 20M-shaped set only

Part 1 (embedded ml-latest-small, random 80/20 split with seed 0): every model and its
Surprise peer are fitted ``--repeats`` times in this run, alternating, and the median fit times
and their ratio are printed with the test RMSEs (predictions clipped to the scale, as Surprise
does).  Targets: ALS <= 1/2 of Surprise SVD's fit time at equal or better RMSE;
SVDpp <= 1/5 of Surprise SVDpp's at RMSE no worse by more than 0.003; FunkSVD no slower than
Surprise SVD at equal RMSE.  Data structures are built before timing on both sides (Surprise's
``Trainset``, our ``Ratings.csr``/``csc``); numba compilation is done (or loaded from its cache)
by a warm-up fit whose time is printed separately.

Part 2: ALS (rank 10) on ``synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=10,
rating_scale=(0.5, 5), step=0.5, rng=0)``: seconds per iteration (sweep alone and with the loss
evaluation) and the peak resident memory while fitting (sampled every 20 ms from /proc), against
the targets < 30 s per iteration and < 6 GB.

scikit-surprise is a benchmark-only dependency (``pip install scikit-surprise``), never imported
by the library or the tests.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time

import numpy as np
import pandas as pd

from bayesrec.data import MOVIELENS_20M_SHAPE, movielens_small, synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import ALS, FunkSVD, SVDpp
from bayesrec.metrics import rmse

# our configurations next to the Surprise peer they are compared with
ALS_FAST = dict(rank=3, reg=8.0, n_iter=5)
ALS_RANK10 = dict(rank=10, reg=12.0, n_iter=5)
ALS_DEFAULT = dict(rank=10, reg=20.0, n_iter=25)
FUNK_SAME = dict(rank=100, lr=0.005, reg=0.02, n_iter=20)       # Surprise SVD's defaults
FUNK_FAST = dict(rank=10, lr=0.01, reg=0.02, n_iter=10)
SVDPP_SAME = dict(rank=20, lr=0.007, reg=0.02, n_iter=20)       # Surprise SVDpp's defaults


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class PeakRSS:
    """Context manager sampling the resident set size every ``interval`` seconds."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.start = _rss_bytes()
        self.peak = self.start
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _surprise_data(train, test):
    from surprise import Dataset, Reader
    df = train.to_frame()
    trainset = Dataset.load_from_df(df[["userId", "movieId", "rating"]],
                                    Reader(rating_scale=train.rating_scale)).build_full_trainset()
    dt = test.to_frame()
    testset = list(zip(dt["userId"], dt["movieId"], dt["rating"]))
    return trainset, testset


def _time_fit(make, data, repeats):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        t0 = time.perf_counter()
        model.fit(data)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), model


def part_small(repeats: int, svdpp_repeats: int) -> pd.DataFrame:
    from surprise import SVD
    from surprise import SVDpp as SurpriseSVDpp
    train, test = random_split(movielens_small(), 0.2, rng=0)
    train.csr, train.csc  # noqa: B018 - build the sparse views before timing
    trainset, testset = _surprise_data(train, test)

    def ours_rmse(m):
        return rmse(test.ratings, m.predict_ratings(test))

    def theirs_rmse(a):
        return rmse([t[2] for t in testset], [p.est for p in a.test(testset)])

    t0 = time.perf_counter()
    FunkSVD(rank=2, n_iter=1, random_state=0).fit(train)
    SVDpp(rank=2, n_iter=1, random_state=0).fit(train)
    print(f"numba warm-up (compile or cache load): {time.perf_counter() - t0:.2f} s")

    rows = []

    def compare(name, make_ours, peer, make_peer, reps, target):
        # alternate ours and theirs so both see the same machine load
        ours_t, theirs_t = [], []
        for _ in range(reps):
            t, m = _time_fit(make_ours, train, 1)
            ours_t.append(t)
            s, a = _time_fit(make_peer, trainset, 1)
            theirs_t.append(s)
        to, ts = float(np.median(ours_t)), float(np.median(theirs_t))
        ro, rt = ours_rmse(m), theirs_rmse(a)
        rows.append(dict(model=name, peer=peer, fit_s=to, peer_fit_s=ts, time_ratio=to / ts,
                         rmse=ro, peer_rmse=rt, rmse_diff=ro - rt, target=target))
        print(f"{name:42s} {to:8.3f} s  vs {peer} {ts:8.3f} s  ratio {to / ts:6.3f}   "
              f"RMSE {ro:.4f} vs {rt:.4f}", flush=True)

    compare(f"ALS {ALS_FAST}", lambda: ALS(random_state=0, **ALS_FAST), "Surprise SVD",
            lambda: SVD(random_state=0), repeats, "ratio <= 0.5, rmse_diff <= 0")
    compare(f"ALS {ALS_RANK10}", lambda: ALS(random_state=0, **ALS_RANK10), "Surprise SVD",
            lambda: SVD(random_state=0), repeats, "ratio <= 0.5, rmse_diff <= 0")
    compare(f"ALS {ALS_DEFAULT}", lambda: ALS(random_state=0, **ALS_DEFAULT), "Surprise SVD",
            lambda: SVD(random_state=0), repeats, "(defaults, for reference)")
    compare(f"FunkSVD {FUNK_SAME}", lambda: FunkSVD(random_state=0, **FUNK_SAME),
            "Surprise SVD", lambda: SVD(random_state=0), repeats,
            "ratio <= 1 (same hyperparameters)")
    compare(f"FunkSVD {FUNK_FAST}", lambda: FunkSVD(random_state=0, **FUNK_FAST),
            "Surprise SVD", lambda: SVD(random_state=0), repeats, "ratio <= 1, rmse_diff <= 0")
    compare(f"SVDpp {SVDPP_SAME}", lambda: SVDpp(random_state=0, **SVDPP_SAME),
            "Surprise SVDpp", lambda: SurpriseSVDpp(random_state=0, cache_ratings=False),
            svdpp_repeats, "ratio <= 0.2, rmse_diff <= 0.003")
    return pd.DataFrame(rows)


def part_20m(n_iters: int) -> pd.DataFrame:
    t0 = time.perf_counter()
    with PeakRSS() as gen_mem:
        ratings, truth = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=10,
                                           rating_scale=(0.5, 5), step=0.5, rng=0)
        ratings.csr, ratings.csc  # noqa: B018
    gen_s = time.perf_counter() - t0
    print(f"generated {ratings} in {gen_s:.1f} s (peak RSS {gen_mem.peak / 2**30:.2f} GB)",
          flush=True)
    model = ALS(rank=10, reg=20.0, n_iter=n_iters, random_state=0, verbose=True)
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        model.fit(ratings)
    fit_s = time.perf_counter() - t0
    h = model.history_
    sample = np.random.default_rng(1).choice(len(ratings), 1_000_000, replace=False)
    pred = model._predict_indices(ratings.users[sample], ratings.items[sample])
    err_truth = rmse(truth.mean(ratings.users[sample], ratings.items[sample]), pred)
    row = dict(n_ratings=len(ratings), n_iter=n_iters,
               sweep_s_per_iter=float(h["seconds"].median()),
               fit_s_per_iter=fit_s / n_iters,
               rss_before_fit_gb=mem.start / 2**30, peak_rss_fit_gb=mem.peak / 2**30,
               fit_increment_gb=(mem.peak - mem.start) / 2**30,
               train_rmse=float(h["train_rmse"].iloc[-1]),
               rmse_to_truth_1M_cells=err_truth, noise=truth.noise)
    print(pd.Series(row).to_string(), flush=True)
    return pd.DataFrame([row])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--svdpp-repeats", type=int, default=3)
    p.add_argument("--iters", type=int, default=5, help="ALS iterations at 20M scale")
    p.add_argument("--skip-20m", action="store_true")
    p.add_argument("--only-20m", action="store_true")
    args = p.parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    if not args.only_20m:
        print("== ml-latest-small (random 80/20, seed 0): ours vs scikit-surprise, "
              f"median of {args.repeats} (SVD++: {args.svdpp_repeats}) alternating fits ==")
        print(part_small(args.repeats, args.svdpp_repeats).to_string(index=False))
    if not args.skip_20m:
        print("\n== ALS rank 10 on the MovieLens-20M-shaped synthetic set ==")
        part_20m(args.iters)


if __name__ == "__main__":
    main()
