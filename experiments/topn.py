"""Top-N recommendation: every recommender of the toolkit on one protocol.

Protocol: the standard random 80/20 split (seed 0) of the data; for each test user with a
training row, the 10 best items not rated in training; relevant = a held-out rating >= 4.
NDCG, precision, recall and MAP at 10, catalogue coverage (share of the catalogue shown to at
least one user) and fit seconds.  Rating models (ALS, BPMF, KNN) rank by predicted rating;
the implicit models (popularity, ImplicitALS, ImplicitBPMF, HPF) see only who rated what.

Hyperparameters of the top-N models are chosen on a validation split carved from the
TRAINING data (a random 20% of it, seed 1), never on the test split: ``--full`` runs the grid
search below and uses its winners; the quick suite uses the models' defaults, which are what
that search picked on the embedded data (its table is in the full report; validation
NDCG@10 within 1% of the best counts as a tie, won by the smaller rank).  The rating models
keep the settings of their own experiments (chosen for RMSE), HPF its own defaults.  The quick
suite runs shorter chains (BPMF, HPF Gibbs, ImplicitBPMF) than ``--full``.
"""

from __future__ import annotations

import itertools
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesrec.data import random_split
from bayesrec.factorization import ALS, BPMF, HPF, ImplicitALS, ImplicitBPMF
from bayesrec.metrics import evaluate_topk
from bayesrec.neighbors import ItemKNN
from bayesrec.popularity import BetaPopularity, MostPopular
from experiments.framework import Context, Section

TITLE = "Top-N recommendation: popularity, rating models, weighted MF and Poisson factorization"
ORDER = 45
K = 10
THRESHOLD = 4.0

#: grids searched on the validation split (``--full``); the defaults are their winners
GRIDS = {
    "ImplicitALS": {"rank": [32], "reg": [20.0, 35.0], "confidence": [1.0, 2.0],
                    "activity_exponent": [0.0, 0.5, 0.75]},
    "ImplicitBPMF": {"rank": [24, 48, 64], "activity_exponent": [0.5, 0.6],
                     "alpha": [10.0, 15.0]},
    "BetaPopularity": {"threshold": [None, 4.0]},
}


#: validation winners that are not library defaults: BetaPopularity's default threshold
#: (None: every interaction) must suit count data too; on MovieLens ratings the validation
#: split prefers counting only likes (rating >= 4)
TUNED = {"BetaPopularity": {"threshold": 4.0}}


def _quick_bayes(full: bool) -> dict:
    """Chain lengths: the quick suite keeps fewer draws (the ranking needs only the bank)."""
    return ({} if full else
            {"n_samples": 100, "burn_in": 40, "n_chains": 1, "n_predictive_draws": 25})


def _factories(full: bool) -> dict:
    """name -> callable(**overrides) building an unfitted model (fixed seeds)."""
    mcmc = _quick_bayes(full)
    return {
        "MostPopular": lambda **p: MostPopular(**p),
        "BetaPopularity": lambda **p: BetaPopularity(**p),
        "ALS (ratings)": lambda **p: ALS(rank=10, reg=12.0, n_iter=15, random_state=0, **p),
        "BPMF (ratings)": lambda **p: BPMF(rank=10, verbose=False, random_state=0,
                                           n_predictive_draws=20,
                                           **{"n_samples": 100 if full else 40,
                                              "burn_in": 100 if full else 40, **p}),
        "ItemKNN (ratings)": lambda **p: ItemKNN(**p),
        "HPF (CAVI)": lambda **p: HPF(method="cavi", random_state=0, **p),
        "HPF (Gibbs)": lambda **p: HPF(method="gibbs", random_state=0,
                                       **({} if full else {"n_samples": 50, "burn_in": 100,
                                                           "n_chains": 1}), **p),
        "ImplicitALS": lambda **p: ImplicitALS(random_state=0, **p),
        "ImplicitBPMF": lambda **p: ImplicitBPMF(verbose=False, random_state=0,
                                                 **{**mcmc, **p}),
    }


