"""Benchmark: Bayesian SVD++ (bayesrec) against myFM's Gibbs sampler with the same information.

    python -m experiments.bench_bayesian_svdpp [--repeats 3] [--sweeps 250] [--parts 1,2]
                                               [--sweeps-20m 3]

1. ml-latest-small 80/20 split (seed 0), K = 10, "SVD++ flipped" information for both: user
   id + the normalized bag of the items the user rated in training, item id + the
   normalized bag of its raters (myFM: two relation blocks ``[I | N(u)/sqrt|N(u)|]`` and
   ``[I | N(i)/sqrt|N(i)|]`` with one hyperprior group each; no held-out pair enters any
   bag).  Same number of sweeps (``--sweeps``, of which the first 50 are burn-in), one chain
   each (bayesrec with its defaults, alpha fixed at 1.5, and with alpha sampled); seconds
   per sweep (fit time / sweeps, everything included) and test RMSE
   (predictions clipped to 0.5-5), each repeated ``--repeats`` times with different seeds in
   this run; medians and the time ratio.  Also r_hat of bayesrec's rotation-invariant
   quantities from a 2-chain fit.
2. MovieLens-20M-shaped synthetic data (138,493 x 26,744, 20,000,263 ratings, K = 10,
   flipped bags): seconds per sweep (mean of ``--sweeps-20m`` after one warm-up) and peak
   resident memory of the sampling phase (VmHWM after resetting it once the data is built),
   in a child process.  Run it alone (another big benchmark at the same
   time spoils both): ``python -m experiments.bench_bayesian_svdpp --parts 2``.

myFM is a benchmark-only dependency (``pip install myfm``; in the ``bench`` extra); without it
its rows are skipped with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

from bayesrec.data import MOVIELENS_20M_SHAPE, movielens_small, random_split, synthetic_ratings
from bayesrec.metrics import rmse
from experiments.benchtools import peak_memory_gb, reset_peak_memory

K = 10
BURN = 50


def _myfm():
    try:
        import myfm
        return myfm
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"[bench_bayesian_svdpp] myFM unavailable ({type(exc).__name__}: {exc}); its "
              "rows are skipped. Install with: .venv/bin/python -m pip install myfm")
        return None


def _normalized(pattern: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(pattern, dtype=np.float64, copy=True)
    m.data[:] = 1.0
    c = np.diff(m.indptr)
    m.data = np.repeat(1.0 / np.sqrt(np.maximum(c, 1)), c)
    return m


def myfm_fit_predict(myfm, train, test, n_iter: int, seed: int):
    """myFM with SVD++-flipped relation blocks; returns (test predictions, seconds)."""
    from myfm import RelationBlock
    nu, ni = train.n_users, train.n_items
    pat = sp.csr_matrix((np.ones(len(train)), (train.users, train.items)), shape=(nu, ni))
    ublock = sp.hstack([sp.identity(nu, format="csr"), _normalized(pat)], format="csr")
    iblock = sp.hstack([sp.identity(ni, format="csr"), _normalized(pat.T.tocsr())],
                       format="csr")

    def rel(r):
        return [RelationBlock(r.users.astype(np.int64), ublock),
                RelationBlock(r.items.astype(np.int64), iblock)]
    mu = train.global_mean
    t = time.perf_counter()
    fm = myfm.MyFMRegressor(rank=K, random_seed=seed)
    with contextlib.redirect_stderr(io.StringIO()):   # its tqdm bar
        fm.fit(sp.csr_matrix((len(train), 0)), train.ratings - mu, X_rel=rel(train),
               n_iter=n_iter, n_kept_samples=n_iter - BURN, group_shapes=[nu, ni, ni, nu])
    secs = time.perf_counter() - t
    pred = fm.predict(sp.csr_matrix((len(test), 0)), X_rel=rel(test)) + mu
    return np.clip(pred, 0.5, 5.0), secs


def ours_fit_predict(train, test, n_iter: int, seed: int, n_chains: int = 1, **kw):
    from bayesrec.factorization import BayesianSVDpp
    t = time.perf_counter()
    m = BayesianSVDpp(rank=K, flipped=True, n_chains=n_chains, burn_in=BURN,
                      n_samples=n_iter - BURN, verbose=False, random_state=seed, **kw)
    m.fit(train, eval_set=test)
    secs = time.perf_counter() - t
    return m.eval_mean_, secs / n_chains, m


def part_small(a):
    myfm = _myfm()
    train, test = random_split(movielens_small(), 0.2, rng=0)
    ours_fit_predict(train, test, BURN + 5, 0)   # warm-up: numba compile / cache load
    print(f"== 1. ml-latest-small 80/20 split ({len(train)} train / {len(test)} test), K={K}, "
          f"SVD++ flipped information, {a.sweeps} sweeps ({BURN} burn-in), 1 chain; "
          f"median of {a.repeats} seeds")
    res = {"bayesrec": ([], []), "myFM": ([], []), "bayesrec sampled alpha": ([], [])}
    for seed in range(a.repeats):
        pred, secs, _ = ours_fit_predict(train, test, a.sweeps, seed)
        res["bayesrec"][0].append(rmse(test.ratings, pred))
        res["bayesrec"][1].append(secs / a.sweeps)
        # the noise precision sampled instead of fixed at the default
        pred, secs, _ = ours_fit_predict(train, test, a.sweeps, seed, alpha="sample")
        res["bayesrec sampled alpha"][0].append(rmse(test.ratings, pred))
        res["bayesrec sampled alpha"][1].append(secs / a.sweeps)
        if myfm:
            pred, secs = myfm_fit_predict(myfm, train, test, a.sweeps, seed)
            res["myFM"][0].append(rmse(test.ratings, pred))
            res["myFM"][1].append(secs / a.sweeps)
        print(f"  seed {seed}: " + "  ".join(
            f"{k} RMSE {v[0][-1]:.4f} {v[1][-1] * 1000:.1f} ms/sweep" for k, v in res.items()
            if v[0]), flush=True)
    ours_t = float(np.median(res["bayesrec"][1]))
    for name, (errs, times) in res.items():
        if not errs:
            continue
        print(f"  {name:22s} test RMSE median {np.median(errs):.4f} (runs "
              f"{', '.join(f'{e:.4f}' for e in errs)})   {np.median(times) * 1000:7.1f} ms/sweep"
              f"   time ratio to bayesrec {np.median(times) / ours_t:5.2f}x")
    _, _, m = ours_fit_predict(train, test, a.sweeps, 0, n_chains=2)
    d = m.diagnostics()
    print("  bayesrec, 2 chains: r_hat " + ", ".join(
        f"{k} {v:.3f}" for k, v in d["r_hat"].items()))
    tp = m.posterior["posterior"]["test_pred"]
    import arviz as az
    with np.errstate(invalid="ignore", divide="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rh = np.asarray(az.rhat(m.posterior, var_names=["test_pred"])["test_pred"])
    ok = np.isfinite(rh)   # cells of users/items without training ratings are constant
    print(f"  bayesrec, 2 chains: r_hat of {int(ok.sum())} tracked held-out predictions (of "
          f"{tp.shape[-1]}; the rest are constant prior means): median "
          f"{np.median(rh[ok]):.3f}, max {np.max(rh[ok]):.3f}")


# ------------------------------------------------------------------ 20M child process

def child_20m(n_sweeps: int):
    from bayesrec.factorization.bpmf._sweep import BPMFPrior, SweepData
    from bayesrec.factorization.svdpp_bayes._design import build_bags
    from bayesrec.factorization.svdpp_bayes._sweep import SVDppData, SVDppPrior, init_state, sweep
    from bayesrec.inference.normal_wishart import NormalWishart
    ratings, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=K, noise=0.8, rng=0,
                                   with_timestamps=False)
    t = time.perf_counter()
    bu, bv = build_bags(ratings, True)
    data = SVDppData(SweepData(ratings), bu, bv)
    build = time.perf_counter() - t
    del ratings
    nw = NormalWishart.default(K)
    prior = SVDppPrior(BPMFPrior(K, nw, 1.0, True, 1.0, 1.0, None, 1.0, 1.0, rescale=False),
                       nw, 1.0, 1.0)
    rng = np.random.default_rng(0)
    reset_peak_memory()
    st = init_state(data, prior, rng)
    st = sweep(st, data, prior, rng)      # warm-up
    t = time.perf_counter()
    for _ in range(n_sweeps):
        st = sweep(st, data, prior, rng)
    sec = (time.perf_counter() - t) / n_sweeps
    print(json.dumps({"sec_per_sweep": sec, "peak_gb": peak_memory_gb(), "build_sec": build,
                      "train_rmse": float(np.sqrt(st.sse / data.n_ratings))}))


def part_20m(a):
    print(f"== 2. MovieLens-20M-shaped synthetic set, K={K}, flipped bags: seconds per sweep "
          f"(mean of {a.sweeps_20m} after one warm-up) and peak RSS of the sampling phase")
    out = subprocess.run([sys.executable, "-m", "experiments.bench_bayesian_svdpp", "--child",
                          str(a.sweeps_20m)], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-2000:])
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  bayesrec  {r['sec_per_sweep']:7.2f} s/sweep   peak {r['peak_gb']:5.2f} GB   "
          f"(bags built in {r['build_sec']:.1f} s; train RMSE after the sweeps "
          f"{r['train_rmse']:.3f})")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sweeps", type=int, default=250)
    ap.add_argument("--sweeps-20m", type=int, default=3)
    ap.add_argument("--parts", default="1,2", help="comma-separated subset of 1,2")
    ap.add_argument("--child", nargs="*")
    a = ap.parse_args(argv)
    if a.child:
        child_20m(int(a.child[0]))
        return
    parts = {int(p) for p in a.parts.split(",")}
    if 1 in parts:
        part_small(a)
    if 2 in parts:
        part_20m(a)


if __name__ == "__main__":
    main()
