"""Tests of bayesrec.bandits: regret against a many-replication reference, convergence, the
Lai-Robbins constant by hand, bookkeeping against a slow per-step reference loop, ArviZ output."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesrec.bandits import (
    UCB1,
    BetaBernoulliThompson,
    EpsilonGreedy,
    bernoulli_kl,
    lai_robbins_bound,
    lai_robbins_constant,
    simulate,
)
from bayesrec.bandits.policies import argmax_random_ties

P = np.array([0.2, 0.5, 0.75])    # the course's instance

# Reference mean cumulative regret of Thompson sampling (a = b = 1) on P at T = 2000, measured
# with the independent implementation below, 200,000 replications
# (``_independent_thompson(P, 2000, 20000, 1, 1, np.random.default_rng(1000 + s))`` for
# s = 0..9; 560 s): mean 11.725, sample sd 6.070, standard error 0.0136.
THOMPSON_REF_MEAN, THOMPSON_REF_SD, THOMPSON_REF_SE = 11.725, 6.070, 0.0136


def _independent_thompson(p, n_trials, n_reps, a, b, rng):
    """Thompson sampling written independently of the library (Beta draws as Gamma ratios,
    rewards by ``rng.binomial``): returns the pseudo-regret and pulls per replication."""
    k = len(p)
    s = np.zeros((n_reps, k))
    f = np.zeros((n_reps, k))
    regret = np.zeros(n_reps)
    gap = p.max() - p
    rows = np.arange(n_reps)
    for _ in range(n_trials):
        x = rng.standard_gamma(a + s)
        y = rng.standard_gamma(b + f)
        arm = np.argmax(x / (x + y), axis=1)
        win = rng.binomial(1, p[arm])
        s[rows, arm] += win
        f[rows, arm] += 1 - win
        regret += gap[arm]
    return regret, s + f


# ---------------------------------------------------------------------------- bounds
def test_bernoulli_kl_matches_scipy_entropy():
    for p, q in [(0.2, 0.75), (0.5, 0.75), (0.0, 0.3), (1.0, 0.3), (0.4, 0.4)]:
        assert bernoulli_kl(p, q) == pytest.approx(stats.entropy([p, 1 - p], [q, 1 - q]))
    assert bernoulli_kl(0.3, 1.0) == np.inf


def test_lai_robbins_hand_values():
    # KL(0.2 || 0.75) = 0.2 ln(0.2/0.75) + 0.8 ln(0.8/0.25) = 0.666139...
    # KL(0.5 || 0.75) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.143841...
    kl_a = 0.2 * np.log(0.2 / 0.75) + 0.8 * np.log(0.8 / 0.25)
    kl_b = 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(2.0)
    c = 0.55 / kl_a + 0.25 / kl_b
    assert c == pytest.approx(2.563645, abs=1e-6)
    assert lai_robbins_constant(P) == pytest.approx(c)
    assert lai_robbins_bound(P, 2000) == pytest.approx(c * np.log(2000))
    np.testing.assert_allclose(lai_robbins_bound(P, np.arange(1, 4)), c * np.log([1, 2, 3]))
    assert lai_robbins_bound(P, 1) == 0.0
    # ties with the best arm and a perfect arm contribute nothing
    assert lai_robbins_constant([0.6, 0.6]) == 0.0
    assert lai_robbins_constant([0.3, 1.0]) == 0.0
    with pytest.raises(ValueError, match="n_trials"):
        lai_robbins_bound(P, 0)
    with pytest.raises(ValueError, match="probabilities"):
        lai_robbins_constant([0.2, 1.2])


# ---------------------------------------------------------------------------- Thompson regret
def test_thompson_mean_regret_matches_reference():
    """Mean regret at T = 2000 over 4,000 replications against the independent reference:
    4.5 standard errors of the difference = 0.47 regret, i.e. a 4% error in the mean regret
    is detected."""
    res = simulate(BetaBernoulliThompson(3), P, 2000, 4000, rng=2024)
    assert res.regret.shape == (4000, 2000)
    mean = res.regret[:, -1].mean()
    se = np.sqrt(THOMPSON_REF_SD ** 2 / 4000 + THOMPSON_REF_SE ** 2)
    assert abs(mean - THOMPSON_REF_MEAN) < 4.5 * se
    # the realized regret (reward noise included) has the same expectation
    diff = res.realized_regret[:, -1] - res.regret[:, -1]
    assert abs(diff.mean()) < 4.5 * diff.std(ddof=1) / np.sqrt(4000)


def test_thompson_pull_distribution_matches_independent_implementation():
    """Informative prior (a = 2, b = 0.5), T = 300: mean pulls of every arm and mean regret of
    the library (4,000 replications) and of the independent implementation (4,000) agree
    within 4.5 standard errors of the difference (about 2.5% of the worst arm's pulls)."""
    pol = BetaBernoulliThompson(3, a=2.0, b=0.5)
    lib = simulate(pol, P, 300, 4000, rng=77)
    reg, pulls = _independent_thompson(P, 300, 4000, 2.0, 0.5, np.random.default_rng(78))
    for x, y in [(lib.pulls[:, j], pulls[:, j]) for j in range(3)] + [(lib.regret[:, -1], reg)]:
        se = np.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
        assert abs(x.mean() - y.mean()) < 4.5 * se, (x.mean(), y.mean(), se)


def test_thompson_best_arm_share_tends_to_one():
    res = simulate(BetaBernoulliThompson(3), P, 4000, 200, rng=11)
    best = (res.arms == 2).mean(axis=0)
    windows = best.reshape(8, 500).mean(axis=1)
    assert np.all(np.diff(windows) > -0.002)       # (almost) never decreases
    assert windows[0] < 0.97 < 0.99 < windows[-1]
    assert res.best_arm_share()[-1] == pytest.approx(best.mean())
    # pull counts: every replication plays T times, mostly the best arm
    np.testing.assert_array_equal(res.pulls.sum(axis=1), 4000)
    assert np.median(res.pulls[:, 2] / 4000) > 0.99


def test_regret_is_sublinear_for_thompson_and_ucb1_linear_for_epsilon_greedy():
    gap = P.max() - P
    ucb = simulate(UCB1(3), P, 2000, 300, rng=5)
    # Auer et al. (2002): E R_T <= sum 8 ln T / Delta + (1 + pi^2/3) sum Delta
    auer = np.sum(8 * np.log(2000) / gap[gap > 0]) + (1 + np.pi ** 2 / 3) * gap.sum()
    assert ucb.mean_regret()[-1] < auer
    ts = simulate(BetaBernoulliThompson(3), P, 2000, 300, rng=5)
    assert ts.mean_regret()[-1] < ucb.mean_regret()[-1]
    # epsilon-greedy explores at a constant rate: late regret slope epsilon * mean gap
    eg = simulate(EpsilonGreedy(3, epsilon=0.1), P, 2000, 500, rng=1)
    d = (eg.regret[:, 1999] - eg.regret[:, 999]) / 1000
    assert abs(d.mean() - 0.1 * gap.mean()) < 4 * d.std(ddof=1) / np.sqrt(d.size)


# ---------------------------------------------------------------------------- bookkeeping
def _reference_run(policy, T, seed):
    """A slow scalar loop that consumes the generator exactly as simulate does for R = 1.

    This checks bookkeeping (counts, regret, recorded states), not statistics: it follows the
    library's random-number order.  The statistics are checked against the independent
    implementation :func:`_independent_thompson` and by closed forms above."""
    rng = np.random.default_rng(seed)
    K = P.size
    n = np.zeros(K)
    s = np.zeros(K)
    arms, rewards = [], []
    for t in range(T):
        if isinstance(policy, BetaBernoulliThompson):
            theta = rng.beta(policy.a + s[None], policy.b + (n - s)[None])[0]
            arm = int(np.argmax(theta))
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                score = s / n
                if isinstance(policy, UCB1):
                    score = score + np.sqrt(2 * np.log(max(t, 1)) / n)
            score[n == 0] = np.inf
            keys = rng.random((1, K))[0]
            best = np.flatnonzero(score == score.max())
            arm = int(best[np.argmax(keys[best])])
            if isinstance(policy, EpsilonGreedy):
                explore = rng.random(1)[0] < policy.epsilon
                other = int(rng.integers(0, K, size=1)[0])
                arm = other if explore else arm
        reward = rng.random(1)[0] < P[arm]
        n[arm] += 1
        s[arm] += reward
        arms.append(arm)
        rewards.append(reward)
    return np.array(arms), np.array(rewards), n, s


@pytest.mark.parametrize("policy", [BetaBernoulliThompson(3, a=2.0, b=0.5), UCB1(3),
                                    EpsilonGreedy(3, epsilon=0.3)])
def test_simulate_matches_slow_reference_loop(policy):
    res = simulate(policy, P, 300, 1, rng=42, posterior_steps=[0, 7, 300])
    arms, rewards, n, s = _reference_run(policy, 300, 42)
    np.testing.assert_array_equal(res.arms[0], arms)
    np.testing.assert_array_equal(res.rewards[0], rewards)
    np.testing.assert_array_equal(res.pulls[0], n)
    np.testing.assert_array_equal(res.successes[0], s)
    gap = P.max() - P
    np.testing.assert_allclose(res.regret[0], np.cumsum(gap[arms]))
    # recorded states: after 0, 7 and all trials
    np.testing.assert_array_equal(res.pulls_at[0], 0)
    np.testing.assert_array_equal(res.pulls_at[1, 0], np.bincount(arms[:7], minlength=3))
    np.testing.assert_array_equal(res.successes_at[1, 0],
                                  np.bincount(arms[:7], weights=rewards[:7], minlength=3))
    np.testing.assert_array_equal(res.pulls_at[2], res.pulls)


def test_simulate_is_reproducible_and_leaves_policy_untouched():
    pol = EpsilonGreedy(3)
    a = simulate(pol, P, 200, 50, rng=9)
    b = simulate(pol, P, 200, 50, rng=np.random.default_rng(9))
    c = simulate(pol, P, 200, 50, rng=10)
    np.testing.assert_array_equal(a.arms, b.arms)
    np.testing.assert_array_equal(a.regret, b.regret)
    assert not np.array_equal(a.arms, c.arms)
    assert not hasattr(pol, "pulls_")
    # replications are independent runs: they differ from each other
    assert len({tuple(row) for row in a.arms[:, :50]}) > 40


def test_argmax_random_ties_is_uniform():
    rng = np.random.default_rng(0)
    scores = np.tile([1.0, 3.0, 3.0, 3.0, 2.0], (30_000, 1))
    counts = np.bincount(argmax_random_ties(scores, rng), minlength=5)
    assert counts[0] == counts[4] == 0
    # each tied arm: binomial(30000, 1/3), sd = 81.6
    assert np.all(np.abs(counts[1:4] - 10_000) < 4 * np.sqrt(30_000 / 3 * 2 / 3))


def test_online_use_of_a_policy():
    rng = np.random.default_rng(0)
    pol = BetaBernoulliThompson(3).reset()
    for _ in range(500):
        arm = pol.select(rng)
        pol.update(arm, rng.random(1) < P[arm])
    assert pol.t_ == 500 and pol.pulls_.sum() == 500
    assert np.argmax(pol.pulls_[0]) == 2
    with pytest.raises(ValueError, match="one arm and one reward"):
        pol.update([0, 1], [1, 1])


def test_regret_summaries_by_slow_loop():
    """Mean regret, its standard error (sample sd / sqrt(R)) and the best-arm share, one
    trial at a time by plain Python; a single replication has no standard error."""
    res = simulate(EpsilonGreedy(3, epsilon=0.3), P, 60, 25, rng=4)
    reg = res.regret
    for t in (0, 17, 59):
        col = [float(x) for x in reg[:, t]]
        m = sum(col) / len(col)
        sd = (sum((x - m) ** 2 for x in col) / (len(col) - 1)) ** 0.5
        assert res.mean_regret()[t] == pytest.approx(m, rel=1e-12)
        assert res.regret_standard_error()[t] == pytest.approx(sd / 5.0, rel=1e-12)
        plays = sum(int(a == 2) for a in res.arms[:, : t + 1].ravel())
        assert res.best_arm_share()[t] == pytest.approx(plays / (25 * (t + 1)), rel=1e-12)
    one = simulate(UCB1(3), P, 10, 1, rng=0)
    assert np.isnan(one.regret_standard_error()).all()


# ---------------------------------------------------------------------------- ArviZ posterior
def test_posterior_datatree():
    steps = [0, 5, 100, 1000]
    res = simulate(BetaBernoulliThompson(3, a=2.0, b=3.0), P, 1000, 20, rng=3,
                   posterior_steps=steps)
    tree = res.posterior(n_draws=3000, replication=4, rng=0)
    theta = tree["posterior"]["theta"]
    assert theta.dims == ("chain", "draw", "step", "arm")
    assert theta.shape == (1, 3000, 4, 3)
    np.testing.assert_array_equal(theta["step"], steps)
    cd = tree["constant_data"]
    np.testing.assert_array_equal(cd["successes"].values, res.successes_at[:, 4])
    np.testing.assert_array_equal(cd["alpha"].values, 2.0 + res.successes_at[:, 4])
    np.testing.assert_array_equal(cd["beta"].values,
                                  3.0 + res.pulls_at[:, 4] - res.successes_at[:, 4])
    # the draws follow Beta(alpha, beta): means within 4 Monte Carlo standard errors
    a, b = cd["alpha"].values, cd["beta"].values
    err = np.abs(theta.mean(("chain", "draw")).values - a / (a + b))
    assert np.all(err < 4 * np.sqrt(stats.beta.var(a, b) / 3000))
    # at step 0 every arm has the prior
    np.testing.assert_array_equal(a[0], 2.0)
    # several replications get their own dim; other policies default to a uniform prior
    many = simulate(UCB1(3), P, 50, 4, rng=1, posterior_steps=[10, 50]).posterior(
        10, replication=[0, 3], rng=0)
    assert many["posterior"]["theta"].dims == ("chain", "draw", "replication", "step", "arm")
    assert many["posterior"].attrs["prior_a"] == 1.0
    with pytest.raises(ValueError, match="replication"):
        res.posterior(10, replication=20)


# ---------------------------------------------------------------------------- validation
def test_bad_input():
    with pytest.raises(ValueError, match="probabilities"):
        simulate(BetaBernoulliThompson(2), P, 10, 1, rng=0)
    with pytest.raises(ValueError, match="probabilities"):
        simulate(UCB1(3), [0.1, 0.2, 1.5], 10, 1, rng=0)
    with pytest.raises(ValueError, match="n_trials"):
        simulate(UCB1(3), P, 0, 1, rng=0)
    with pytest.raises(ValueError, match="n_replications"):
        simulate(UCB1(3), P, 10, 0, rng=0)
    with pytest.raises(ValueError, match="posterior_steps"):
        simulate(UCB1(3), P, 10, 1, rng=0, posterior_steps=[11])
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedy(3, epsilon=1.5)
    with pytest.raises(ValueError, match="Beta parameter"):
        BetaBernoulliThompson(3, a=0)
    with pytest.raises(ValueError, match="n_arms"):
        UCB1(0)
    with pytest.raises(TypeError, match="BanditPolicy"):
        simulate("thompson", P, 10, 1, rng=0)
