"""Benchmark: reading a MovieLens-20M-shaped ``ratings.csv`` into ``Ratings`` with both views.

Targets: at most 15 s and 2 GB peak on a 2-core machine; also times the
MovieLens-20M-shaped synthetic generator (target: well under a minute). Reference: the seed
course's per-row ``df.apply`` id remapping, timed on a 1M-row slice and extrapolated
linearly to the full file (it is O(rows) with a large constant).

    python -m experiments.bench_data [--rows 20000263] [--keep PATH]

The csv is written once from :func:`bayesrec.data.synthetic_ratings` (cached at ``--keep``).
Peak memory is the resident-set high-water mark (VmHWM) of a fresh child process that does only the
load, minus that of a child that only imports bayesrec (the interpreter and libraries).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayesrec.data import MOVIELENS_20M_SHAPE, synthetic_ratings

# VmHWM (not ru_maxrss, which Linux carries over across exec from the parent) is the
# child's own resident high-water mark
CHILD = """
import sys, time
t0 = time.perf_counter()
{body}
secs = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(secs, int(hwm) / 1024)
"""
LOAD = ("from bayesrec.data import load_movielens\n"
        "r = load_movielens(sys.argv[1]); r.csr; r.csc\n"
        "assert len(r) == int(sys.argv[2])")
IMPORT_ONLY = "import bayesrec.data"
GENERATE = ("from bayesrec.data import MOVIELENS_20M_SHAPE, synthetic_ratings\n"
            "r, _ = synthetic_ratings(**MOVIELENS_20M_SHAPE, rank=10, rng=0, "
            "rating_scale=(0.5, 5.0), step=0.5)")


def write_csv(path: Path, n_rows: int) -> None:
    shape = dict(MOVIELENS_20M_SHAPE, n_ratings=n_rows)
    r, _ = synthetic_ratings(**shape, rank=10, rng=0, rating_scale=(0.5, 5.0), step=0.5)
    f = r.to_frame()
    f.to_csv(path, index=False, float_format="%.1f", chunksize=1_000_000)


def child(body: str, *args) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(body=body), *map(str, args)],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def course_remap_seconds(path: Path, n_rows: int) -> float:
    """The course's id remapping: a dict per id column, then ``df.apply`` row by row."""
    df = pd.read_csv(path, nrows=n_rows)
    t0 = time.perf_counter()
    user2idx = {u: k for k, u in enumerate(set(df.userId.values))}
    movie2idx = {m: k for k, m in enumerate(set(df.movieId.values))}
    df["userId"] = df.apply(lambda row: user2idx[row.userId], axis=1)
    df["movie_idx"] = df.apply(lambda row: movie2idx[row.movieId], axis=1)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=MOVIELENS_20M_SHAPE["n_ratings"])
    p.add_argument("--keep", default=os.path.join(tempfile.gettempdir(), "bayesrec_ml20m"))
    p.add_argument("--slice", type=int, default=1_000_000)
    args = p.parse_args(argv)
    folder = Path(args.keep)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "ratings.csv"
    marker = folder / f"rows_{args.rows}"
    if not marker.exists():
        print(f"writing {args.rows:,} synthetic rows to {csv} (once) ...", flush=True)
        write_csv(csv, args.rows)
        marker.touch()
    print(f"file: {csv} ({csv.stat().st_size / 1e9:.2f} GB)")

    base_s, base_mb = child(IMPORT_ONLY)
    runs = [child(LOAD, csv, args.rows) for _ in range(3)]
    secs = float(np.median([s for s, _ in runs]))
    peak = max(mb for _, mb in runs) - base_mb
    gen_s, gen_mb = child(GENERATE)
    sl = min(args.slice, args.rows)
    remap = course_remap_seconds(csv, sl) * args.rows / sl
    print(f"bayesrec load_movielens + csr + csc: {secs:.2f} s (median of 3, min "
          f"{min(s for s, _ in runs):.2f} s; "
          f"runs {[round(s, 2) for s, _ in runs]}), peak {peak:.0f} MB above the "
          f"{base_mb:.0f} MB interpreter")
    print(f"  target <= 15 s: {'OK' if secs <= 15 else 'MISSED'};  "
          f"target <= 2048 MB: {'OK' if peak <= 2048 else 'MISSED'}")
    print(f"synthetic_ratings at MovieLens-20M shape: {gen_s:.1f} s, peak {gen_mb:.0f} MB "
          f"(target: well under a minute)")
    print(f"course df.apply remapping alone (measured on {sl:,} rows, extrapolated): "
          f"{remap:.1f} s")
    print(f"ratio course / bayesrec = {remap / secs:.1f}x")


if __name__ == "__main__":
    main()
