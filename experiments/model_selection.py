"""Choosing settings by validation instead of by hand: GridSearch on a validation split of the
training part for ALS (rank x reg) and item-item KNN (k), cross-validated error of the choice,
and its test error against the hand-picked settings of the baseline experiments."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesrec.data.splits import random_split
from bayesrec.factorization import ALS
from bayesrec.metrics import evaluate_topk, mae, rmse
from bayesrec.model_selection import GridSearch, cross_validate
from bayesrec.neighbors import ItemKNN
from experiments.framework import Context, Section

TITLE = "Model selection: settings chosen by GridSearch on a validation split"
ORDER = 45


def _grids(full: bool) -> dict:
    ranks = [2, 5, 10, 20, 40] if full else [2, 5, 10]
    regs = [2.0, 5.0, 10.0, 20.0, 40.0] if full else [5.0, 10.0, 20.0]
    return {"ALS": (ALS(n_iter=15, random_state=0), {"rank": ranks, "reg": regs},
                    ALS(rank=10, reg=12.0, n_iter=15, random_state=0)),
            "ItemKNN": (ItemKNN(), {"k": [5, 10, 20, 40, 80] if full else [10, 20, 40, 80]},
                        ItemKNN(k=20))}


def _test_row(name, label, model, train, test) -> dict:
    pred = model.fit(train).predict_ratings(test)
    top = evaluate_topk(model, train, test, k=10)
    return {"model": name, "settings": label, "test RMSE": rmse(test.ratings, pred),
            "test MAE": mae(test.ratings, pred), "test NDCG@10": top["ndcg@10"]}


def run(ctx: Context) -> Section:
    train, test = ctx.split
    sec = Section(TITLE)
    # the test part is never looked at while choosing: validation rows come out of train
    fit_part, valid = random_split(train, test_size=0.2, rng=1)
    rows, searches = [], {}
    for name, (template, grid, hand) in _grids(ctx.full).items():
        gs = GridSearch(template, grid, cv=[(fit_part, valid)], metric=["rmse", "ndcg@10"],
                        refit=False, random_state=0, verbose=False).fit(train)
        searches[name] = gs
        cols = [c for c in gs.results_.columns if c.startswith("param_")]
        table = gs.results_[cols + ["mean_rmse", "mean_ndcg@10", "mean_fit_seconds"]]
        table = table.rename(columns=lambda c: c.replace("param_", "").replace(
            "mean_", "validation "))
        sec.table(f"{name}: validation RMSE and NDCG@10 of every grid point (fit on 80% of the "
                  f"training part, scored on the other 20%); chosen by RMSE: "
                  f"{gs.best_params_}", table.round(4))
        hand_label = ", ".join(f"{k}={hand.get_params()[k]}" for k in grid)
        chosen_label = ", ".join(f"{k}={v}" for k, v in gs.best_params_.items())
        rows.append(_test_row(name, f"hand-picked: {hand_label}", hand.clone(), train, test))
        rows.append(_test_row(name, f"GridSearch: {chosen_label}",
                              template.clone().set_params(**gs.best_params_), train, test))
    sec.table("Test error of the hand-picked and the chosen settings (fit on the whole "
              "training part, scored on the held-out test part)",
              pd.DataFrame(rows).set_index("model").round(4))

    als = searches["ALS"]
    res = als.results_
    ranks = sorted(res["param_rank"].unique())
    regs = sorted(res["param_reg"].unique())
    heat = res.pivot(index="param_rank", columns="param_reg", values="mean_rmse").loc[
        ranks, regs].to_numpy()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    im = ax.imshow(heat, cmap="viridis_r", aspect="auto")
    ax.set(xticks=range(len(regs)), xticklabels=[f"{v:g}" for v in regs],
           yticks=range(len(ranks)), yticklabels=ranks, xlabel="reg", ylabel="rank",
           title="ALS validation RMSE")
    for (a, b), v in np.ndenumerate(heat):
        ax.text(b, a, f"{v:.3f}", ha="center", va="center", fontsize=8, color="w")
    fig.colorbar(im, ax=ax)
    knn = searches["ItemKNN"].results_
    ax2.plot(knn["param_k"], knn["mean_rmse"], "o-")
    ax2.set(xscale="log", xlabel="k (neighbours)", ylabel="validation RMSE",
            title="ItemKNN validation RMSE")
    fig.tight_layout()
    sec.figure("Validation RMSE over the grids", ctx.savefig(fig, "model_selection_grids"))

    best = ALS(n_iter=15, random_state=0, **als.best_params_)
    cv = cross_validate(best, train, cv=3 if not ctx.full else 5, metrics=("rmse", "ndcg@10"),
                        random_state=0, verbose=False)
    sec.table(f"Chosen ALS ({als.best_params_}): random k-fold cross-validation on the training "
              "part (mean and standard error over folds)", cv.attrs["summary"].round(4))
    sec.note("The grids are chosen by validation RMSE; a point that wins on RMSE need not win "
             "on NDCG@10 (both are in the tables): pass the metric you care about first in "
             "`metric=[...]`.")
    sec.note("GridSearch fits a clone for every (grid point, fold) as a joblib task; "
             "`n_jobs=2`, or `joblib.parallel_config(backend=\"dask\")` around the call, runs "
             "them in parallel with the same numbers.")
    return sec
