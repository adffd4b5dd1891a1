"""Benchmark: the vectorized bandit simulator vs mabwiser, and ranking scores over 10^7 items.

Run: ``.venv/bin/python -m experiments.bench_bandits [--replications 500] [--trials 2000]
[--blocks 5] [--others 100] [--items 10000000] [--repeats 3] [--skip-mabwiser]
[--skip-bandits] [--worst-case]``

Needs ``mabwiser`` (benchmark-only: ``.venv/bin/pip install mabwiser``); the library and tests
never import it.

Bandits.  The course's instance p = (0.2, 0.5, 0.75), T trials.  mabwiser runs one
replication at a time, the way it is used online: ``predict()`` then ``partial_fit([arm],
[reward])`` per trial.  Its first ``fit`` holds one play of *every* arm (its UCB1 never tries
an arm missing there), with rewards drawn from the environment; those 3 plays count as trials
1-3 of the regret.  bayesrec's :func:`simulate` runs all replications at once.  Decision rates
are measured in ``--blocks`` interleaved rounds (one full bayesrec run, then one block of
``replications / blocks`` mabwiser replications); the printed ratio is the median over rounds.
Mean pseudo-regret at T is compared with standard errors (z = difference / combined SE).
UCB1 and epsilon-greedy are compared on ``--others`` replications.

Ranking.  Each score over ``--items`` items (median of ``--repeats`` timings).  Counts are
long-tailed (``floor(lognormal(1.5, 1.5))`` ratings per item, like-share ~ Beta(2, 2)), as in
real catalogues; the Beta lower bound is also timed against ``scipy.stats.beta.ppf`` on the
long-tailed data and, with ``--worst-case``, on items whose ``(a, b)`` pairs are all distinct
(counts uniform below 10^4: no deduplication possible, ~2-3 microseconds per item).
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
from scipy import stats

from bayesrec.bandits import UCB1, BetaBernoulliThompson, EpsilonGreedy, simulate
from bayesrec.ranking import (
    BetaPosteriorRanker,
    hacker_news_score,
    reddit_hot,
    smoothed_average,
    wilson_lower_bound,
    wilson_upper_bound,
)

P = np.array([0.2, 0.5, 0.75])


def mabwiser_regrets(policy: str, n_rep: int, n_trials: int, seed: int) -> tuple[np.ndarray, float]:
    """Final pseudo-regret of ``n_rep`` mabwiser runs and the seconds they took."""
    from mabwiser.mab import MAB, LearningPolicy

    make = {"Thompson": LearningPolicy.ThompsonSampling,
            "UCB1": LearningPolicy.UCB1,
            "epsilon-greedy": lambda: LearningPolicy.EpsilonGreedy(epsilon=0.1)}[policy]
    gap = P.max() - P
    k = P.size
    out = np.empty(n_rep)
    seeds = np.random.SeedSequence(seed).generate_state(n_rep)
    t0 = time.perf_counter()
    for r in range(n_rep):
        env = np.random.default_rng(seeds[r])
        mab = MAB(list(range(k)), make(), seed=int(seeds[r]))
        first = np.arange(k)
        mab.fit(first, (env.random(k) < P).astype(int))   # every arm once, in the first fit
        regret = gap.sum()
        for _ in range(n_trials - k):
            arm = mab.predict()
            mab.partial_fit([arm], [int(env.random() < P[arm])])
            regret += gap[arm]
        out[r] = regret
    return out, time.perf_counter() - t0


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(x.size))


def bench_bandits(args) -> None:
    R, T, B = args.replications, args.trials, args.blocks
    print(f"== Bandits: p = {tuple(P.tolist())}, T = {T}")
    policies = {"Thompson": BetaBernoulliThompson(3), "UCB1": UCB1(3),
                "epsilon-greedy": EpsilonGreedy(3, epsilon=0.1)}
    ours_rates, mab_rates, ratios, mab_final = [], [], [], []
    ours_final = None
    per_block = R // B
    for b in range(B):
        gc.collect()
        t0 = time.perf_counter()
        res = simulate(policies["Thompson"], P, T, R, rng=1000 + b)
        dt = time.perf_counter() - t0
        ours_rates.append(R * T / dt)
        if ours_final is None:
            ours_final = res.regret[:, -1]
        if args.skip_mabwiser:
            continue
        regrets, mdt = mabwiser_regrets("Thompson", per_block, T, seed=b)
        mab_final.append(regrets)
        mab_rates.append(per_block * T / mdt)
        ratios.append(ours_rates[-1] / mab_rates[-1])
        print(f"  round {b + 1}/{B}: bayesrec {ours_rates[-1]:,.0f} decisions/s ({R} reps in "
              f"{dt:.3f} s), mabwiser {mab_rates[-1]:,.0f} decisions/s ({per_block} reps in "
              f"{mdt:.1f} s), ratio {ratios[-1]:,.0f}x", flush=True)
    print(f"  bayesrec Thompson: median {np.median(ours_rates):,.0f} decisions/s; mean regret at "
          f"T {ours_final.mean():.3f} +- {_se(ours_final):.3f} (SE, {R} reps)")
    if args.skip_mabwiser:
        return
    mab_final = np.concatenate(mab_final)
    z = (ours_final.mean() - mab_final.mean()) / np.hypot(_se(ours_final), _se(mab_final))
    print(f"  mabwiser Thompson: median {np.median(mab_rates):,.0f} decisions/s; mean regret at "
          f"T {mab_final.mean():.3f} +- {_se(mab_final):.3f} (SE, {mab_final.size} reps)")
    print(f"  RATIO decisions/s (median over {B} rounds): {np.median(ratios):,.0f}x "
          f"(rounds: {', '.join(f'{x:,.0f}' for x in ratios)}); target >= 200x")
    print(f"  regret difference bayesrec - mabwiser: {ours_final.mean() - mab_final.mean():+.3f}"
          f", z = {z:+.2f} ({'within' if abs(z) < 2 else 'OUTSIDE'} 2 standard errors)")
    if args.others:
        for name in ("UCB1", "epsilon-greedy"):
            regrets, mdt = mabwiser_regrets(name, args.others, T, seed=99)
            t0 = time.perf_counter()
            res = simulate(policies[name], P, T, R, rng=7)
            dt = time.perf_counter() - t0
            ours = res.regret[:, -1]
            z = (ours.mean() - regrets.mean()) / np.hypot(_se(ours), _se(regrets))
            print(f"  {name}: bayesrec regret {ours.mean():.2f} +- {_se(ours):.2f} ({R} reps, "
                  f"{R * T / dt:,.0f} decisions/s); mabwiser {regrets.mean():.2f} +- "
                  f"{_se(regrets):.2f} ({args.others} reps, {args.others * T / mdt:,.0f} "
                  f"decisions/s); z = {z:+.2f}; "
                  f"ratio {(R * T / dt) / (args.others * T / mdt):,.0f}x",
                  flush=True)


def _median_time(fn, repeats: int, best: bool = False) -> tuple[float, float]:
    """Median (or, with ``best``, minimum) wall-clock and CPU seconds of ``repeats`` calls.

    CPU time is printed too because the machine is shared: under load, wall time inflates.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    pick = np.min if best else np.median
    return float(pick(wall)), float(pick(cpu))


