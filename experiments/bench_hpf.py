"""Benchmark: HPF (hierarchical Poisson factorization) CAVI against hpfrec, and at scale.

    python -m experiments.bench_hpf [--parts 1,2,3,4] [--repeats 3] [--iters 50] [--iters-20m 5]

1. Speed on the embedded data (ml-latest-small, 80/20 split with seed 0, training pairs as
   interactions), K = 10 and K = 50, the same number of CAVI iterations: seconds per
   iteration of bayesrec ``HPF(method="cavi")``, of hpfrec (Cython, one thread; its default
   float32 and float64) and of a plain NumPy implementation of the same updates (written
   below), median of ``--repeats`` fits each, all measured in this run.  The ratio printed is
   bayesrec / hpfrec (below 1: bayesrec is faster).
2. Accuracy on the same split: NDCG@10 (relevance: held-out rating >= 4, seen items excluded)
   of bayesrec CAVI and hpfrec at the same settings, and of MostPopular.
3. MovieLens-20M-shaped synthetic interactions (138,493 x 26,744, 20,000,263 pairs; the
   foundation's generator), K = 10 and K = 50, in a child process: the whole CAVI fit
   (``--iters-20m`` iterations, building the CSR arrays included) and its peak resident
   memory (VmHWM), then seconds per CAVI iteration and per Gibbs sweep on the built data.
   Run it alone (another big benchmark at the same time spoils both):
   ``python -m experiments.bench_hpf --parts 3``.

4. Defaults chosen on validation data: a validation split (20%, seed 1) carved from the
   *training* split (as ``experiments/topn.py`` does; the test split is never used to choose),
   scored by validation NDCG@10 (relevant: rating >= 4) of the posterior-mean ranking (the
   paper's Eq. 1).  Stage 1, one seed: CAVI at ranks 10, 20, 50, 100 and Gibbs (one chain of
   50 + 50 sweeps) at ranks 20, 50, each over the prior shapes ``a = c`` in {0.1, 0.3, 1},
   ``a' = c'`` in {0.3, 1, 3} and ``b'`` in {0.1, 1, 10} (``d' = 1``; only ``b' d'`` matters).
   Stage 2, two or three seeds: CAVI at each rank's best prior x ``n_iter`` {50, 200} x
   ``init_scale`` {0.01, 1}; Gibbs (two chains) with the paper's priors at ranks 20, 50, 100 x
   ``burn_in`` + ``n_samples`` {100 + 100, 200 + 200, 400 + 200}, at ranks 10, 20, 30 x
   ``a = c`` {0.2, 0.3, 0.5}, and with 100 kept draws for the score.  Chosen: the cheapest
   setting (rank x iterations or sweeps) within 1% of the best mean, the paper's priors on
   ties.  Then the library defaults of both methods are scored on the test split, seeds 0-2.
   ``--cache FILE`` keeps finished grid points (the whole grid takes about 40 minutes).

Measured (one run each, 2-core machine; hpfrec 0.2.14 with one thread):

* part 1: bayesrec / hpfrec time per iteration 0.24 (K = 10) and 0.17 (K = 50) against
  hpfrec's float32 default (0.24 and 0.16 against its float64); 0.29 and 0.23 against the
  NumPy reference;
* part 2 (50 iterations): NDCG@10 bayesrec 0.214 / 0.230, hpfrec 0.215 / 0.211 (K = 10 / 50),
  MostPopular 0.158;
* part 3: K = 10: 0.36 s per CAVI iteration, whole 5-iteration fit 8.5 s, peak 1.2 GB;
  0.53 s per Gibbs sweep, peak 1.4 GB.  K = 50: 2.2 s per CAVI iteration, fit 15.3 s, peak
  1.65 GB; 2.1 s per Gibbs sweep, peak 1.5 GB;
* part 4: stage 1: ``b'`` from 0.1 to 10 changes the mean validation NDCG@10 by <= 0.0004
  (CAVI 0.1376 / 0.1376 / 0.1372); ``a = c = 0.1`` is worse everywhere, ``a = c = 1`` only
  suits CAVI at rank 10.  Stage 2 (mean +- sd over seeds): Gibbs best rank 20, the paper's
  priors, 200 + 200 sweeps: 0.1649 +- 0.0038; chosen rank 20, paper's priors, 100 + 100
  sweeps, 20 kept draws: 0.1640 (ranks 10 / 30 / 50 / 100: 0.159 / 0.163 / 0.157 / 0.145;
  100 kept draws: 0.1636).  CAVI best rank 50, ``a' = 1``, 200 iterations: 0.1530 +- 0.0018;
  chosen rank 10, ``a = c = a' = c' = 1``, 50 iterations: 0.1523; at the shared defaults
  (rank 20, paper's priors, 50 iterations, ``init_scale`` 0.01): 0.1500 +- 0.0039.  Gibbs
  beats CAVI by about 8%, so ``method="gibbs"`` is the default, with Gibbs's choice of rank and
  priors.  Test NDCG@10 of the defaults, seeds 0 / 1 / 2: Gibbs 0.2553 / 0.2522 / 0.2548
  (14 s a fit; measured with the scale move's earlier Gaussian envelope, its flat-top hat
  sampler gives 0.2545 for seed 0 in ``bench_topn --parts 1``), CAVI 0.2265 / 0.2196 /
  0.2243 (1.7 s); MostPopular 0.1584.

hpfrec is a benchmark-only dependency (``pip install hpfrec``, in the ``bench`` extra);
without it its rows are skipped with a message.  Timings are noisy when other processes
run: the ratios come from the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from scipy.special import digamma

from bayesrec.data import MOVIELENS_20M_SHAPE, movielens_small, synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import HPF
from bayesrec.metrics import evaluate_topk
from experiments.benchtools import peak_memory_gb, reset_peak_memory


def _hpfrec():
    try:
        import hpfrec
        return hpfrec
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"[bench_hpf] hpfrec unavailable ({type(exc).__name__}: {exc}); its rows are "
              "skipped. Install with: .venv/bin/python -m pip install hpfrec")
        return None


# ------------------------------------------------------------------ the NumPy reference
def numpy_cavi(users, items, y, n_users, n_items, k, n_iter, rng, a=0.3, ap=0.3, bp=1.0,
               c=0.3, cp=0.3, dp=1.0):
    """The same CAVI updates with plain NumPy: dense (nnz, K) phi, ``np.add.at`` scatters."""
    gs = a * (1 + rng.random((n_users, k)))
    gr = bp * (1 + rng.random((n_users, k)))
    ls = c * (1 + rng.random((n_items, k)))
    lr = dp * (1 + rng.random((n_items, k)))
    ks, ts = ap + k * a, cp + k * c
    kr = ap / bp + (gs / gr).sum(1)
    tr = cp / dp + (ls / lr).sum(1)
    for _ in range(n_iter):
        logit = (digamma(gs) - np.log(gr))[users] + (digamma(ls) - np.log(lr))[items]
        logit -= logit.max(1, keepdims=True)
        phi = np.exp(logit)
        phi *= (y / phi.sum(1))[:, None]
        us = np.zeros((n_users, k))
        np.add.at(us, users, phi)
        its = np.zeros((n_items, k))
        np.add.at(its, items, phi)
        gs = a + us
        gr = (ks / kr)[:, None] + (ls / lr).sum(0)
        kr = ap / bp + (gs / gr).sum(1)
        ls = c + its
        lr = (ts / tr)[:, None] + (gs / gr).sum(0)
        tr = cp / dp + (ls / lr).sum(1)
    return gs / gr, ls / lr


# ------------------------------------------------------------------ part 1 and 2
def _fit_hpfrec(hpfrec, train, k, iters, use_float):
    df = pd.DataFrame({"UserId": train.users, "ItemId": train.items,
                       "Count": np.ones(len(train))})
    m = hpfrec.HPF(k=k, ncores=1, stop_crit="maxiter", maxiter=iters, verbose=False,
                   random_seed=0, use_float=use_float, reindex=False, produce_dicts=False,
                   keep_data=False)
    m.fit(df)
    return m


class _Scores:
    """A fitted hpfrec model (or any theta/beta pair) as a top-N recommender for evaluate_topk."""

    def __init__(self, theta, beta, train):
        self.theta, self.beta, self.train = theta, beta, train
        self.train_ = train

    def recommend_indices(self, users, k=10, exclude_seen=True):
        from bayesrec.base import top_k
        s = np.asarray(self.theta[users] @ self.beta.T, dtype=np.float64)
        sub = self.train.csr[users]
        s[np.repeat(np.arange(len(users)), np.diff(sub.indptr)), sub.indices] = -np.inf
        best = top_k(s, k)
        return best, np.take_along_axis(s, best, 1)


def _median_time(f, repeats):
    out, times = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def parts_1_2(repeats, iters, parts):
    ratings = movielens_small()
    train, test = random_split(ratings, 0.2, rng=0)
    hpfrec = _hpfrec()
    HPF(rank=2, method="cavi", n_iter=2).fit(train)  # compile the kernels outside the timings
    rows, acc = [], []
    for k in (10, 50):
        mine, t_mine = _median_time(lambda: HPF(rank=k, method="cavi", n_iter=iters, tol=0.0,
                                                random_state=0).fit(train), repeats)
        row = {"K": k, "iterations": iters, "bayesrec s/iter": t_mine / iters}
        if hpfrec is not None:
            for name, use_float in (("hpfrec f32", True), ("hpfrec f64", False)):
                peer, t_peer = _median_time(
                    lambda: _fit_hpfrec(hpfrec, train, k, iters, use_float), repeats)
                row[f"{name} s/iter"] = t_peer / iters
                row[f"ratio vs {name}"] = t_mine / t_peer
                if 2 in parts and not use_float:
                    acc.append({"model": f"hpfrec K={k}", **_ndcg(
                        _Scores(peer.Theta, peer.Beta, train), train, test)})
        rng = np.random.default_rng(0)
        (_, _), t_np = _median_time(lambda: numpy_cavi(
            train.users, train.items, np.ones(len(train)), train.n_users, train.n_items, k,
            iters, rng), 1)
        row["numpy s/iter"] = t_np / iters
        row["ratio vs numpy"] = t_mine / t_np
        rows.append(row)
        if 2 in parts:
            acc.append({"model": f"bayesrec HPF cavi K={k}", **_ndcg(mine, train, test)})
    if 1 in parts:
        print("\n1. CAVI seconds per iteration (median of repeats; ratio = bayesrec / peer)")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if 2 in parts:
        from bayesrec.popularity import MostPopular
        acc.append({"model": "MostPopular", **_ndcg(MostPopular().fit(train), train, test)})
        print(f"\n2. Top-10 accuracy after {iters} iterations (test split)")
        print(pd.DataFrame(acc).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _ndcg(model, train, test):
    m = evaluate_topk(model, train, test, k=10)
    return {"ndcg@10": m["ndcg@10"], "precision@10": m["precision@10"]}


# ------------------------------------------------------------------ part 3


def _child_20m(k, iters):
    """In a child process: build the data, reset the peak RSS, time ``iters`` CAVI
    iterations (whole fit), then three Gibbs sweeps (after the sampler's init)."""
    from bayesrec.factorization.implicit.hpf import _cavi
    from bayesrec.factorization.implicit.hpf._data import HPFPrior, build_data
    from bayesrec.factorization.implicit.hpf._gibbs import HPFGibbs
    r, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rng=0, with_timestamps=False)
    HPF(rank=2, method="cavi", n_iter=1).fit(r.take(np.arange(2000)))  # compile first
    HPF(rank=2, method="gibbs", n_samples=1, burn_in=0, n_chains=1).fit(r.take(np.arange(2000)))
    reset_peak_memory()
    t = time.perf_counter()
    m = HPF(rank=k, method="cavi", n_iter=iters, tol=0.0, random_state=0).fit(r)
    seconds = time.perf_counter() - t
    out = {"K": k, "cavi iterations": m.n_iter_, "cavi fit s": seconds,
           "cavi peak GB": peak_memory_gb()}
    del m
    # one iteration alone (phi pass, ELBO, user and item updates), after the data are built
    data = build_data(r, np.ones(len(r)))
    prior = HPFPrior(k, 0.3, 0.3, 1.0, 0.3, 0.3, 1.0)
    rng = np.random.default_rng(0)
    state = _cavi.init_state(data.n_users, data.n_items, prior, rng, 0.01)
    t = time.perf_counter()
    for _ in range(3):
        _cavi.iterate(state, data, prior)
    out["cavi s/iter"] = (time.perf_counter() - t) / 3
    reset_peak_memory()
    sampler = HPFGibbs(data, prior, np.zeros((1, 2), np.int64), np.zeros(0, np.int64), False)
    state = sampler.init(rng)
    t = time.perf_counter()
    for _ in range(3):
        state = sampler.step(state, rng)
    out.update({"gibbs s/sweep": (time.perf_counter() - t) / 3, "gibbs peak GB": peak_memory_gb()})
    print(json.dumps(out))