#: (row label, model, ranking options) of the test table
ROWS = [
    ("MostPopular", "MostPopular", {}),
    ("Beta popularity: mean", "BetaPopularity", {}),
    ("Beta popularity: thompson", "BetaPopularity", {"strategy": "thompson",
                                                     "random_state": 0}),
    ("ALS (ratings)", "ALS (ratings)", {}),
    ("BPMF (ratings): mean", "BPMF (ratings)", {}),
    ("BPMF (ratings): thompson", "BPMF (ratings)", {"strategy": "thompson",
                                                    "random_state": 0}),
    ("BPMF (ratings): lower_bound", "BPMF (ratings)", {"strategy": "lower_bound"}),
    ("ItemKNN (ratings)", "ItemKNN (ratings)", {}),
    ("HPF (CAVI): mean", "HPF (CAVI)", {}),
    ("HPF (Gibbs): mean", "HPF (Gibbs)", {}),
    ("HPF (Gibbs): thompson", "HPF (Gibbs)", {"strategy": "thompson", "random_state": 0}),
    ("ImplicitALS", "ImplicitALS", {}),
    ("ImplicitBPMF: mean", "ImplicitBPMF", {}),
    ("ImplicitBPMF: thompson", "ImplicitBPMF", {"strategy": "thompson", "random_state": 0}),
    ("ImplicitBPMF: lower_bound", "ImplicitBPMF", {"strategy": "lower_bound"}),
]


def validation_split(train):
    """The validation split carved from the training data (never from the test split)."""
    return random_split(train, test_size=0.2, rng=1)


