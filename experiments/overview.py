"""Dataset overview: counts, sparsity, rating histogram, item long tail, user activity."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.framework import Context, Section

TITLE = "Dataset overview"
ORDER = 0


def run(ctx: Context) -> Section:
    r = ctx.data
    sec = Section(f"{TITLE}: {ctx.data_name}")
    uc, ic = r.user_counts, r.item_counts
    facts = {
        "ratings": len(r), "users": r.n_users, "items": r.n_items,
        "density": r.density, "mean rating": r.global_mean,
        "rating sd": float(r.ratings.std()),
        "median ratings per user": float(np.median(uc)),
        "median ratings per item": float(np.median(ic)),
        "items with 1 rating": int((ic == 1).sum()),
        "share of ratings on top 10% items": float(np.sort(ic)[::-1][:max(1, r.n_items // 10)].sum()
                                                    / len(r)),
    }
    if r.has_timestamps:
        ts = pd.to_datetime(r.timestamps, unit="s")
        facts["first rating"] = str(ts.min().date())
        facts["last rating"] = str(ts.max().date())
    sec.table("Counts and sparsity", pd.DataFrame({"value": facts}).rename_axis("quantity"))

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    values, counts = np.unique(r.ratings, return_counts=True)
    axes[0].bar(values, counts, width=0.35 if len(values) > 5 else 0.7)
    axes[0].set(title="Rating histogram", xlabel="rating", ylabel="count")
    sorted_ic = np.sort(ic)[::-1]
    axes[1].loglog(np.arange(1, len(sorted_ic) + 1), np.maximum(sorted_ic, 0.8))
    axes[1].set(title="Item popularity (long tail)", xlabel="item rank", ylabel="ratings")
    axes[2].hist(uc, bins=np.logspace(0, np.log10(uc.max() + 1), 40))
    axes[2].set(xscale="log", title="Ratings per user", xlabel="ratings", ylabel="users")
    sec.figure("Rating histogram, item long tail and user activity", ctx.savefig(fig, "overview"))
    return sec
