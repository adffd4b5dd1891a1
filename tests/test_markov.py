"""Dirichlet-smoothed Markov chains: hand-computed bigrams, stationarity, Perron-Frobenius,
posterior sampling and the sparse Dirichlet-row posterior."""

from __future__ import annotations

from math import log

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import gammaln

from bayesrec.data import Ratings
from bayesrec.inference.dirichlet import DirichletRows
from bayesrec.markov import MarkovChain, sequences_from_ratings

FOX = ["the quick brown fox jumps over the lazy dog".split(), "the lazy dog sleeps".split()]


@pytest.fixture(scope="module")
def fox():
    return MarkovChain(epsilon=1.0).fit(FOX)


# ---------------------------------------------------------------- hand-computed bigrams
def test_fox_add_one_by_hand(fox):
    # V = 9 words; "the" is followed by quick (1) and lazy (2): n = 3
    assert fox.n_states_ == 9
    p = fox.transition_probability(["the", "the", "the", "lazy", "lazy", "dog", "sleeps"],
                                   ["lazy", "quick", "fox", "dog", "the", "sleeps", "dog"])
    expected = [3 / 12, 2 / 12, 1 / 12, 3 / 11, 1 / 11, 2 / 10, 1 / 9]
    np.testing.assert_allclose(p, expected, rtol=1e-14)
    init = dict(zip(fox.states_, fox.initial_distribution()))
    assert init["the"] == pytest.approx(3 / 11) and init["dog"] == pytest.approx(1 / 11)
    lp = fox.log_prob("the lazy dog sleeps".split())
    assert lp == pytest.approx(log(3 / 11) + log(3 / 12) + log(3 / 11) + log(2 / 10))
    dense = fox.transition_matrix.toarray()
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, rtol=1e-14)
    assert (dense > 0).all()


def test_fox_mle_and_extra_states():
    mle = MarkovChain(epsilon=0.0).fit(FOX)
    assert mle.transition_probability(["the"], ["lazy"])[0] == pytest.approx(2 / 3)
    assert mle.transition_probability(["the"], ["fox"])[0] == 0.0
    # a state never left gets the uniform row (the epsilon -> 0 limit)
    assert mle.transition_probability(["sleeps"], ["the"])[0] == pytest.approx(1 / 9)
    assert mle.log_prob("the fox".split()) == -np.inf
    big = MarkovChain(epsilon=1.0, states=list(MarkovChain().fit(FOX).states_) + ["cat"]).fit(FOX)
    assert big.transition_probability(["the"], ["lazy"])[0] == pytest.approx(3 / 13)
    assert big.transition_probability(["the"], ["cat"])[0] == pytest.approx(1 / 13)
    with pytest.raises(ValueError, match="not in the given states"):
        MarkovChain(states=["the", "quick"]).fit(FOX)


def test_unknown_states(fox):
    with pytest.raises(ValueError, match="unknown state 'cat'"):
        fox.log_prob(["the", "cat"])
    assert fox.log_prob(["the", "cat"], unknown="skip") == pytest.approx(log(3 / 11))
    assert fox.log_prob(["cat", "the", "lazy"], unknown="skip") == pytest.approx(log(3 / 12))
    with pytest.raises(ValueError, match="unknown must be"):
        fox.log_prob(["the"], unknown="ignore")


def test_next_states(fox):
    top = fox.next_states("the", k=3)
    assert list(top.state[:2]) == ["lazy", "quick"]
    np.testing.assert_allclose(top.probability[:2], [3 / 12, 2 / 12])
    top = fox.next_states("the", k=2, exclude=["lazy"])
    assert top.state[0] == "quick" and "lazy" not in set(top.state)


def test_next_states_break_ties_by_overall_frequency(fox):
    """Ranked by the count of the transition, equal counts by how often the candidate occurs
    in the training sequences (counted here token by token); probabilities by hand."""
    from collections import Counter

    freq = Counter(w for s in FOX for w in s)
    row = Counter(b for s in FOX for a, b in zip(s[:-1], s[1:]) if a == "the")
    top = fox.next_states("the", k=9)
    keys = [(row[w], freq[w]) for w in top.state]
    assert keys == sorted(keys, reverse=True)
    assert list(top.state[:4]) == ["lazy", "quick", "the", "dog"]
    np.testing.assert_allclose(top.probability, [(row[w] + 1) / 12 for w in top.state])


def test_bad_input():
    with pytest.raises(ValueError, match="epsilon"):
        MarkovChain(epsilon=-1).fit(FOX)
    with pytest.raises(ValueError, match="empty"):
        MarkovChain().fit([[], []])
    mc = MarkovChain().fit(FOX)
    with pytest.raises(ValueError, match="pi0"):
        mc.state_distribution(np.ones(3))
    with pytest.raises(ValueError, match="method"):
        mc.stationary_distribution("qr")
    with pytest.raises(ValueError, match="needs epsilon > 0"):
        MarkovChain(epsilon=0).fit(FOX).sample_transition_matrices(2, 0)


