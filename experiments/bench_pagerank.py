"""Benchmark: bayesrec.pagerank vs networkx.pagerank and vs a bare SciPy CSR power iteration.

Run: ``.venv/bin/python -m experiments.bench_pagerank [--nodes 1000000] [--edges 10000000]
[--nx-nodes N] [--repeats 3]``

Graph: a random power-law digraph (out-degrees from a discrete Pareto with mean ``edges/nodes``,
link targets drawn with Zipf-like popularity ``1 / rank^0.8``; self-loops and duplicate links
removed; about 5% of pages have no out-link, i.e. are dangling).

Stopping rules.  bayesrec stops when the absolute L1 change is below ``tol``; networkx when it is
below ``N * tol``.  networkx's default ``tol = 1e-6`` at ``N = 10^6`` therefore stops after one
step (the result is printed: its error against the converged vector is huge).  For the timing
comparison networkx runs with ``tol_nx = 1e-14`` and bayesrec with ``tol = N * 1e-14``: the same
stopping rule, the same number of steps, the same answer (the max difference is printed).

The bare SciPy baseline is the textbook loop ``x = M @ x + (alpha * x[dangling].sum() + 1 - alpha)
/ N`` with ``M = alpha * (D^-1 A)^T`` prebuilt as float64 CSR; it is timed both with and without
building ``M``.  networkx is timed as a whole call on its DiGraph (graph construction excluded).
With ``--nx-nodes`` networkx (and its comparison) runs on a smaller graph of the same family
when the full one is too slow or too big for the machine; the ratio is then measured there.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import scipy.sparse as sp

from bayesrec.pagerank import pagerank
from experiments.benchtools import timed


def powerlaw_digraph(n: int, m: int, rng, exponent: float = 2.1, zipf: float = 0.8,
                     dangling_share: float = 0.05) -> sp.csr_matrix:
    """Random directed graph with power-law out-degrees and popularity-skewed in-degrees.

    About ``m`` distinct links: a first draw measures the share lost to duplicates and
    self-loops, a second draw asks for correspondingly more.
    """
    probe = _powerlaw_digraph(n, m, np.random.default_rng(rng.integers(2**32)), exponent, zipf,
                              dangling_share)
    return _powerlaw_digraph(n, int(m * m / max(probe.nnz, 1)), rng, exponent, zipf,
                             dangling_share)


def _powerlaw_digraph(n, m, rng, exponent, zipf, dangling_share):
    raw = rng.pareto(exponent - 1.0, n) + 1.0
    raw[rng.random(n) < dangling_share] = 0.0
    deg = np.minimum(np.round(raw * m / raw.sum()).astype(np.int64), n - 1)
    src = np.repeat(np.arange(n), deg)
    popularity = 1.0 / np.arange(1, n + 1) ** zipf
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    dst = np.minimum(np.searchsorted(cdf, rng.random(len(src))), n - 1)
    dst = rng.permutation(n)[dst]  # popular pages are not the low ids
    keep = src != dst
    a = sp.csr_matrix((np.ones(keep.sum()), (src[keep], dst[keep])), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


def bare_scipy(a: sp.csr_matrix, alpha: float, tol: float, max_iter: int = 10_000):
    """Textbook SciPy power iteration; returns (x, n_iter, seconds_setup, seconds_iterate)."""
    t0 = time.perf_counter()
    n = a.shape[0]
    out = np.asarray(a.sum(axis=1)).ravel()
    dangling = out == 0
    inv = np.divide(1.0, out, out=np.zeros(n), where=~dangling)
    m = (sp.diags(inv) @ a).T.tocsr() * alpha
    t1 = time.perf_counter()
    x = np.full(n, 1.0 / n)
    for it in range(max_iter):  # noqa: B007 - the count is reported after the loop
        new = m @ x
        new += (alpha * x[dangling].sum() + 1.0 - alpha) / n
        err = np.abs(new - x).sum()
        x = new
        if err < tol:
            break
    return x, it + 1, t1 - t0, time.perf_counter() - t1


def to_networkx(a: sp.csr_matrix):
    import networkx as nx

    return nx.from_scipy_sparse_array(a, create_using=nx.DiGraph, edge_attribute=None)


def run_networkx(g, tol, max_iter=10_000):
    """networkx.pagerank as a whole call; returns (x, wall seconds, cpu seconds)."""
    import networkx as nx

    t, c = time.perf_counter(), time.process_time()
    res = nx.pagerank(g, tol=tol, max_iter=max_iter, weight=None)
    sec, cpu = time.perf_counter() - t, time.process_time() - c
    return np.fromiter((res[i] for i in range(len(res))), float, len(res)), sec, cpu




def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--nx-nodes", type=int, default=None,
                    help="run networkx on a smaller graph of this many nodes (same mean degree)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--alpha", type=float, default=0.85)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    alpha, reps = args.alpha, args.repeats

    t = time.perf_counter()
    a = powerlaw_digraph(args.nodes, args.edges, rng)
    n = a.shape[0]
    print(f"graph: {n:,} nodes, {a.nnz:,} edges, {int((a.getnnz(axis=1) == 0).sum()):,} dangling "
          f"(built in {time.perf_counter() - t:.1f} s)")
    pagerank(a[:1000, :1000], tol=1e-8)  # numba compile (cached on disk after the first run)

    # ---- bayesrec vs bare scipy on the full graph: same tolerance, repeated, medians
    tol = 1e-10
    ours, bare_it, bare_all = [], [], []
    for _ in range(reps):
        (x, n_iter), wall, cpu = timed(lambda: pagerank(a, alpha, tol=tol, return_n_iter=True))
        ours.append((wall, cpu))
        (xb, it_b, s_setup, s_iter), wall, cpu = timed(lambda: bare_scipy(a, alpha, tol))
        bare_it.append((s_iter, cpu * s_iter / (s_setup + s_iter)))
        bare_all.append((wall, cpu))
    ours, bare_it, bare_all = (np.median(v, axis=0) for v in (ours, bare_it, bare_all))
    print(f"\n[full graph, tol={tol:g} absolute L1] bayesrec: {n_iter} iterations, "
          f"scipy: {it_b} iterations, max |diff| {np.abs(x - xb).max():.2e}")
    print("  medians of", reps,
          "runs                wall s    cpu s   ratio bayesrec/other (wall, cpu)")
    print(f"  bayesrec whole call          {ours[0]:8.3f} {ours[1]:8.3f}")
    print(f"  bare scipy (iterations only) {bare_it[0]:8.3f} {bare_it[1]:8.3f}   "
          f"{ours[0] / bare_it[0]:.2f}  {ours[1] / bare_it[1]:.2f}")
    print(f"  bare scipy (setup + iter.)   {bare_all[0]:8.3f} {bare_all[1]:8.3f}   "
          f"{ours[0] / bare_all[0]:.2f}  {ours[1] / bare_all[1]:.2f}")
    del xb
    gc.collect()

    # ---- networkx
    if args.nx_nodes and args.nx_nodes < n:
        del a
        gc.collect()
        b = powerlaw_digraph(args.nx_nodes, int(args.edges * args.nx_nodes / args.nodes), rng)
        print(f"\nnetworkx comparison on a smaller graph: {b.shape[0]:,} nodes, {b.nnz:,} edges")
    else:
        b = a
        print("\nnetworkx comparison on the full graph")
    nb = b.shape[0]
    t = time.perf_counter()
    g = to_networkx(b)
    print(f"  DiGraph built in {time.perf_counter() - t:.1f} s (not timed below)")
    import networkx as nx

    _, s_conv, c_conv = timed(lambda: nx.to_scipy_sparse_array(g, weight=None, dtype=float))  # noqa: F821
    print(f"  of a networkx call, its DiGraph -> CSR conversion alone takes {s_conv:.2f} s wall, "
          f"{c_conv:.2f} s cpu")
    x_ref, s_ref, c_ref = run_networkx(g, 1e-14)
    x_def, s_def, _ = run_networkx(g, 1e-6)
    err_def = np.abs(x_def - x_ref).sum()
    print(f"  networkx default tol=1e-6 (stops at L1 change < N*tol = {nb * 1e-6:g}): "
          f"{s_def:.2f} s, L1 error vs converged = {err_def:.3f} "
          f"(max relative error {np.max(np.abs(x_def - x_ref) / x_ref):.0%})")
    nx_times = [(s_ref, c_ref)] + [run_networkx(g, 1e-14)[1:] for _ in range(reps - 1)]
    del g
    gc.collect()
    our_times = []
    for _ in range(reps):
        xo, wall, cpu = timed(lambda: pagerank(b, alpha, tol=nb * 1e-14))
        our_times.append((wall, cpu))
    nx_med, our_med = np.median(nx_times, axis=0), np.median(our_times, axis=0)
    x_tight, it_tight = pagerank(b, alpha, tol=1e-14, max_iter=10_000, return_n_iter=True)
    _, it_same = pagerank(b, alpha, tol=nb * 1e-14, return_n_iter=True)
    print("  medians of", reps, "runs                     wall s    cpu s")
    print(f"  networkx tol=1e-14 (L1 < {nb * 1e-14:g})    {nx_med[0]:8.3f} {nx_med[1]:8.3f}")
    print(f"  bayesrec tol={nb * 1e-14:g} (same rule)      {our_med[0]:8.3f} {our_med[1]:8.3f}")
    print(f"  speed-up over networkx: {nx_med[0] / our_med[0]:.1f}x wall, "
          f"{nx_med[1] / our_med[1]:.1f}x cpu")
    print(f"  max |bayesrec - networkx| = {np.abs(xo - x_ref).max():.2e} (same rule, "
          f"{it_same} iterations), {np.abs(x_tight - x_ref).max():.2e} (bayesrec at absolute "
          f"tol 1e-14, {it_tight} iterations)")


if __name__ == "__main__":
    main()
