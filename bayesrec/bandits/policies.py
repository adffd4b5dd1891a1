"""Bandit policies for Bernoulli arms, vectorized over independent replications.

A policy's state is two arrays of shape ``(replications, arms)``: ``pulls_`` (how often each
arm was played) and ``successes_`` (how many of those plays paid 1).  That is all three policies
need, and it is exactly the sufficient statistic of the Beta-Bernoulli posterior of every arm.

Use online (one real bandit, ``n_replications=1``)::

    policy = BetaBernoulliThompson(3).reset()
    arm = policy.select(rng)[0]          # play it, observe reward r in {0, 1}
    policy.update([arm], [r])

or many independent simulated bandits at once through :func:`bayesrec.bandits.simulate`.
"""

from __future__ import annotations

import numpy as np

from .._validation import _is_real, check_indices, check_interval, check_positive
from ..exceptions import NotFittedError
from ..inference.beta import check_beta_parameters
from ..rng import check_random_state


def argmax_random_ties(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise argmax of ``(R, K)`` scores, ties broken uniformly at random.

    Among the maxima of a row, the one with the largest uniform key wins: a uniform choice.
    """
    is_max = scores == scores.max(axis=1, keepdims=True)
    return np.argmax(rng.random(scores.shape) * is_max, axis=1)


def thompson_select(alpha, beta, rng: np.random.Generator, k: int = 1) -> np.ndarray:
    """Thompson sampling's choice: one draw ``theta ~ Beta(alpha, beta)`` per arm, best first.

    ``alpha`` and ``beta`` are posterior parameters of shape ``(..., K)`` (e.g.
    ``(replications, arms)``); returns the indices of the ``k`` largest draws of each row in
    decreasing order, shape ``(..., k)``.  ``k = 1`` plays ``argmax_k theta_k``, i.e. each arm
    with its posterior probability of being the best; ``k > 1`` ranks the arms by the same draws.
    """
    rng = check_random_state(rng)  # a Generator, or an int seed
    theta = rng.beta(alpha, beta)
    n_arms = theta.shape[-1]
    k = check_positive("k", k, integer=True)
    if k > n_arms:
        raise ValueError(f"k = {k} exceeds the number of arms ({n_arms})")
    if k == 1:
        return np.argmax(theta, axis=-1)[..., None]
    return np.argsort(-theta, axis=-1, kind="stable")[..., :k]


class BanditPolicy:
    """Base class: the ``(replications, arms)`` state and its vectorized update.

    Subclasses implement :meth:`choose`.  The constructor only stores hyperparameters;
    :meth:`reset` creates the state.
    """

    name = "policy"

    def __init__(self, n_arms: int):
        self.n_arms = check_positive("n_arms", n_arms, integer=True)

    def reset(self, n_replications: int = 1) -> BanditPolicy:
        """Start ``n_replications`` independent runs from scratch; returns ``self``."""
        r = check_positive("n_replications", n_replications, integer=True)
        self.pulls_ = np.zeros((r, self.n_arms), dtype=np.int64)
        self.successes_ = np.zeros((r, self.n_arms), dtype=np.int64)
        self.t_ = 0
        self._rows = np.arange(r)
        return self

    def select(self, rng: np.random.Generator) -> np.ndarray:
        """The arm to play next in every replication, shape ``(replications,)``."""
        if not hasattr(self, "pulls_"):
            self.reset()
        return self.choose(self.pulls_, self.successes_, self.t_, rng)

    def update(self, arms, rewards) -> None:
        """Record one round: ``rewards[r]`` (0/1) of ``arms[r]`` in every replication ``r``."""
        if not hasattr(self, "pulls_"):
            raise NotFittedError(f"{type(self).__name__} has no state yet: call reset() first")
        arms = np.asarray(arms)
        rewards = np.asarray(rewards)
        if arms.shape != self._rows.shape or rewards.shape != self._rows.shape:
            raise ValueError(f"one arm and one reward per replication expected "
                             f"({self._rows.size}), got shapes {arms.shape}, {rewards.shape}")
        # checked before any count moves: arm -1 would update the last arm, a reward of 2
        # make successes exceed pulls (a negative Beta parameter), 0.5 be cut to 0
        arms = check_indices("arms", arms, self.n_arms)
        if rewards.dtype.kind not in "biuf" or not np.isin(rewards, (0, 1)).all():
            raise ValueError(f"rewards must be 0 or 1 (Bernoulli), got {rewards!r}")
        self._record(arms, rewards)

    def _record(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        """:meth:`update` without the checks (the simulator's own valid arms and rewards)."""
        self.pulls_[self._rows, arms] += 1
        self.successes_[self._rows, arms] += rewards.astype(np.int64)
        self.t_ += 1

    def choose(self, pulls: np.ndarray, successes: np.ndarray, t: int,
               rng: np.random.Generator) -> np.ndarray:
        """Arms for every row given the state; ``t`` rounds are completed so far."""
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if not k.endswith("_") and not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class BetaBernoulliThompson(BanditPolicy):
    r"""Thompson sampling with Beta priors on Bernoulli arms (Thompson 1933).

    Each arm's payoff probability has prior ``theta_k ~ Beta(a, b)`` and, after ``s_k``
    successes in ``n_k`` plays, posterior ``Beta(a + s_k, b + n_k - s_k)``.  Every round draws
    ``theta_k`` from each posterior and plays ``argmax_k theta_k``, i.e. each arm with its
    posterior probability of being the best.  Asymptotically optimal: its regret meets the
    Lai-Robbins bound (Kaufmann, Korda & Munos 2012; Agrawal & Goyal 2012).
    """

    name = "Thompson"

    def __init__(self, n_arms: int, a: float = 1.0, b: float = 1.0):
        super().__init__(n_arms)
        for name, value in (("a", a), ("b", b)):  # one scalar each, not a bool or a string
            if not _is_real(value):
                raise ValueError(f"Beta parameter {name} must be a number > 0, got {value!r}")
        a, b = check_beta_parameters(a, b)
        self.a = float(a)
        self.b = float(b)

    def choose(self, pulls, successes, t, rng):
        return thompson_select(self.a + successes, self.b + (pulls - successes), rng)[:, 0]


class UCB1(BanditPolicy):
    r"""UCB1 (Auer, Cesa-Bianchi & Fischer 2002): optimism in the face of uncertainty.

    Play every arm once, then ``argmax_k  s_k / n_k + sqrt(2 log t / n_k)`` with ``t`` the
    number of rounds so far.  Regret ``<= sum_k 8 log T / Delta_k + (1 + pi^2 / 3) sum_k
    Delta_k``.  Untried arms come first (random order); ties are broken at random.
    """

    name = "UCB1"

    def choose(self, pulls, successes, t, rng):
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = successes / pulls + np.sqrt(2.0 * np.log(max(t, 1)) / pulls)
        scores[pulls == 0] = np.inf
        return argmax_random_ties(scores, rng)


class EpsilonGreedy(BanditPolicy):
    r"""Epsilon-greedy: with probability ``epsilon`` a uniformly random arm, else the best mean.

    The greedy choice is ``argmax_k s_k / n_k`` with untried arms first and ties broken at
    random.  A fixed ``epsilon`` explores forever, so the regret grows linearly, at about
    ``epsilon * mean_k(p* - p_k)`` per round once the best arm is known.
    """

    name = "epsilon-greedy"

    def __init__(self, n_arms: int, epsilon: float = 0.1):
        super().__init__(n_arms)
        self.epsilon = check_interval("epsilon", epsilon, 0.0, 1.0, closed="both")

    def choose(self, pulls, successes, t, rng):
        with np.errstate(divide="ignore", invalid="ignore"):
            means = successes / pulls
        means[pulls == 0] = np.inf
        greedy = argmax_random_ties(means, rng)
        explore = rng.random(greedy.size) < self.epsilon
        return np.where(explore, rng.integers(0, self.n_arms, size=greedy.size), greedy)
