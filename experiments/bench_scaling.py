"""Benchmark: fit time and peak memory of every model family against the number of ratings.

Run: ``.venv/bin/python -m experiments.bench_scaling [--sizes 0.1M,1M,5M,20M] [--models ALS,BPMF]
[--cap 300] [--out report/bench_scaling] [--lock FILE]``

Data: ``synthetic_ratings`` with MovieLens-20M's shape scaled down: at ``n`` ratings,
``138,493 * n / 20M`` users (about 144 ratings each, as in MovieLens) and
``26,744 * sqrt(n / 20M)`` items, MovieLens' skew (log-normal user activity, Zipf item
popularity), ratings rounded to the 0.5-5 half-star scale.  Each data set is generated once per
run and cached; every (model, size) pair then runs in its own subprocess, which loads the data,
resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), fits, and reports wall and CPU
seconds, the resident memory after loading the data and the peak resident memory during the fit
(``VmHWM``).  The peak therefore includes the data itself (``Ratings`` with its CSR/CSC views);
the data-only figure is printed beside it.

Time cap: when a model's fit takes more than ``--cap`` CPU seconds at one size, its larger sizes
are skipped (and the table says so); a fit still running after ``--timeout`` wall seconds is
killed.  CPU seconds (all threads of the process) are the measure of cost used for the cap and
the slopes: on a busy machine wall time mostly measures the other processes.
``--lock FILE`` takes an exclusive ``flock`` on FILE around every run at 20M ratings, so
that big benchmarks started side by side run one at a time.

Output: a markdown table (printed and written to ``<out>/bench_scaling.md``) with the fitted
log-log slope per model (``time ~ n^slope``; 1 = linear), and ``<out>/bench_scaling.png``
(log-log time and memory curves).  Settings per model are in ``MODELS`` below: a fixed, small
number of sweeps / iterations / epochs, so the slope measures the cost per pass over the data.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"0.1M": 100_000, "1M": 1_000_000, "5M": 5_000_000, "20M": 20_000_000}
BIG = 20_000_000


# ------------------------------------------------------------------ the models (child side)
def _bpmf(r):
    from bayesrec.factorization import BPMF
    BPMF(rank=10, n_samples=5, burn_in=5, n_chains=1, verbose=False, random_state=0).fit(r)


def _als(r):
    from bayesrec.factorization import ALS
    ALS(rank=10, reg=20.0, n_iter=10, random_state=0).fit(r)


def _pmf(r):
    from bayesrec.factorization import PMF
    PMF(rank=10, n_iter=10, random_state=0).fit(r)


def _funk(r):
    from bayesrec.factorization import FunkSVD
    FunkSVD(rank=10, n_iter=10, random_state=0).fit(r)


def _svdpp(r):
    from bayesrec.factorization import SVDpp
    SVDpp(rank=10, n_iter=5, random_state=0).fit(r)


def _tsvd(r):
    from bayesrec.factorization import TruncatedSVD
    TruncatedSVD(rank=10, random_state=0).fit(r)


def _user_knn(r):
    from bayesrec.neighbors import UserKNN
    UserKNN(k=25).fit(r)


def _item_knn(r):
    from bayesrec.neighbors import ItemKNN
    ItemKNN(k=20).fit(r)


def _pagerank(r):
    """PageRank of the bipartite user <-> item graph weighted by the ratings."""
    import scipy.sparse as sp

    from bayesrec.pagerank import pagerank
    a = r.csr
    pagerank(sp.bmat([[None, a], [a.T, None]], format="csr"), tol=1e-8)


def _rules(r):
    from bayesrec.rules import association_rules
    association_rules(r, min_support=0.1, min_confidence=0.5, max_len=3)


def _bandit(r):
    """Thompson sampling, 50 arms, 100 replications x len(r) / 100 rounds (len(r) pulls)."""
    from bayesrec.bandits import BetaBernoulliThompson, simulate
    p = np.linspace(0.01, 0.2, 50)
    simulate(BetaBernoulliThompson(50), p, n_trials=max(1, len(r) // 100), n_replications=100,
             rng=0)


def _optional(name, implicit=False, **kw):
    """A model of :mod:`bayesrec.factorization` that may not exist in this version (None when
    absent); ``implicit`` models are fitted on ``r.to_implicit()`` (who rated what)."""
    import importlib
    import inspect

    def fit(r):
        cls = getattr(importlib.import_module("bayesrec.factorization"), name)
        known = inspect.signature(cls).parameters
        cls(**{k: v for k, v in kw.items() if k in known}).fit(r.to_implicit() if implicit
                                                                else r)
    try:
        getattr(importlib.import_module("bayesrec.factorization"), name)
    except (ImportError, AttributeError):
        return None
    return fit


def models() -> dict:
    """``label -> (fit function, settings text)`` for every model family present."""
    out = {
        "BPMF": (_bpmf, "Gibbs, K=10, 10 sweeps, 1 chain"),
        "ALS": (_als, "K=10, 10 iterations"),
        "PMF-MAP": (_pmf, "K=10, 10 iterations"),
        "FunkSVD": (_funk, "K=10, 10 epochs"),
        "SVD++": (_svdpp, "K=10, 5 epochs"),
        "TruncatedSVD": (_tsvd, "K=10, baseline-imputed"),
        "UserKNN": (_user_knn, "Pearson, k=25"),
        "ItemKNN": (_item_knn, "Pearson, k=20"),
        "PageRank": (_pagerank, "user-item graph, tol 1e-8"),
        "rules": (_rules, "support 0.1, confidence 0.5, max_len 3"),
        "bandit simulation": (_bandit, "Thompson, 50 arms, n pulls"),
    }
    gibbs = dict(rank=10, n_samples=5, burn_in=5, n_chains=1, verbose=False,
                 random_state=0)
    for label, name, implicit, kw, text in (
            ("BayesianSVDpp", "BayesianSVDpp", False, gibbs, "Gibbs, K=10, 10 sweeps"),
            ("HPF", "HPF", True, dict(rank=10, method="cavi", n_iter=10, tol=0.0,
                                      random_state=0), "CAVI, K=10, 10 iterations, implicit"),
            ("ImplicitBPMF", "ImplicitBPMF", True, gibbs, "Gibbs, K=10, 10 sweeps, implicit"),
            ("ImplicitALS", "ImplicitALS", True, dict(rank=10, n_iter=10, tol=0.0,
                                                      random_state=0),
             "K=10, 10 iterations, implicit")):
        fit = _optional(name, implicit, **kw)
        if fit is not None:
            out[label] = (fit, text)
    return out


# ------------------------------------------------------------------ data
def shape(n: int) -> tuple[int, int]:
    """MovieLens-20M's users and items scaled to ``n`` ratings."""
    s = n / 20_000_263
    return max(50, round(138_493 * s)), max(50, round(26_744 * np.sqrt(s)))