# ---------------------------------------------------------------- dynamics
def random_chain(v, n_seq, length, eps, seed):
    rng = np.random.default_rng(seed)
    # a sticky random walk, so the counts are far from uniform
    seqs = [np.cumsum(rng.choice([-1, 0, 1, 3], size=length)) % v for _ in range(n_seq)]
    return MarkovChain(epsilon=eps, states=range(v)).fit(seqs)


def exact_stationary(a: np.ndarray) -> np.ndarray:
    """Solve pi (A - I) = 0, sum(pi) = 1 as one linear system."""
    v = len(a)
    m = np.vstack([(a - np.eye(v)).T, np.ones(v)])
    rhs = np.r_[np.zeros(v), 1.0]
    return np.linalg.lstsq(m, rhs, rcond=None)[0]


def test_stationary_power_eigen_exact():
    mc = random_chain(7, 5, 40, 0.5, 1)
    exact = exact_stationary(mc.transition_matrix.toarray())
    np.testing.assert_allclose(mc.stationary_distribution("power"), exact, atol=1e-11)
    np.testing.assert_allclose(mc.stationary_distribution("eigen"), exact, atol=1e-11)
    pi = mc.stationary_distribution()
    np.testing.assert_allclose(mc.transition_matrix.vecmat(pi), pi, atol=1e-12)


def test_stationary_large_sparse_arpack():
    # above DENSE_EIG_MAX_STATES: ARPACK on the sparse operator, never a dense V x V matrix
    mc = random_chain(1500, 40, 400, 0.05, 2)
    power = mc.stationary_distribution("power", tol=1e-13)
    eigen = mc.stationary_distribution("eigen")
    assert np.abs(power - eigen).sum() < 1e-9


def test_state_distribution_matches_matrix_power():
    mc = random_chain(6, 4, 30, 1.0, 3)
    a = mc.transition_matrix.toarray()
    pi0 = np.random.default_rng(0).dirichlet(np.ones(6))
    np.testing.assert_allclose(mc.state_distribution(pi0, 5),
                               pi0 @ np.linalg.matrix_power(a, 5), atol=1e-14)
    np.testing.assert_allclose(mc.state_distribution(state=2, k=3),
                               np.linalg.matrix_power(a, 3)[2], atol=1e-14)
    np.testing.assert_allclose(mc.state_distribution(k=0), mc.initial_distribution())


def test_perron_frobenius_convergence_from_any_start():
    """Smoothed rows are all positive: ||pi0 A^k - pi||_1 <= 2 (1 - sum_j min_i A_ij)^k."""
    mc = random_chain(8, 3, 25, 0.2, 4)
    a = mc.transition_matrix.toarray()
    delta = 1.0 - a.min(axis=0).sum()  # Dobrushin contraction coefficient bound
    assert delta < 1
    pi = mc.stationary_distribution("eigen")
    rng = np.random.default_rng(5)
    starts = [np.eye(8)[i] for i in range(8)] + [rng.dirichlet(np.ones(8) * 0.1) for _ in range(5)]
    for pi0 in starts:
        for k in (1, 5, 20, 60):
            err = np.abs(mc.state_distribution(pi0, k) - pi).sum()
            assert err <= 2 * delta ** k + 1e-12
        assert np.abs(mc.state_distribution(pi0, 60) - pi).sum() < 1e-6


def test_unsmoothed_periodic_chain_does_not_converge():
    mc = MarkovChain(epsilon=0.0).fit([["a", "b"] * 10])
    pi1, pi2 = mc.state_distribution(state="a", k=101), mc.state_distribution(state="a", k=100)
    assert np.abs(pi1 - pi2).sum() == pytest.approx(2.0)
    # period 2 with a non-uniform stationary distribution: the power iteration oscillates
    bipartite = MarkovChain(epsilon=0.0).fit([list("abcb") * 10 + ["a"]])
    with pytest.raises(RuntimeError, match="did not converge"):
        bipartite.stationary_distribution(max_iter=50)
    np.testing.assert_allclose(bipartite.stationary_distribution("eigen"), [0.25, 0.5, 0.25])
    # any epsilon > 0 makes the same data aperiodic: the power iteration converges
    smooth = MarkovChain(epsilon=0.01).fit([list("abcb") * 10 + ["a"]])
    np.testing.assert_allclose(smooth.stationary_distribution(),
                               smooth.stationary_distribution("eigen"), atol=1e-10)


