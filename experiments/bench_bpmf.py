"""Benchmark: the BPMF Gibbs sweep against smurff (C++) and a per-user-loop NumPy reference.

    python -m experiments.bench_bpmf [--repeats 3] [--parts 1,2,3] [--skip-20m] [--sweeps-20m 3]

1. ml-latest-small 80/20 split (seed 0), K = 10, matched model (no biases, fixed alpha = 2,
   Normal-Wishart hyperpriors: smurff's ``normal`` prior with ``FixedNoise(2)``): seconds per
   sweep of bayesrec, smurff (1 and 2 OpenMP threads) and the loop reference; median of
   ``--repeats`` runs of a block of sweeps, all measured in this run.
2. Accuracy on the same split: test RMSE of bayesrec BPMF (paper model and with biases),
   smurff (fixed and sampled noise) with the same burn-in / sample counts, and PMF-MAP.
3. MovieLens-20M-shaped synthetic data (138,493 x 26,744, 20,000,263 ratings, K = 10):
   seconds per sweep and peak resident memory of the sampling phase (VmHWM after resetting
   it via /proc/self/clear_refs once the data is built), each sampler in its own child process.

smurff is a benchmark-only dependency (``pip install smurff``); without it its rows are
skipped with a message.  Timings on a busy 2-core machine are noisy: ratios come from
the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

from bayesrec.data import MOVIELENS_20M_SHAPE, movielens_small, synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization.bpmf._sweep import BPMFPrior, SweepData, init_state, sweep
from bayesrec.inference.normal_wishart import NormalWishart
from bayesrec.metrics import rmse
from experiments.benchtools import peak_memory_gb, reset_peak_memory

K = 10
ALPHA = 2.0


def _smurff():
    try:
        import smurff
        return smurff
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        print(f"[bench_bpmf] smurff unavailable ({type(exc).__name__}: {exc}); its rows are "
              "skipped. Install with: .venv/bin/python -m pip install smurff")
        return None


def _paper_prior(k=K):
    return BPMFPrior(k, NormalWishart.default(k), 1.0, False, 1.0, 1.0, ALPHA, 1.0, 1.0)


# ------------------------------------------------------------------ the loop reference
def loop_sweep(U, V, mu_lam_u, mu_lam_v, csr, csc, alpha, rng):
    """Straightforward BPMF sweep: a Python loop over users, then items (hypers given)."""
    for X, Y, (mu, lam), m in ((U, V, mu_lam_u, csr), (V, U, mu_lam_v, csc)):
        is_csr = m.format == "csr"
        for i in range(X.shape[0]):
            lo, hi = m.indptr[i], m.indptr[i + 1]
            idx = m.indices[lo:hi]
            f = Y[idx]
            prec = lam + alpha * f.T @ f
            chol = np.linalg.cholesky(prec)
            mean = np.linalg.solve(prec, lam @ mu + alpha * f.T @ m.data[lo:hi])
            X[i] = mean + np.linalg.solve(chol.T, rng.standard_normal(len(mu)))
        _ = is_csr
    return U, V


def time_ours(data, prior, n_sweeps, rng_seed=0, backend="numba"):
    rng = np.random.default_rng(rng_seed)
    st = init_state(data, prior, rng)
    st = sweep(st, data, prior, rng, backend=backend)          # warm-up (numba cache, BLAS)
    t = time.perf_counter()
    for _ in range(n_sweeps):
        st = sweep(st, data, prior, rng, backend=backend)
    return (time.perf_counter() - t) / n_sweeps


def time_loop(train, n_sweeps=1):
    rng = np.random.default_rng(0)
    csr = train.csr.copy()
    csr.data = csr.data - train.global_mean
    csc = train.csc.copy()
    csc.data = csc.data - train.global_mean
    csc_as_rows = sp.csr_matrix((csc.data, csc.indices, csc.indptr),
                                shape=(train.n_items, train.n_users))
    U = 0.1 * rng.standard_normal((train.n_users, K))
    V = 0.1 * rng.standard_normal((train.n_items, K))
    hyper = (np.zeros(K), np.eye(K))
    t = time.perf_counter()
    for _ in range(n_sweeps):
        loop_sweep(U, V, hyper, hyper, csr, csc_as_rows, ALPHA, rng)
    return (time.perf_counter() - t) / n_sweeps


def smurff_session(smurff, train, test, burnin, nsamples, threads, noise="fixed", seed=1):
    mu = train.global_mean
    ytr = sp.csr_matrix((train.ratings - mu, (train.users, train.items)), shape=train.shape)
    s = smurff.TrainSession(priors=["normal", "normal"], num_latent=K, burnin=burnin,
                            nsamples=nsamples, num_threads=threads, seed=seed, verbose=0)
    nz = smurff.FixedNoise(ALPHA) if noise == "fixed" else smurff.SampledNoise(ALPHA)
    if test is not None:
        yte = sp.csr_matrix((test.ratings - mu, (test.users, test.items)), shape=train.shape)
        s.addTrainAndTest(ytr, yte, nz)
    else:
        s.addTrainAndTest(ytr, None, nz)
    s.init()
    return s


def time_smurff(smurff, train, n_sweeps, threads):
    s = smurff_session(smurff, train, None, 1, n_sweeps + 1, threads)
    s.step()                                                   # warm-up
    t = time.perf_counter()
    for _ in range(n_sweeps):
        s.step()
    return (time.perf_counter() - t) / n_sweeps


def smurff_rmse(smurff, train, test, burnin, nsamples, noise):
    s = smurff_session(smurff, train, test, burnin, nsamples, 1, noise)
    while s.step():
        pass
    preds = s.getTestPredictions()
    coords = np.array([p.coords for p in preds])
    pred = np.array([p.pred_avg for p in preds]) + train.global_mean
    # align to the test rows, clip to the scale as bayesrec does
    order = np.lexsort((coords[:, 1], coords[:, 0]))
    key_test = np.lexsort((test.items, test.users))
    out = np.empty(len(test))
    out[key_test] = pred[order]
    return rmse(test.ratings, np.clip(out, *train.rating_scale)), s.getRmseAvg()


def median(xs):
    return float(np.median(xs))


# ------------------------------------------------------------------ 20M child processes

def child_20m(which: str, n_sweeps: int, threads: int = 1):
    ratings, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=K, noise=0.8, rng=0,
                                   with_timestamps=False)
    if which == "ours":
        data = SweepData(ratings)
        del ratings
        prior = _paper_prior()
        reset_peak_memory()
        sec = time_ours(data, prior, n_sweeps)
    else:
        smurff = _smurff()
        reset_peak_memory()
        sec = time_smurff(smurff, ratings, n_sweeps, threads)
    print(json.dumps({"sec_per_sweep": sec, "peak_gb": peak_memory_gb()}))


def run_child(args):
    out = subprocess.run([sys.executable, "-m", "experiments.bench_bpmf", "--child", *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-2000:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sweeps", type=int, default=20)
    ap.add_argument("--skip-20m", action="store_true")
    ap.add_argument("--sweeps-20m", type=int, default=3)
    ap.add_argument("--parts", default="1,2,3", help="comma-separated subset of 1,2,3")
    ap.add_argument("--child", nargs="*")
    a = ap.parse_args(argv)
    if a.child:
        child_20m(a.child[0], int(a.child[1]), int(a.child[2]) if len(a.child) > 2 else 1)
        return
    parts = {int(p) for p in a.parts.split(",")}
    smurff = _smurff()
    data = movielens_small()
    train, test = random_split(data, test_size=0.2, rng=0)
    sd = SweepData(train)
    prior = _paper_prior()

    if 1 in parts:
        speed_small(a, smurff, train, sd, prior)
    if 2 in parts:
        accuracy_small(smurff, train, test)
    if 3 in parts and not a.skip_20m:
        speed_20m(a, smurff)


def speed_small(a, smurff, train, sd, prior):
    print(f"== 1. seconds per sweep, ml-latest-small train ({len(train)} ratings), K={K}, "
          f"matched model (no biases, alpha={ALPHA} fixed), median of {a.repeats}")
    res = {"bayesrec (numba fused)": [], "bayesrec (numpy cholesky)": [], "loop reference": []}
    if smurff:
        res["smurff 1 thread"] = []
        res["smurff 2 threads"] = []
    for _ in range(a.repeats):
        res["bayesrec (numba fused)"].append(time_ours(sd, prior, a.sweeps))
        res["bayesrec (numpy cholesky)"].append(time_ours(sd, prior, a.sweeps, backend="numpy"))
        res["loop reference"].append(time_loop(train, 1))
        if smurff:
            res["smurff 1 thread"].append(time_smurff(smurff, train, a.sweeps, 1))
            res["smurff 2 threads"].append(time_smurff(smurff, train, a.sweeps, 2))
    ours = median(res["bayesrec (numba fused)"])
    for name, xs in res.items():
        print(f"  {name:28s} {median(xs) * 1000:9.1f} ms/sweep   ratio to bayesrec "
              f"{median(xs) / ours:6.2f}x")


def accuracy_small(smurff, train, test):
    print("== 2. accuracy on the same split (test RMSE, predictions clipped to 0.5-5), K=10")
    from bayesrec.factorization import BPMF, PMF
    burn, ns = 100, 150
    for name, kw in (("bayesrec BPMF paper model (no biases, alpha=2)",
                      dict(biases=False, alpha=ALPHA)),
                     ("bayesrec BPMF no biases, alpha sampled", dict(biases=False,
                                                                    alpha="sample")),
                     ("bayesrec BPMF with biases, alpha=2", dict(alpha=ALPHA)),
                     ("bayesrec BPMF with biases, alpha sampled", dict(alpha="sample"))):
        m = BPMF(rank=K, burn_in=burn, n_samples=ns, n_chains=1, random_state=0,
                 verbose=False, **kw).fit(train, eval_set=test)
        print(f"  {name + f' [1 chain, {burn}+{ns}]':62s} {rmse(test.ratings, m.eval_mean_):.4f}")
    for name, kw in (("bayesrec BPMF paper model", dict(biases=False)),
                     ("bayesrec BPMF with biases", dict())):
        m = BPMF(rank=K, random_state=0, verbose=False, **kw).fit(train, eval_set=test)
        print(f"  {name + ' [defaults: 2 chains, 100+200]':62s} "
              f"{rmse(test.ratings, m.eval_mean_):.4f}")
    if smurff:
        for noise, b, n in (("fixed", burn, ns), ("sampled", burn, ns), ("fixed", burn, 500)):
            clipped, raw = smurff_rmse(smurff, train, test, b, n, noise)
            print(f"  {f'smurff BPMF, {noise} noise [{b}+{n}]':62s} {clipped:.4f}  "
                  f"(unclipped {raw:.4f})")
    pm_ = PMF(rank=K, random_state=0).fit(train)
    print(f"  {'PMF-MAP (bayesrec PMF defaults)':62s} "
          f"{rmse(test.ratings, pm_.predict_ratings(test)):.4f}")


def speed_20m(a, smurff):
    print(f"== 3. MovieLens-20M-shaped synthetic set, K={K}: seconds per sweep "
          f"(mean of {a.sweeps_20m} after one warm-up) and peak RSS of the sampling phase")
    r_ours = run_child(["ours", str(a.sweeps_20m)])
    rows = {"bayesrec": r_ours}
    if smurff:
        rows["smurff 1 thread"] = run_child(["smurff", str(a.sweeps_20m), "1"])
        rows["smurff 2 threads"] = run_child(["smurff", str(a.sweeps_20m), "2"])
    for name, r in rows.items():
        if r is None:
            print(f"  {name}: failed")
            continue
        ratio = (r["sec_per_sweep"] / r_ours["sec_per_sweep"]) if r_ours else float("nan")
        print(f"  {name:18s} {r['sec_per_sweep']:7.2f} s/sweep  peak {r['peak_gb']:5.2f} GB"
              f"   time ratio to bayesrec {ratio:5.2f}x")


if __name__ == "__main__":
    main()
