"""Benchmark: bayesrec.rules.association_rules vs mlxtend fpgrowth + association_rules.

Run: ``.venv/bin/python -m experiments.bench_rules [--min-support 0.05] [--repeats 3]``

Data: the embedded MovieLens ratings, one basket per user holding the movies rated >= 4
(610 baskets).  bayesrec is timed from the ``Ratings`` object to the rules DataFrame.  mlxtend
is timed as ``fpgrowth(onehot) + association_rules(...)`` from its one-hot DataFrame input,
and separately with the time to build that DataFrame (the one-hot frame is over the movies
liked at least once).  Both produce the same rule set with the same metrics; the script checks
this (same (antecedent, consequent) pairs; every metric column equal to 1e-12 relative).

Note on the support threshold: mlxtend's fpgrowth keeps itemsets with count >=
``ceil(min_support * n)``, its apriori (and bayesrec) with ``count / n >= min_support``; the
two differ when ``min_support * n`` is an integer up to rounding (not the case at 0.05 x 610).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from bayesrec.data import movielens_small
from bayesrec.rules import association_rules, basket_matrix
from experiments.benchtools import timed


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-support", type=float, default=0.05)
    ap.add_argument("--min-rating", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from mlxtend.frequent_patterns import association_rules as mlx_rules
    from mlxtend.frequent_patterns import fpgrowth

    r = movielens_small()
    ms = args.min_support

    def onehot():
        x, labels = basket_matrix(r, args.min_rating)
        keep = np.asarray(x.sum(axis=0)).ravel() > 0
        return pd.DataFrame(x[:, keep].toarray().astype(bool), columns=labels[keep])

    def mlx(df):
        freq = fpgrowth(df, min_support=ms, use_colnames=True)
        return mlx_rules(freq, len(df), metric="confidence", min_threshold=0.0)

    association_rules(r, 0.3)  # numba compile / cache load outside the timing
    ours_t, mlx_t, enc_t = [], [], []
    for _ in range(args.repeats):
        ours, wall, cpu = timed(lambda: association_rules(r, ms, min_rating=args.min_rating))
        ours_t.append((wall, cpu))
        df, wall, cpu = timed(onehot)
        enc_t.append((wall, cpu))
        ref, wall, cpu = timed(lambda: mlx(df))
        mlx_t.append((wall, cpu))
    ours_m, mlx_m, enc_m = (np.median(v, axis=0) for v in (ours_t, mlx_t, enc_t))
    print(f"{r.n_users} baskets (users), {df.shape[1]} movies liked at least once, "
          f"min_support {ms}: {len(ours)} rules from "
          f"{int(ours.antecedents.map(len).add(ours.consequents.map(len)).max())}-itemsets max")
    print(f"medians of {args.repeats} runs            wall s    cpu s")
    print(f"  bayesrec association_rules   {ours_m[0]:8.3f} {ours_m[1]:8.3f}")
    print(f"  mlxtend fpgrowth + rules     {mlx_m[0]:8.3f} {mlx_m[1]:8.3f}   "
          f"speed-up {mlx_m[0] / ours_m[0]:.1f}x wall, {mlx_m[1] / ours_m[1]:.1f}x cpu")
    tot = mlx_m + enc_m
    print(f"  mlxtend incl. one-hot frame  {tot[0]:8.3f} {tot[1]:8.3f}   "
          f"speed-up {tot[0] / ours_m[0]:.1f}x wall, {tot[1] / ours_m[1]:.1f}x cpu")

    a = ours.set_index(["antecedents", "consequents"])
    b = ref.set_index(["antecedents", "consequents"])
    same_keys = len(a) == len(b) and set(a.index) == set(b.index)
    print(f"  identical rule set: {same_keys} ({len(a)} vs {len(b)} rules)")
    if same_keys:
        b = b.loc[a.index]
        def rel_diff(c):
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            fin = np.isfinite(y)
            return float(np.max(np.abs(x[fin] - y[fin]) / np.maximum(np.abs(y[fin]), 1e-300),
                                initial=0.0))

        worst = max(rel_diff(c) for c in b.columns)
        infs = all(np.array_equal(np.isinf(a[c].to_numpy(float)), np.isinf(b[c].to_numpy(float)))
                   for c in b.columns)
        print(f"  max relative difference over all {len(b.columns)} mlxtend metric columns: "
              f"{worst:.1e}; same infinite convictions: {infs}")


if __name__ == "__main__":
    main()