# ---------------------------------------------------------------- posterior
def test_sample_transition_matrices_moments():
    mc = random_chain(5, 2, 20, 1.0, 6)
    draws = mc.sample_transition_matrices(4000, rng=7)
    assert draws.shape == (4000, 5, 5)
    np.testing.assert_allclose(draws.sum(axis=2), 1.0, rtol=1e-12)
    alpha = mc.transition_counts_.toarray() + 1.0
    a0 = alpha.sum(axis=1, keepdims=True)
    mean, var = alpha / a0, alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1))
    se = np.sqrt(var / 4000)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4.5 * se)
    np.testing.assert_allclose(draws.var(axis=0), var, rtol=0.12)
    # same seed, same numbers
    np.testing.assert_array_equal(mc.sample_transition_matrices(3, 11),
                                  mc.sample_transition_matrices(3, 11))


def test_sparse_draw_is_unbiased_and_row_stochastic():
    counts = sp.random(6, 40, density=0.2, random_state=0, format="csr")
    counts.data = np.ceil(counts.data * 5)
    counts = counts.tolil()
    counts[3, :] = 0  # an empty row
    post = DirichletRows(counts.tocsr(), epsilon=0.3)
    rng = np.random.default_rng(1)
    n = 3000
    acc = np.zeros((6, 40))
    for _ in range(n):
        d = post.sample_sparse(rng)
        rows = d.toarray()
        acc += rows
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-12)
    exact = post.mean().toarray()
    alpha = post.counts.toarray() + 0.3
    a0 = alpha.sum(axis=1, keepdims=True)
    sd = np.sqrt(alpha * (a0 - alpha) / (a0 ** 2 * (a0 + 1)))
    assert np.all(np.abs(acc / n - exact) < 4.5 * sd / np.sqrt(n) + 1e-12)


def test_log_evidence_is_polya_urn_product():
    """The closed-form evidence equals the sequential predictive (Polya urn) product."""
    mc = random_chain(5, 3, 15, 0.7, 8)
    eps, v = 0.7, 5
    total = 0.0
    # rebuild the same data the helper used and replay it token by token
    rng = np.random.default_rng(8)
    seqs = [np.cumsum(rng.choice([-1, 0, 1, 3], size=15)) % v for _ in range(3)]
    trans, init = np.zeros((v, v)), np.zeros(v)
    for s in seqs:
        total += log((init[s[0]] + eps) / (init.sum() + eps * v))
        init[s[0]] += 1
        for a, b in zip(s[:-1], s[1:]):
            total += log((trans[a, b] + eps) / (trans[a].sum() + eps * v))
            trans[a, b] += 1
    assert mc.log_evidence() == pytest.approx(total, rel=1e-12)
    c = np.array([[3.0, 0.0, 1.0]])
    direct = (gammaln(1.5) - gammaln(4 + 1.5) + gammaln(3.5) + gammaln(1.5) - 2 * gammaln(0.5))
    assert DirichletRows(c, 0.5).log_evidence() == pytest.approx(direct)


# ---------------------------------------------------------------- Ratings helpers
@pytest.fixture(scope="module")
def tiny_ratings():
    return Ratings.from_arrays(
        users=["u1", "u1", "u1", "u2", "u2", "u3"],
        items=["c", "a", "b", "a", "c", "b"],
        ratings=[5, 3, 4, 5, 1, 2],
        timestamps=[30, 10, 20, 5, 6, 1])


def test_sequences_from_ratings(tiny_ratings):
    seqs = sequences_from_ratings(tiny_ratings)
    assert [list(s) for s in seqs] == [["a", "b", "c"], ["a", "c"], ["b"]]
    liked = sequences_from_ratings(tiny_ratings, min_rating=4)
    assert [list(s) for s in liked] == [["b", "c"], ["a"]]
    no_ts = Ratings.from_arrays(["u"], ["i"], [1.0])
    with pytest.raises(ValueError, match="timestamps"):
        sequences_from_ratings(no_ts)


def test_fit_ratings_equals_fit_on_sequences(tiny_ratings):
    a = MarkovChain(0.5).fit_ratings(tiny_ratings)
    b = MarkovChain(0.5, states=a.states_).fit(sequences_from_ratings(tiny_ratings))
    np.testing.assert_array_equal(a.transition_counts_.toarray(), b.transition_counts_.toarray())
    np.testing.assert_array_equal(a.initial_counts_, b.initial_counts_)
    i = a.index(["a", "c"])
    assert a.transition_counts_[i[0], i[1]] == 1  # u2: a -> c


def test_next_state_indices_batch_matches_loop():
    mc = random_chain(30, 10, 50, 1.0, 9)
    rng = np.random.default_rng(10)
    states = rng.integers(0, 30, 12)
    exclude = sp.random(12, 30, density=0.2, random_state=11, format="csr")
    batch = mc.next_state_indices(states, k=5, exclude=exclude)
    counts = mc.transition_counts_.toarray()
    tie = mc._tie_break()
    for r, s in enumerate(states):
        score = counts[s] + tie
        score[exclude[r].indices] = -np.inf
        # the same scores (ties between equally frequent states may come in either order)
        np.testing.assert_array_equal(score[batch[r]], np.sort(score)[::-1][:5])