def make_data(n: int, folder: Path) -> Path:
    path = folder / f"ratings_{n}.pkl"
    if not path.exists():
        from bayesrec.data import synthetic_ratings
        n_users, n_items = shape(n)
        r, _ = synthetic_ratings(n_users, n_items, n, rank=10, noise=0.8, rng=0,
                                 rating_scale=(0.5, 5.0), step=0.5, with_timestamps=False)
        with open(path, "wb") as fh:  # a cache written and read by this benchmark only
            pickle.dump(r, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path


# ------------------------------------------------------------------ measurement (child side)
def _rss_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child(label: str, data_path: str) -> None:
    fit = models()[label][0]
    with open(data_path, "rb") as fh:
        r = pickle.load(fh)
    _ = r.csr, r.csc  # the views are part of the data, built before the fit is timed
    # compile / load the numba caches outside the timing
    from bayesrec.data import synthetic_ratings
    fit(synthetic_ratings(300, 200, 6000, rank=3, rng=1, rating_scale=(0.5, 5.0), step=0.5)[0])
    load = _rss_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM (peak RSS) to the current RSS
        reset = True
    except OSError:
        reset = False
    t, c = time.perf_counter(), time.process_time()
    fit(r)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    peak = _rss_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"fit_s": wall, "cpu_s": cpu, "load_mb": (load or 0) / 1024,
                      "peak_mb": (peak or 0) / 1024}))


