"""Bernoulli bandits: Thompson sampling's Beta posteriors, and regret against Lai-Robbins.

The course's instance: three arms paying 1 with probabilities 0.2, 0.5 and 0.75.  One Thompson
run shows the three Beta posteriors sharpening; many replications of Thompson sampling, UCB1
and epsilon-greedy (run together by the vectorized simulator) give mean cumulative regret with
bands, next to the Lai-Robbins asymptotic lower bound ``C(p) log t``.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bayesrec.bandits import (
    UCB1,
    BetaBernoulliThompson,
    EpsilonGreedy,
    lai_robbins_bound,
    lai_robbins_constant,
    simulate,
)
from bayesrec.inference.beta import beta_interval
from experiments.framework import Context, Section

TITLE = "Bandits: Beta-Bernoulli Thompson sampling, UCB1, epsilon-greedy and the Lai-Robbins bound"
ORDER = 11
PROBABILITIES = np.array([0.2, 0.5, 0.75])
N_TRIALS = 2000
STEPS = [5, 10, 20, 50, 100, 200, 500, 1000, 1500, 1999]   # the course's plotting points


def run(ctx: Context) -> Section:
    sec = Section(TITLE)
    p = PROBABILITIES
    _posterior_figure(ctx, sec, p)

    n_rep = 2000 if ctx.full else 500
    n_trials = 10_000 if ctx.full else N_TRIALS
    policies = [BetaBernoulliThompson(3), UCB1(3), EpsilonGreedy(3, epsilon=0.1)]
    results, seconds = {}, {}
    for k, pol in enumerate(policies):
        t0 = time.perf_counter()
        results[pol.name] = simulate(pol, p, n_trials, n_rep, rng=ctx.seed + 1 + k)
        seconds[pol.name] = time.perf_counter() - t0
    c = lai_robbins_constant(p)
    t = np.arange(1, n_trials + 1)
    bound = lai_robbins_bound(p, t)

    rows = {}
    for name, res in results.items():
        final = res.regret[:, -1]
        rows[name] = {
            "mean regret at T": final.mean(),
            "standard error": final.std(ddof=1) / np.sqrt(final.size),
            "median": float(np.median(final)),
            "90% quantile": float(np.quantile(final, 0.9)),
            "best-arm share of pulls": float((res.arms == np.argmax(p)).mean()),
            "seconds": seconds[name],
            "decisions per second": n_rep * n_trials / seconds[name],
        }
    rows["Lai-Robbins C log T"] = {"mean regret at T": float(bound[-1])}
    table = pd.DataFrame(rows).T.rename_axis("policy").astype(object).fillna("")
    sec.note(
        f"p = {tuple(float(v) for v in p)}, T = {n_trials} trials, {n_rep} replications per "
        f"policy (one Python loop "
        f"over trials; each step acts on (replications, arms) arrays). Regret is the cumulative "
        f"pseudo-regret sum_t (p* - p_arm_t). Lai-Robbins constant C(p) = sum over suboptimal "
        f"arms of (p* - p_a) / KL(p_a || p*) = {c:.4f}, so C log T = {bound[-1]:.2f}: an "
        "asymptotic bound (liminf R_T / log T >= C), not a finite-horizon one: Thompson sampling "
        "(asymptotically optimal, Kaufmann et al. 2012) lies below the curve here, and its "
        "growth per unit of log t reaches C only as t -> infinity.")
    sec.table(f"Cumulative regret at T = {n_trials} ({n_rep} replications)", table)

    # slope of mean regret in log t over the last decade of trials, against C
    lo = n_trials // 10
    slopes = {name: np.polyfit(np.log(t[lo:]), res.mean_regret()[lo:], 1)[0]
              for name, res in results.items()}
    sec.table("Growth of mean regret per unit of log t over the last 90% of trials "
              "(Lai-Robbins: C)", pd.DataFrame({"d regret / d log t": {**slopes, "C": c}})
              .rename_axis("policy"))

    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    for ax, logx in zip(axes, (False, True)):
        for k, (name, res) in enumerate(results.items()):
            mean, se = res.mean_regret(), res.regret_standard_error()
            q10, q90 = np.quantile(res.regret, [0.1, 0.9], axis=0)
            ax.plot(t, mean, color=f"C{k}", label=f"{name} (mean)")
            ax.fill_between(t, mean - 2 * se, mean + 2 * se, color=f"C{k}", alpha=0.35, lw=0)
            ax.fill_between(t, q10, q90, color=f"C{k}", alpha=0.1, lw=0)
        ax.plot(t, bound, "k--", label=f"Lai-Robbins {c:.2f} log t")
        ax.set(xlabel="trial t", ylabel="cumulative regret", xscale="log" if logx else "linear")
    axes[0].legend(loc="upper left")
    axes[0].set_title("Mean cumulative regret; dark band +-2 standard errors, light band "
                      "10-90% of replications", fontsize=9)
    axes[1].set_title("Same against log t: logarithmic regret is a straight line of slope <= C",
                      fontsize=9)
    sec.figure("Cumulative regret of the three policies with the Lai-Robbins curve",
               ctx.savefig(fig, "bandits_regret"))
    return sec


def _posterior_figure(ctx: Context, sec: Section, p: np.ndarray) -> None:
    """The course's figure: the three Beta posteriors of one Thompson run at STEPS trials."""
    res = simulate(BetaBernoulliThompson(3), p, N_TRIALS, 1, rng=ctx.seed, posterior_steps=STEPS)
    tree = res.posterior(n_draws=4000, replication=0, rng=ctx.seed)   # ArviZ DataTree
    cd = tree["constant_data"]
    alpha, beta = cd["alpha"].values, cd["beta"].values                # (step, arm)
    x = np.linspace(0, 1, 400)
    fig, axes = plt.subplots(2, 5, figsize=(18, 6.5), sharex=True)
    for j, (ax, step) in enumerate(zip(axes.ravel(), STEPS)):
        for k in range(p.size):
            n_k = int(cd["successes"].values[j, k] + cd["failures"].values[j, k])
            ax.plot(x, stats.beta.pdf(x, alpha[j, k], beta[j, k]), color=f"C{k}",
                    label=f"p={p[k]} ({n_k} plays)")
            ax.axvline(p[k], color=f"C{k}", ls=":", lw=1)
        ax.set_title(f"after {step} trials", fontsize=10)
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="upper left")
    sec.figure("Thompson sampling: Beta posterior of each arm after 5 ... 1999 trials (dotted: "
               "true p). The best arm's posterior sharpens; the others stay wide because they "
               "are rarely played", ctx.savefig(fig, "bandits_thompson_posteriors"))
    theta = tree["posterior"]["theta"]
    lo, hi = beta_interval(alpha[-1], beta[-1], 0.95)
    sec.table(
        f"Posterior after {STEPS[-1]} trials of that run (ArviZ DataTree group 'posterior', "
        "variable theta with dims chain, draw, step, arm; exact Beta quantiles alongside)",
        pd.DataFrame({
            "true p": p,
            "plays": res.pulls_at[-1, 0],
            "successes": res.successes_at[-1, 0],
            "posterior mean (draws)": theta.isel(step=-1).mean(("chain", "draw")).values,
            "posterior sd (draws)": theta.isel(step=-1).std(("chain", "draw")).values,
            "exact 2.5%": lo, "exact 97.5%": hi,
        }, index=pd.Index([f"arm {k}" for k in range(p.size)], name="arm")))
