"""Figures for BPMF: ArviZ trace and rank plots of the rotation-invariant draws, running
held-out RMSE, and the calibration of posterior predictive intervals.

Trace/rank plots use only rotation-invariant quantities (norms, alpha, per-draw RMSEs):
raw factor entries are not identified (any joint rotation of U and V fits equally well).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

DIAG_VARS = ["alpha", "U_norm", "V_norm", "mu_U_norm", "mu_V_norm", "tau_b", "tau_c",
             "train_rmse", "test_rmse"]


def _present(dt, var_names):
    names = DIAG_VARS if var_names is None else var_names
    post = dt["posterior"]
    # a fixed alpha has zero variance: nothing to diagnose
    return [v for v in names if v in post.data_vars and float(post[v].std()) > 0]


def trace_plot(dt, var_names=None):
    """``arviz.plot_trace_dist`` (density + trace per chain); returns a PlotCollection."""
    import arviz as az
    return az.plot_trace_dist(dt, var_names=_present(dt, var_names), backend="matplotlib")


def rank_plot(dt, var_names=None):
    """``arviz.plot_rank`` (rank-ECDF difference per chain); returns a PlotCollection."""
    import arviz as az
    return az.plot_rank(dt, var_names=_present(dt, var_names), backend="matplotlib")


def running_rmse_figure(model, baselines: dict | None = None):
    """Per-chain running held-out RMSE of the posterior mean, and each draw's own RMSE."""
    fig, ax = plt.subplots(figsize=(7, 4))
    run = model.running_test_rmse_
    per_draw = model.traces_["test_rmse"]
    for c in range(run.shape[0]):
        ax.plot(np.arange(1, run.shape[1] + 1), run[c], lw=2, label=f"chain {c}: running mean")
        ax.plot(np.arange(1, run.shape[1] + 1), per_draw[c], lw=0.6, alpha=0.6,
                label=f"chain {c}: single draw")
    for name, value in (baselines or {}).items():
        ax.axhline(value, ls="--", lw=1, color="grey")
        ax.text(1, value, f" {name}", va="bottom", fontsize=8, color="grey")
    ax.set(xlabel="retained draw", ylabel="held-out RMSE",
           title="BPMF: running posterior-mean RMSE vs single draws")
    ax.legend(fontsize=7)
    return fig


def interval_coverage(model, test, probs=(0.5, 0.8, 0.95)) -> pd.DataFrame:
    """Share of held-out ratings inside the central ``prob`` posterior predictive interval."""
    u, i = test.user_ids[test.users], test.item_ids[test.items]
    rows = []
    for p in probs:
        iv = model.predict_interval(u, i, p)
        inside = (test.ratings >= iv[:, 0]) & (test.ratings <= iv[:, 1])
        rows.append({"nominal": p, "empirical": float(inside.mean()),
                     "mean width": float(np.mean(iv[:, 1] - iv[:, 0]))})
    return pd.DataFrame(rows)


def calibration_figure(coverage: pd.DataFrame):
    """Empirical vs nominal coverage of the predictive intervals."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    ax.plot(coverage["nominal"], coverage["empirical"], "o-", label="BPMF")
    for _, r in coverage.iterrows():
        ax.annotate(f"{r['empirical']:.3f}", (r["nominal"], r["empirical"]),
                    textcoords="offset points", xytext=(5, -12), fontsize=8)
    ax.set(xlim=(0.4, 1), ylim=(0.4, 1), xlabel="nominal coverage",
           ylabel="held-out coverage", title="Predictive interval calibration")
    ax.legend(fontsize=8)
    return fig
