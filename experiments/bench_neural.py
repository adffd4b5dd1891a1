"""Benchmark: NeuralRecommender("residual", method="map") against an equivalent PyTorch loop.

    python -m experiments.bench_neural [--epochs 10] [--repeats 3] [--torch-python PATH]

Reference: :mod:`experiments.bench_neural_torch`, the same residual model (K=10, H=400, ReLU),
priors, initialisation, per-rating negative log posterior, Adam (lr 1e-3), batch 128, float32,
written in PyTorch and run on the CPU in its own interpreter, because torch is a
benchmark-only dependency that the library and the tests never import.  That interpreter is
``--torch-python``, else ``$BAYESREC_TORCH_PYTHON``, else ``.venv-torch/bin/python`` in the
repository; set it up with (a CPU wheel; Python 3.11 is what the local torch wheel needs)::

    python3.11 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0 numpy

PyTorch runs single-threaded by default (``--torch-threads``), as our loop runs BLAS on one
thread: the mini-batch ops are too small to gain from threads, and on a busy 2-core machine
PyTorch's default 2 threads spin-wait (one run here: 148 s per epoch against 0.6 s with one
thread), so one thread is the faster, stricter reference.

Both fit the embedded ml-latest-small data on the suite's random 80/20 split (seed 0).
Measured, in the same run and alternating, ``--repeats`` times: the median training time
per epoch (epoch 1 excluded: it holds Numba's JIT compile resp. PyTorch's warm-up; test
evaluation excluded) and the test RMSE after the last epoch.  Targets: time ratio
ours / PyTorch <= 2 and |RMSE difference| <= 0.01.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bayesrec.data import movielens_small
from bayesrec.data.splits import random_split
from bayesrec.factorization.neural import NeuralRecommender

REPO = Path(__file__).resolve().parents[1]


def torch_python(flag: str | None) -> str:
    path = flag or os.environ.get("BAYESREC_TORCH_PYTHON") or str(REPO / ".venv-torch/bin/python")
    if not Path(path).exists():
        sys.exit(f"PyTorch interpreter {path!r} not found: create it (see this module's "
                 "docstring) or pass --torch-python / set BAYESREC_TORCH_PYTHON")
    return path


def run_torch(python: str, data: str, epochs: int, batch_size: int, threads: int,
              seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = [python, str(REPO / "experiments/bench_neural_torch.py"), data, out,
               "--epochs", str(epochs), "--batch-size", str(batch_size),
               "--threads", str(threads), "--seed", str(seed)]
        subprocess.run(cmd, check=True)
        with open(out) as f:
            return json.load(f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch-python", default=None)
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="PyTorch intra-op threads (default 1, as ours; 0: torch's default)")
    args = ap.parse_args(argv)
    python = torch_python(args.torch_python)

    train, test = random_split(movielens_small(), 0.2, rng=0)
    results = {"ours": [], "torch": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "split.npz")
        np.savez(data, train_u=train.users.astype(np.int64), train_i=train.items.astype(np.int64),
                 train_y=train.ratings, test_u=test.users.astype(np.int64),
                 test_i=test.items.astype(np.int64), test_y=test.ratings,
                 n_users=train.n_users, n_items=train.n_items, mu=train.global_mean,
                 lo=train.rating_scale[0], hi=train.rating_scale[1])
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            ref = run_torch(python, data, args.epochs, args.batch_size, args.torch_threads, rep)
            ep = ref["epochs"]
            results["torch"].append({"epoch_s": float(np.median([e["seconds"] for e in ep[1:]])),
                                     "rmse": ep[-1]["test_rmse"],
                                     "wall_s": time.perf_counter() - t0})
            t0 = time.perf_counter()
            model = NeuralRecommender("residual", method="map", n_iter=args.epochs,
                                      batch_size=args.batch_size, random_state=rep)
            model.fit(train, test)
            h = model.history_
            epoch_s = np.diff(np.concatenate([[0.0], h["seconds"].to_numpy()]))
            results["ours"].append({"epoch_s": float(np.median(epoch_s[1:])),
                                    "rmse": float(h["test_rmse"].iloc[-1]),
                                    "first_epoch_s": float(epoch_s[0]),
                                    "wall_s": time.perf_counter() - t0})
            o, r = results["ours"][-1], results["torch"][-1]
            print(f"repeat {rep + 1}: ours {o['epoch_s']:.3f} s/epoch, RMSE {o['rmse']:.4f} | "
                  f"torch {r['epoch_s']:.3f} s/epoch, RMSE {r['rmse']:.4f} | time ratio "
                  f"{o['epoch_s'] / r['epoch_s']:.2f}", flush=True)

    med = {k: {m: float(np.median([x[m] for x in v])) for m in ("epoch_s", "rmse")}
           for k, v in results.items()}
    ratios = [o["epoch_s"] / r["epoch_s"] for o, r in zip(results["ours"], results["torch"])]
    diffs = [o["rmse"] - r["rmse"] for o, r in zip(results["ours"], results["torch"])]
    ratio, diff = float(np.median(ratios)), float(np.median(diffs))
    print(f"\nresidual MAP, ml-latest-small 80/20, batch {args.batch_size}, {args.epochs} "
          f"epochs, torch {ref['torch']} ({ref['threads']} threads), {args.repeats} repeats")
    print(f"  time per epoch : ours {med['ours']['epoch_s']:.3f} s, "
          f"torch {med['torch']['epoch_s']:.3f} s, median ratio {ratio:.2f} (target <= 2)")
    print(f"  test RMSE      : ours {med['ours']['rmse']:.4f}, torch {med['torch']['rmse']:.4f},"
          f" median difference {diff:+.4f} (target |diff| <= 0.01)")
    ok = ratio <= 2.0 and abs(diff) <= 0.01
    print("  PASS" if ok else "  FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