# ------------------------------------------------------------------ driver
@contextlib.contextmanager
def _locked(path: str | None):
    if path is None:
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_one(label: str, n: int, data: Path, timeout: float, lock: str | None) -> dict:
    cmd = [sys.executable, "-m", "experiments.bench_scaling", "--child", label, str(data)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1])]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    with _locked(lock if n >= BIG else None):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"status": f"killed after {timeout:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"status": f"failed: {tail[:120]}"}
    return {"status": "ok", **json.loads(out.stdout.strip().splitlines()[-1])}


def slope(ns, ts) -> float:
    """Least-squares slope of log(time) on log(n)."""
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def _ok(runs: dict) -> list[tuple[int, dict]]:
    return sorted((n, r) for n, r in runs.items() if r["status"] == "ok")


def memory_limit(ok: list, budget_gb: float) -> str:
    """Ratings at which the peak memory reaches ``budget_gb``: the line through the two
    largest measured sizes (at least 1M ratings), extended; "" when it cannot be told."""
    big = [(n, r["peak_mb"] / 1024) for n, r in ok if n >= 1_000_000]
    if len(big) < 2:
        return ""
    (n1, m1), (n2, m2) = big[-2], big[-1]
    per = (m2 - m1) / (n2 - n1)
    if per <= 0:
        return ""
    return f"~{(n2 + (budget_gb - m2) / per) / 1e6:.0f}M"


def table(results: dict, sizes: list[int], settings: dict) -> str:
    """Markdown: per size ``wall s / CPU s (peak GB)``; slopes of log time on log n."""
    labels = [f"{n / 1e6:g}M" for n in sizes]
    head = ("| model | settings | " + " | ".join(f"{s}: wall / CPU s (peak GB)" for s in labels)
            + " | slope (CPU) | slope (wall) | 24 GB reached at |\n|---|---|"
            + "---|" * (len(sizes) + 3))
    lines = [head]
    for label, runs in results.items():
        cells = []
        for n in sizes:
            r = runs.get(n)
            if r is None:
                cells.append("")
            elif r["status"] == "ok":
                cells.append(f"{r['fit_s']:.3g} / {r['cpu_s']:.3g} ({r['peak_mb'] / 1024:.2f})")
            else:
                cells.append(r["status"])
        ok = _ok(runs)
        ns = [n for n, _ in ok]
        s_cpu = slope(ns, [r["cpu_s"] for _, r in ok])
        s_wall = slope(ns, [r["fit_s"] for _, r in ok])
        def fmt(v):
            return "" if np.isnan(v) else f"{v:.2f}"
        lines.append(f"| {label} | {settings.get(label, '')} | " + " | ".join(cells)
                     + f" | {fmt(s_cpu)} | {fmt(s_wall)} | {memory_limit(ok, 24.0)} |")
    return "\n".join(lines)