def grid_search(name: str, factory, grid: dict, fit_set, val_set) -> pd.DataFrame:
    """NDCG@10 on the validation split of every grid point (one fit each)."""
    rows = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        params = dict(zip(keys, values))
        t0 = time.perf_counter()
        model = factory(**params).fit(fit_set)
        res = evaluate_topk(model, fit_set, val_set, k=K, threshold=THRESHOLD)
        rows.append({"model": name, **{k: str(v) for k, v in params.items()},
                     f"val ndcg@{K}": res[f"ndcg@{K}"],
                     "fit seconds": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def _best(table: pd.DataFrame, grid: dict) -> dict:
    """The best validation NDCG@10; points within 1% of it count as ties, won by the smallest
    rank (the cheaper model), then by NDCG."""
    score = table[f"val ndcg@{K}"]
    near = table[score >= 0.99 * score.max()]
    if "rank" in near:
        near = near.assign(_r=near["rank"].astype(float)).sort_values(
            ["_r", f"val ndcg@{K}"], ascending=[True, False])
        row = near.iloc[0]
    else:
        row = near.loc[near[f"val ndcg@{K}"].idxmax()]
    out = {}
    for k, values in grid.items():
        out[k] = next(v for v in values if str(v) == row[k])
    return out


def run(ctx: Context) -> Section:
    train, test = ctx.split
    sec = Section(TITLE)
    factories = _factories(ctx.full)
    chosen: dict[str, dict] = {name: dict(TUNED.get(name, {})) for name in factories}
    if ctx.full:
        fit_set, val_set = validation_split(train)
        tables = []
        for name, grid in GRIDS.items():
            table = grid_search(name, factories[name], grid, fit_set, val_set)
            chosen[name] = _best(table, grid)
            tables.append(table)
        sec.table("Validation NDCG@10 of the grids (validation = 20% of the training rows, "
                  "seed 1; the test split is not used)",
                  pd.concat(tables, ignore_index=True).set_index("model"))
    sec.note(
        f"Protocol: random 80/20 split (seed 0) of {ctx.data_name}; per test user with "
        f"training rows, the {K} best items not rated in training; relevant = held-out rating "
        f">= {THRESHOLD:g}. Rating models rank by predicted rating; popularity, ImplicitALS, "
        "ImplicitBPMF and HPF see only who rated what (one interaction per rated pair). "
        "Top-N hyperparameters: "
        + ("chosen on a validation split carved from the training rows (table above): "
           + "; ".join(f"{n} {p}" for n, p in chosen.items() if p)
           if ctx.full else
           "the defaults, which are the winners of the validation grid search of `--full` "
           f"(grids: {GRIDS}), and {TUNED}") + ".")

    fitted, fit_seconds = {}, {}
    rows = []
    for label, name, options in ROWS:
        if name not in fitted:
            t0 = time.perf_counter()
            fitted[name] = factories[name](**chosen[name]).fit(train)
            fit_seconds[name] = time.perf_counter() - t0
        res = evaluate_topk(fitted[name], train, test, k=K, threshold=THRESHOLD, **options)
        rows.append({"recommender": label, f"ndcg@{K}": res[f"ndcg@{K}"],
                     f"precision@{K}": res[f"precision@{K}"],
                     f"recall@{K}": res[f"recall@{K}"], f"map@{K}": res[f"map@{K}"],
                     "coverage": res["coverage"], "fit seconds": fit_seconds[name]})
    table = pd.DataFrame(rows).set_index("recommender")
    pop = table.loc["MostPopular", f"ndcg@{K}"]
    table[f"ndcg@{K} / MostPopular"] = table[f"ndcg@{K}"] / pop
    sec.table(f"Top-{K} quality on the test split ({int(table.shape[0])} lists; coverage = "
              "share of the catalogue in at least one list)", table)
    sec.figure("NDCG@10 against catalogue coverage; arrows go from each Bayesian model's "
               "posterior-mean list to its Thompson-sampled list",
               _figure(ctx, table))
    best = table[f"ndcg@{K}"].idxmax()
    sec.note(f"Best NDCG@{K}: {best} ({table.loc[best, f'ndcg@{K}']:.4f}, "
             f"{table.loc[best, f'ndcg@{K} / MostPopular']:.2f}x MostPopular). Thompson "
             "sampling ranks each user's list by one posterior draw, so items whose scores "
             "are uncertain get shown (explore) instead of always the posterior-mean winners "
             "(exploit): coverage grows and NDCG falls by as much as the posterior is wide. "
             "BPMF's rating posterior is wide for rarely rated movies, so its Thompson lists "
             "reach the most of the catalogue and lose most of their accuracy; the implicit "
             "models' posteriors, conditioned on every cell of the matrix, are narrow, so "
             "their Thompson lists stay close to the mean lists.")
    return sec


def _figure(ctx: Context, table: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(8, 5.5))
    x, y = table["coverage"], table[f"ndcg@{K}"]
    thompson = table.index.str.endswith("thompson")
    ax.scatter(x[~thompson], y[~thompson], color="C0", label="deterministic / posterior mean")
    ax.scatter(x[thompson], y[thompson], color="C3", marker="D", label="Thompson sampling")
    placed = []
    for label in table.index:
        # stack the labels of nearby points instead of printing them over each other
        lx, ly = np.log10(x[label]), y[label]
        near = sum(abs(lx - px) < 0.35 and abs(ly - py) < 0.02 for px, py in placed)
        placed.append((lx, ly))
        ax.annotate(label, (x[label], y[label]), fontsize=7, xytext=(5, 2 - 9 * near),
                    textcoords="offset points")
        if label.endswith("thompson"):
            base = label.replace("thompson", "mean")
            if base in table.index:
                ax.annotate("", (x[label], y[label]), (x[base], y[base]),
                            arrowprops={"arrowstyle": "->", "color": "C3", "alpha": 0.7})
    ax.set_xscale("log")
    ax.set_xlabel("catalogue coverage of the top-10 lists (log scale)")
    ax.set_ylabel("NDCG@10 (relevant = held-out rating >= 4)")
    ax.set_title(f"Top-10 accuracy against coverage ({ctx.data_name})")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return ctx.savefig(fig, "topn_ndcg_coverage")