def time_one(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call (after a garbage collection)."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def bench_ranking(args) -> None:
    n = args.items
    rng = np.random.default_rng(0)
    print(f"== Ranking scores over {n:,} items ({args.repeats} repeats)")
    total = np.floor(rng.lognormal(1.5, 1.5, n)).astype(np.int64)
    likes = rng.binomial(total, rng.beta(2.0, 2.0, n))
    dislikes = total - likes
    sums = total * rng.uniform(1.0, 5.0, n)
    age = rng.uniform(0, 72, n)
    created = rng.integers(1_500_000_000, 1_600_000_000, n)
    created_dt = created.astype("datetime64[s]")
    ranker = BetaPosteriorRanker(random_state=0).fit(likes, dislikes)
    worst = BetaPosteriorRanker().fit(rng.integers(0, 10_000, n), rng.integers(0, 10_000, n)) \
        if args.worst_case else None
    cases = {
        "hacker_news_score": lambda: hacker_news_score(likes + 1, age),
        "reddit_hot (epoch seconds)": lambda: reddit_hot(likes, dislikes, created),
        "reddit_hot (datetime64)": lambda: reddit_hot(likes, dislikes, created_dt),
        "wilson_lower_bound": lambda: wilson_lower_bound(likes, total),
        "wilson_upper_bound": lambda: wilson_upper_bound(likes, total),
        "smoothed_average": lambda: smoothed_average(sums, total, 3.5, 2.5),
        "BetaPosteriorRanker mean": lambda: ranker.scores("mean"),
        "BetaPosteriorRanker lower bound": lambda: ranker.scores("lower"),
        "BetaPosteriorRanker Thompson draw": lambda: ranker.scores("thompson"),
    }
    print(f"  {'function':38s} {'median wall s':>13s} {'cpu s':>7s} {'best wall s':>11s} "
          f"{'cpu s':>7s}")
    for name, fn in cases.items():
        times = [time_one(fn) for _ in range(args.repeats)]
        wall, cpu = np.array(times).T
        t = float(np.median(wall))
        print(f"  {name:38s} {t:13.3f} {np.median(cpu):7.3f} {wall.min():11.3f} {cpu.min():7.3f}"
              f"  {'OK' if t < 1 else 'SLOW'} (median < 1 s)", flush=True)
    t_ref, c_ref = _median_time(lambda: stats.beta.ppf(0.025, 1.0 + likes, 1.0 + dislikes), 1)
    t_ours, c_ours = _median_time(lambda: ranker.lower_bound(), args.repeats)
    print(f"  scipy.stats.beta.ppf on the same items {t_ref:.3f} s (cpu {c_ref:.3f}); bayesrec "
          f"lower bound {t_ours:.3f} s (cpu {c_ours:.3f}): RATIO {t_ref / t_ours:.1f}x "
          "(distinct pairs solved once)")
    if args.worst_case:
        t_worst, c_worst = _median_time(lambda: worst.lower_bound(), 1)
        print(f"  lower bound, worst case (every (a, b) pair distinct, counts < 10^4): "
              f"{t_worst:.3f} s (cpu {c_worst:.3f}) = scipy.special.betaincinv on every item")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m experiments.bench_bandits")
    ap.add_argument("--replications", type=int, default=500)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--others", type=int, default=100,
                    help="mabwiser replications for UCB1 and epsilon-greedy (0: skip)")
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-mabwiser", action="store_true")
    ap.add_argument("--skip-bandits", action="store_true")
    ap.add_argument("--worst-case", action="store_true",
                    help="also time the Beta lower bound when no (a, b) pair repeats (slow)")
    args = ap.parse_args(argv)
    if not args.skip_bandits:
        bench_bandits(args)
    bench_ranking(args)


if __name__ == "__main__":
    main()