def figure(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(13, 5.5))
    colors = plt.get_cmap("tab20").colors
    for n_model, (label, runs) in enumerate(results.items()):
        ok = _ok(runs)
        if not ok:
            continue
        ns = np.array([n for n, _ in ok], float)
        ts = np.array([r["cpu_s"] for _, r in ok])
        ms = np.array([r["peak_mb"] / 1024 for _, r in ok])
        s = slope(ns, ts)
        name = label if np.isnan(s) else f"{label} (slope {s:.2f})"
        style = dict(color=colors[(2 * n_model) % 20 + (n_model >= 10)],
                     marker="osD^v<>"[n_model % 7])
        ax_t.plot(ns, ts, "-", label=name, **style)
        ax_m.plot(ns, ms, "-", label=label, **style)
    for ax, ylabel in ((ax_t, "fit CPU seconds (all threads)"),
                       (ax_m, "peak resident memory (GB)")):
        ax.set(xscale="log", yscale="log", xlabel="ratings", ylabel=ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_t.legend(fontsize=7)
    ax_t.set_title("Fit cost (log-log; slope 1 = linear in the ratings)")
    ax_m.set_title("Peak memory of the fitting process (data included)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--models", default=None, help="comma-separated labels (default: all)")
    ap.add_argument("--cap", type=float, default=300.0, help="CPU seconds per fit before "
                    "larger sizes of that model are skipped")
    ap.add_argument("--timeout", type=float, default=1800.0, help="wall seconds before a fit "
                    "is killed")
    ap.add_argument("--resume", action="store_true", help="keep the finished runs of "
                    "<out>/bench_scaling.json")
    ap.add_argument("--out", default="report/bench_scaling")
    ap.add_argument("--data-dir", default=None, help="cache folder of the generated data")
    ap.add_argument("--lock", default=None, help="flock this file around runs at 20M ratings")
    ap.add_argument("--from-json", default=None, help="only redraw the table and figure from "
                    "a bench_scaling.json of an earlier run")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "DATA"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(*args.child)
    sizes = sorted(SIZES[s] if s in SIZES else int(float(s)) for s in args.sizes.split(","))
    available = models()
    if args.from_json:
        with open(args.from_json) as fh:
            results = {m: {int(k): v for k, v in rs.items()} for m, rs in json.load(fh).items()}
        return _report(results, sizes, {m: v[1] for m, v in available.items()}, Path(args.out))
    chosen = list(available) if args.models is None else args.models.split(",")
    unknown = [m for m in chosen if m not in available]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; available: {list(available)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-scaling-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {m: {} for m in chosen}
    stopped: dict = {}
    previous: dict = {}
    if args.resume and (out / "bench_scaling.json").exists():
        with open(out / "bench_scaling.json") as fh:
            previous = {m: {int(k): v for k, v in rs.items() if v["status"] == "ok"}
                        for m, rs in json.load(fh).items()}
    for n in sizes:
        print(f"== {n:,} ratings ({shape(n)[0]:,} users x {shape(n)[1]:,} items)", flush=True)
        with _locked(args.lock if n >= BIG else None):
            data = make_data(n, data_dir)
        for m in chosen:
            if m in stopped:
                results[m][n] = {"status": f"skipped ({stopped[m]})"}
                continue
            r = previous.get(m, {}).get(n) or run_one(m, n, data, args.timeout, args.lock)
            results[m][n] = r
            if r["status"] == "ok":
                print(f"  {m:18s} fit {r['fit_s']:8.2f} s  cpu {r['cpu_s']:8.2f} s  data "
                      f"{r['load_mb'] / 1024:6.2f} GB  peak {r['peak_mb'] / 1024:6.2f} GB",
                      flush=True)
                if r["cpu_s"] > args.cap:
                    stopped[m] = (f"{n / 1e6:g}M took {r['cpu_s']:.0f} CPU s > cap "
                                  f"{args.cap:.0f} s")
            else:
                print(f"  {m:18s} {r['status']}", flush=True)
                stopped[m] = f"{n / 1e6:g}M {r['status']}"
            with open(out / "bench_scaling.json", "w") as fh:  # after every run
                json.dump({m: {str(k): v for k, v in rs.items()} for m, rs in results.items()},
                          fh, indent=1)
    _report(results, sizes, {m: available[m][1] for m in chosen}, out)


def _report(results: dict, sizes: list[int], settings: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    md = table(results, sizes, settings)
    (out / "bench_scaling.md").write_text(md + "\n")
    figure(results, out / "bench_scaling.png")
    print(md)
    print(f"\nfigure: {out / 'bench_scaling.png'}")


if __name__ == "__main__":
    main()
