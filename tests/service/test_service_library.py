"""The library functions the service is built on: Thompson choice, batch counts, P(best).

References are independent: numerical integration of ``P(theta_k is the largest)`` with
scipy, and plain Python loops written here.
"""

import numpy as np
import pytest
from scipy import integrate, stats

from bayesrec.bandits import BetaBernoulliThompson, thompson_select
from bayesrec.inference.beta import bernoulli_counts, prob_best


def p_best_quad(a, b):
    """``P(theta_k = max)`` = integral of ``pdf_k(x) prod_{j != k} cdf_j(x)`` over [0, 1]."""
    out = []
    for k in range(len(a)):
        others = [j for j in range(len(a)) if j != k]
        def f(x, k=k, o=others):
            return stats.beta.pdf(x, a[k], b[k]) * np.prod(
                [stats.beta.cdf(x, a[j], b[j]) for j in o])
        out.append(integrate.quad(f, 0, 1, epsabs=1e-10, limit=200)[0])
    return np.array(out)


A = np.array([3.0, 5.0, 2.0, 9.0])
B = np.array([4.0, 5.0, 1.5, 12.0])


def test_thompson_select_frequencies_match_probability_of_best():
    """k = 1 plays each arm with its posterior probability of being the best.

    n = 40,000 choices: standard error <= 0.0025, tolerance 4 SE = 0.01 absolute, which
    detects a 5% relative error in any choice probability above 0.2 (here 0.13 to 0.35).
    """
    rng = np.random.default_rng(1)
    n = 40_000
    alpha = np.broadcast_to(A, (n, 4))
    beta = np.broadcast_to(B, (n, 4))
    chosen = thompson_select(alpha, beta, rng)
    assert chosen.shape == (n, 1)
    freq = np.bincount(chosen[:, 0], minlength=4) / n
    exact = p_best_quad(A, B)
    assert exact.sum() == pytest.approx(1.0, abs=1e-6)
    se = np.sqrt(exact * (1 - exact) / n)
    np.testing.assert_array_less(np.abs(freq - exact), 4 * se)


def test_thompson_select_ranks_by_the_same_draws():
    """k > 1 returns the arms in decreasing order of one draw per arm (reference loop)."""
    a = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]] * 50)
    b = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]] * 50)
    got = thompson_select(a, b, np.random.default_rng(7), k=3)
    theta = np.random.default_rng(7).beta(a, b)
    for row in range(50):
        order = sorted(range(5), key=lambda j: -theta[row, j])
        assert list(got[row]) == order[:3]
    full = thompson_select(a[0], b[0], np.random.default_rng(3), k=5)
    assert sorted(full) == [0, 1, 2, 3, 4]


def test_thompson_select_bad_k():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="exceeds the number of arms"):
        thompson_select([1.0, 1.0], [1.0, 1.0], rng, k=3)
    with pytest.raises(ValueError, match="k must be"):
        thompson_select([1.0, 1.0], [1.0, 1.0], rng, k=0)


def test_policy_uses_thompson_select():
    """The policy's choice is thompson_select on the same posterior (same seed, same arms)."""
    pol = BetaBernoulliThompson(3, a=2.0, b=1.0).reset(5)
    pol.update([0, 1, 2, 0, 1], [1, 0, 1, 1, 1])
    got = pol.choose(pol.pulls_, pol.successes_, 1, np.random.default_rng(4))
    ref = np.random.default_rng(4).beta(2.0 + pol.successes_,
                                        1.0 + pol.pulls_ - pol.successes_).argmax(axis=1)
    np.testing.assert_array_equal(got, ref)


def test_bernoulli_counts_matches_loop():
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 7, 500)
    y = rng.integers(0, 2, 500)
    s, f = bernoulli_counts(idx, y, 9)
    ref_s, ref_f = [0] * 9, [0] * 9
    for i, r in zip(idx, y):
        if r:
            ref_s[i] += 1
        else:
            ref_f[i] += 1
    assert s.tolist() == ref_s and f.tolist() == ref_f
    assert s.dtype == np.int64
    s0, f0 = bernoulli_counts([], [], 3)
    assert s0.tolist() == [0, 0, 0] and f0.tolist() == [0, 0, 0]


@pytest.mark.parametrize("idx, y, match", [
    ([0, 1], [1], "differ in length"),
    ([0, 3], [1, 0], r"in \[0, 3\)"),
    ([0, -1], [1, 0], r"in \[0, 3\)"),
    ([0.5, 1], [1, 0], r"in \[0, 3\)"),
    ([0, 1], [1, 2], "0 or 1"),
    ([0, 1], [1, 0.5], "0 or 1"),
])
def test_bernoulli_counts_bad_input(idx, y, match):
    with pytest.raises(ValueError, match=match):
        bernoulli_counts(idx, y, 3)


def test_prob_best_matches_integral():
    """Monte Carlo P(best) with 200,000 draws: SE <= 0.0011; tolerance 4 SE."""
    n = 200_000
    got = prob_best(A, B, np.random.default_rng(5), n_draws=n)
    exact = p_best_quad(A, B)
    np.testing.assert_array_less(np.abs(got - exact), 4 * np.sqrt(exact * (1 - exact) / n))
    assert got.sum() == pytest.approx(1.0)


def test_prob_best_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_draws"):
        prob_best([1.0], [1.0], rng, n_draws=0)
    with pytest.raises(ValueError, match="Beta parameter a"):
        prob_best([0.0, 1.0], [1.0, 1.0], rng)
    with pytest.raises(ValueError, match="1-d"):
        prob_best(np.ones((2, 2)), np.ones((2, 2)), rng)