def part_3(iters):
    print(f"\n3. MovieLens-20M shape ({MOVIELENS_20M_SHAPE}), {iters} CAVI iterations "
          "(fit time includes building the CSR arrays)")
    for k in (10, 50):
        out = subprocess.run([sys.executable, "-m", "experiments.bench_hpf", "--child-20m",
                              str(k), "--iters-20m", str(iters)],
                             capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ part 4
#: every setting is written out (no library default is relied on), so the grid's numbers do
#: not move when the defaults it chose are changed
_CAVI_FIXED = dict(method="cavi", d_prime=1.0, tol=1e-5, init_scale=0.01, n_iter=100)
_GIBBS_FIXED = dict(method="gibbs", d_prime=1.0, n_predictive_draws=20, thin=1)
_PRIORS = [dict(a=s, c=s, a_prime=sp, c_prime=sp, b_prime=b) for s in (0.1, 0.3, 1.0)
           for sp in (0.3, 1.0, 3.0) for b in (0.1, 1.0, 10.0)]
#: stage 1, one seed: rank x prior shapes x b' (only b' d' matters, see HPFPrior; b' is
#: varied to show it), CAVI 100 iterations, Gibbs one short chain
SCREEN = {"cavi": [dict(rank=k, **p) for k in (10, 20, 50, 100) for p in _PRIORS],
          "gibbs": [dict(rank=k, burn_in=50, n_samples=50, n_chains=1, **p)
                    for k in (20, 50) for p in _PRIORS]}
SEEDS = (0, 1, 2)


def _stage_2(screen: pd.DataFrame) -> list[dict]:
    """Stage 2, three seeds (CAVI) or two (Gibbs).  CAVI: per rank, the screen's best prior
    (mean over b'), with b' = 1, crossed with iterations x initial jitter.  Gibbs: the
    paper's priors (the screen's best shape at every rank) at ranks 20, 50, 100 x chain
    lengths; then ranks 10, 20, 30 x shapes a = c in {0.2, 0.3, 0.5} at 100 + 100 sweeps,
    and 100 kept draws for the score instead of 20."""
    cav = screen[screen.method == "cavi"]
    best = (cav.groupby(["rank", "a", "a_prime"])["val ndcg@10"].mean().reset_index()
            .sort_values("val ndcg@10").groupby("rank").tail(1).sort_values("rank"))
    out = [dict(_CAVI_FIXED, rank=int(r.rank), a=r.a, c=r.a, a_prime=r.a_prime,
                c_prime=r.a_prime, b_prime=1.0, n_iter=n, tol=1e-6, init_scale=j,
                random_state=seed)
           for seed in SEEDS for r in best.itertuples() for n in (50, 200) for j in (0.01, 1.0)]
    paper = dict(a=0.3, c=0.3, a_prime=0.3, c_prime=0.3, b_prime=1.0)
    out += [dict(_GIBBS_FIXED, rank=k, burn_in=b, n_samples=n, n_chains=2, random_state=seed,
                 **paper)
            for seed in (0, 1) for k in (20, 50, 100) for b, n in ((100, 100), (200, 200),
                                                                  (400, 200))]
    out += [dict(_GIBBS_FIXED, rank=k, burn_in=100, n_samples=100, n_chains=2,
                 random_state=seed, **{**paper, "a": s, "c": s})
            for seed in (0, 1) for k in (10, 20, 30) for s in (0.2, 0.3, 0.5)]
    out += [dict(_GIBBS_FIXED, rank=20, burn_in=100, n_samples=100, n_chains=2,
                 random_state=seed, **{**paper, "n_predictive_draws": 100})
            for seed in (0, 1)]
    return out


def _score(params: dict, fit_set, val_set, cache: dict, log) -> dict:
    key = json.dumps(params, sort_keys=True)
    if key not in cache:
        t = time.perf_counter()
        m = HPF(**params).fit(fit_set)
        cache[key] = {"val ndcg@10": evaluate_topk(m, fit_set, val_set, k=10,
                                                   threshold=4.0)["ndcg@10"],
                      "seconds": time.perf_counter() - t}
        if log is not None:
            log.write(json.dumps({"params": params, **cache[key]}) + "\n")
            log.flush()
    return {**params, **cache[key]}


def part_4(cache_path=None):
    """Validation grid for the defaults (see the module docstring, part 4)."""
    from bayesrec.popularity import MostPopular
    ratings = movielens_small()
    train, test = random_split(ratings, 0.2, rng=0)
    fit_part, val = random_split(train, 0.2, rng=1)  # carved from the training rows only
    cache, log = {}, None
    if cache_path:
        try:
            with open(cache_path) as fh:
                for line in fh:
                    row = json.loads(line)
                    cache[json.dumps(row.pop("params"), sort_keys=True)] = row
        except FileNotFoundError:
            pass
        log = open(cache_path, "a")
    HPF(rank=2, method="cavi", n_iter=2).fit(fit_part)  # compile outside the timings
    HPF(rank=2, method="gibbs", n_samples=2, burn_in=1, n_chains=1).fit(fit_part)
    rows = []
    for method, grid in SCREEN.items():
        fixed = _CAVI_FIXED if method == "cavi" else _GIBBS_FIXED
        for params in grid:
            rows.append(_score(dict(fixed, **params, random_state=0), fit_part, val, cache,
                               log))
            print({k: rows[-1][k] for k in ("method", "rank", "a", "a_prime", "b_prime",
                                            "val ndcg@10")}, flush=True)
    screen = pd.DataFrame(rows)
    rows2, done = [], set()
    for params in _stage_2(screen):
        if json.dumps(params, sort_keys=True) in done:  # a point listed twice counts once
            continue
        done.add(json.dumps(params, sort_keys=True))
        rows2.append(_score(params, fit_part, val, cache, log))
        print({k: rows2[-1].get(k) for k in ("method", "rank", "a", "a_prime", "n_iter",
                                             "init_scale", "burn_in", "n_samples",
                                             "n_predictive_draws", "random_state",
                                             "val ndcg@10")}, flush=True)
    stage2 = pd.DataFrame(rows2)
    stage2 = stage2.astype(object).where(stage2.notna(), "-")
    keys = [c for c in stage2.columns if c not in ("random_state", "val ndcg@10", "seconds")]
    summary = (stage2.groupby(keys)
               .agg(val=("val ndcg@10", "mean"), sd=("val ndcg@10", "std"),
                    seeds=("val ndcg@10", "size"), seconds=("seconds", "median"))
               .reset_index().sort_values("val", ascending=False))
    # cost of a fit: rank x iterations (CAVI) or rank x sweeps x chains (Gibbs)
    summary["cost"] = [int(r.rank) * int(r.n_iter if r.method == "cavi" else
                                 (r.burn_in + r.n_samples) * r.n_chains)
                       for r in summary.itertuples()]
    summary["paper priors"] = [(r.a, r.a_prime) == (0.3, 0.3) for r in summary.itertuples()]
    print("\n4. Validation NDCG@10 (20% of the training rows, seed 1), stage 1 (one seed):")
    print(screen.pivot_table(index=["method", "rank", "a"], columns="a_prime",
                             values="val ndcg@10", aggfunc="mean")
          .to_string(float_format=lambda v: f"{v:.4f}"))
    print("   b' (d' = 1), mean over the rest of stage 1:",
          screen.groupby(["method", "b_prime"])["val ndcg@10"].mean().round(4).to_dict())
    cols = ["method", "rank", "a", "a_prime", "n_iter", "init_scale", "burn_in", "n_samples",
            "n_predictive_draws", "val", "sd", "seeds", "seconds", "cost"]
    print("\nstage 2 (mean and sd over seeds), best first:")
    print(summary[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for method in ("cavi", "gibbs"):
        sub = summary[summary.method == method]
        near = sub[sub.val >= 0.99 * sub.val.max()].sort_values(
            ["cost", "paper priors", "val"], ascending=[True, False, False])
        for label, win in (("best", sub.iloc[0]), ("chosen", near.iloc[0])):
            print(f"[{method}] {label}: " + ", ".join(
                f"{k}={win[k]}" for k in cols[1:9] if win[k] != "-")
                + f" (val ndcg@10 {win['val']:.4f} +- {win['sd']:.4f})")
    print("chosen = the cheapest (rank x iterations or sweeps) within 1% of the best, the "
          "paper's priors on ties; the defaults take the better method's choice, and CAVI's "
          "n_iter / init_scale at that rank and prior")
    # test split, once, for the library defaults of each method (three seeds)
    defaults = HPF()
    rows3 = []
    for method in ("cavi", "gibbs"):
        for seed in SEEDS:
            t = time.perf_counter()
            m = HPF(method=method, random_state=seed).fit(train)
            res = evaluate_topk(m, train, test, k=10, threshold=4.0)
            rows3.append({"method": method, "seed": seed, "test ndcg@10": res["ndcg@10"],
                          "precision@10": res["precision@10"],
                          "seconds": time.perf_counter() - t})
    pop = evaluate_topk(MostPopular().fit(train), train, test, k=10, threshold=4.0)
    print(f"\ntest split (random 80/20, seed 0): library defaults {defaults!r} (default "
          f"method {defaults.method!r}), seeds {SEEDS}; MostPopular ndcg@10 "
          f"{pop['ndcg@10']:.4f}")
    print(pd.DataFrame(rows3).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if log is not None:
        log.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="1,2,3,4")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--iters-20m", type=int, default=5)
    ap.add_argument("--cache", default=None,
                    help="part 4: JSON-lines file of finished grid points (resumable)")
    ap.add_argument("--child-20m", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_20m is not None:
        _child_20m(args.child_20m, args.iters_20m)
        return
    parts = {int(p) for p in args.parts.split(",")}
    if parts & {1, 2}:
        parts_1_2(args.repeats, args.iters, parts)
    if 3 in parts:
        part_3(args.iters_20m)
    if 4 in parts:
        part_4(args.cache)


if __name__ == "__main__":
    main()
