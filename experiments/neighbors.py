"""Neighbourhood CF (user-user, item-item): rating error, top-10 quality, RMSE against k.

Runs on the suite's standard split (random 80/20, seed 0).  Three settings per model:

* ``course``: the course's code path (k strongest neighbours per target, plain means);
* ``course + prior``: the same with the conjugate-Normal damped means (``prior_weight=5``,
  the library default);
* ``per-item``: the neighbourhood of Herlocker et al. / Surprise's ``KNNWithMeans``: for each
  prediction, the k most similar targets among those that rated the column, positive weights
  only (``neighborhood="rated", positive_only=True``).
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bayesrec.metrics import evaluate_topk, mae, rmse
from bayesrec.neighbors import ItemKNN, UserKNN
from experiments.framework import Context, Section

TITLE = "Neighbourhood collaborative filtering (user-user, item-item)"
ORDER = 20

SETTINGS = {
    "course": dict(prior_weight=0.0, neighborhood="fixed"),
    "course + prior": dict(neighborhood="fixed"),
    "per-item": dict(neighborhood="rated", positive_only=True),
}


def _errors(model, train, test) -> dict[str, float]:
    p_tr = model.predict_ratings(train)
    p_te = model.predict_ratings(test)
    return {"train RMSE": rmse(train.ratings, p_tr), "train MAE": mae(train.ratings, p_tr),
            "test RMSE": rmse(test.ratings, p_te), "test MAE": mae(test.ratings, p_te)}


def run(ctx: Context) -> Section:
    train, test = ctx.split
    sec = Section(TITLE)
    UserKNN().fit(train.take(np.arange(2000)))  # load the compiled kernels before timing
    rows = []
    fitted = {}
    for Model in (UserKNN, ItemKNN):
        for name, kw in SETTINGS.items():
            t0 = time.perf_counter()
            model = Model(**kw).fit(train)
            fit_s = time.perf_counter() - t0
            row = {"model": Model.__name__, "setting": name, "k": model.k_,
                   "fit (s)": fit_s, **_errors(model, train, test)}
            topk = evaluate_topk(model, train, test, k=10)
            row.update({m: topk[m] for m in ("precision@10", "recall@10", "ndcg@10")})
            rows.append(row)
            fitted[Model.__name__, name] = model
    table = pd.DataFrame(rows).set_index(["model", "setting"])
    sec.table("Rating error and top-10 quality (relevant: test rating >= 4; seen items "
              "excluded)", table)
    sec.note("Pearson weights over the co-rated set (means over all of a row's ratings, norms "
             "over the overlap), min_overlap=5. The course keeps the k strongest neighbours "
             "per target once, so for most (user, item) pairs none of them rated the item and "
             "the prediction falls back to the target's mean; the per-item neighbourhood "
             "picks the k strongest among those who did, and is much more accurate. "
             "Top-10 quality is low for all of them: the score 'mean + weighted deviation' "
             "ranks first the obscure items that one or two neighbours rated far above their "
             "own mean (sum |w| normalises away how much support a prediction has), a known "
             "weakness of rating-prediction neighbourhoods for ranking. Fit times exclude the "
             "one-off numba compilation.")

    # RMSE against k
    ks = [5, 10, 25, 50, 100] if not ctx.full else [2, 5, 10, 15, 25, 40, 60, 100, 150]
    curves = []
    for Model in (UserKNN, ItemKNN):
        for name in ("course + prior", "per-item"):
            for k in ks:
                m = Model(k=k, **SETTINGS[name]).fit(train)
                curves.append({"model": Model.__name__, "setting": name, "k": k,
                               "test RMSE": rmse(test.ratings, m.predict_ratings(test))})
    curves = pd.DataFrame(curves)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (model, name), g in curves.groupby(["model", "setting"], sort=False):
        ax.plot(g["k"], g["test RMSE"], marker="o",
                ls="-" if name == "per-item" else "--", label=f"{model}, {name}")
    ax.set(xscale="log", xlabel="k (neighbours)", ylabel="test RMSE",
           title="Neighbourhood CF: test RMSE against k")
    ax.legend()
    sec.figure("Test RMSE against the number of neighbours k", ctx.savefig(fig, "neighbors_k"))
    sec.table("Test RMSE against k", curves.pivot(index="k", columns=["model", "setting"],
                                                  values="test RMSE"))

    # the prior weight (cold start): damped means against plain means
    lam_rows = []
    for lam in (0.0, 1.0, 5.0, 25.0):
        for Model in (UserKNN, ItemKNN):
            m = Model(prior_weight=lam, **SETTINGS["per-item"]).fit(train)
            lam_rows.append({"prior weight": lam, "model": Model.__name__,
                             "test RMSE": rmse(test.ratings, m.predict_ratings(test))})
    sec.table("Conjugate-Normal shrinkage of the means (per-item neighbourhood): test RMSE "
              "against the prior weight lambda",
              pd.DataFrame(lam_rows).pivot(index="prior weight", columns="model",
                                           values="test RMSE"))

    # what the item-item weights look like: the neighbours of the most rated movie
    item_model = fitted["ItemKNN", "per-item"]
    top_item = train.item_ids[int(np.argmax(train.item_counts))]
    nb = item_model.neighbors(top_item, n=10)
    nb.insert(1, "title", ctx.titles(nb["neighbor"]))
    sec.table(f"Item-item neighbours of the most rated movie, "
              f"{ctx.titles([top_item])[0]} (Pearson on co-rating users)",
              nb.set_index("rank"))
    return sec
