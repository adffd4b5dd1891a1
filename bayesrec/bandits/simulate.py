"""Vectorized bandit simulation: many independent replications advance together.

One Python loop over trials; each step draws the choices and the rewards of *all* replications
as arrays of shape ``(replications, arms)`` / ``(replications,)``.  There is no loop over
replications, so 500 replications cost about as much Python overhead as one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from .._validation import check_bool, check_positive
from ..inference.beta import beta_draws, check_beta_parameters
from ..progress import progress_bar
from ..rng import check_random_state
from .bounds import _probabilities
from .policies import BanditPolicy


@dataclass(frozen=True)
class BanditResult:
    """What :func:`simulate` returns.  ``R`` replications, ``T`` trials, ``K`` arms, ``S`` steps.

    Attributes
    ----------
    policy : str
        Name of the policy.
    probabilities : ndarray (K,)
        True payoff probability of each arm.
    arms : ndarray (R, T)
        Arm played at each trial.
    rewards : ndarray (R, T) of bool
        Reward observed at each trial.
    regret : ndarray (R, T)
        Cumulative (pseudo-)regret ``sum_{s <= t} (p* - p_{arm_s})`` after trial ``t + 1``: the
        expected payoff lost, free of the reward noise.  :attr:`realized_regret` uses rewards.
    pulls, successes : ndarray (R, K)
        Final number of plays and of 1-rewards of each arm.
    steps : ndarray (S,)
        Numbers of completed trials at which the state was recorded (``0 <= step <= T``).
    pulls_at, successes_at : ndarray (S, R, K)
        ``pulls`` and ``successes`` after ``steps[j]`` trials.
    prior : (float, float)
        The Beta prior used by :meth:`posterior` by default (the policy's, else uniform).
    """

    policy: str
    probabilities: np.ndarray
    arms: np.ndarray
    rewards: np.ndarray
    regret: np.ndarray
    pulls: np.ndarray
    successes: np.ndarray
    steps: np.ndarray
    pulls_at: np.ndarray
    successes_at: np.ndarray
    prior: tuple[float, float] = (1.0, 1.0)

    @property
    def n_replications(self) -> int:
        return self.arms.shape[0]

    @property
    def n_trials(self) -> int:
        return self.arms.shape[1]

    @property
    def realized_regret(self) -> np.ndarray:
        """``t p* - (rewards collected up to t)``, shape (R, T)."""
        t = np.arange(1, self.n_trials + 1)
        return t * self.probabilities.max() - np.cumsum(self.rewards, axis=1)

    def mean_regret(self) -> np.ndarray:
        """Cumulative regret averaged over replications, shape (T,)."""
        return self.regret.mean(axis=0)

    def regret_standard_error(self) -> np.ndarray:
        """Standard error of :meth:`mean_regret` (sample sd / sqrt(R)), shape (T,)."""
        r = self.n_replications
        return self.regret.std(axis=0, ddof=1) / np.sqrt(r) if r > 1 else np.full(
            self.n_trials, np.nan)

    def best_arm_share(self) -> np.ndarray:
        """Running share of plays of the best arm(s), averaged over replications, shape (T,)."""
        best = np.isin(self.arms, np.flatnonzero(self.probabilities == self.probabilities.max()))
        return best.mean(axis=0).cumsum() / np.arange(1, self.n_trials + 1)

    def posterior(self, n_draws: int = 1000, replication=0, prior=None, rng=None):
        """Beta posterior of every arm at every recorded step, as an ArviZ ``DataTree``.

        Whatever the policy, arm ``k`` after ``n`` plays with ``s`` successes has posterior
        ``Beta(a + s, b + n - s)`` (the likelihood does not depend on how arms were chosen).

        Groups
        ------
        posterior
            ``theta``: exact independent draws, dims ``(chain, draw, step, arm)`` with one chain
            (``(chain, draw, replication, step, arm)`` if ``replication`` is a sequence).
        constant_data
            ``successes``, ``failures``, ``alpha = a + successes``, ``beta = b + failures``
            (dims ``([replication,] step, arm)``) and the true ``probability`` (``arm``).

        Parameters
        ----------
        n_draws : int
        replication : int or sequence of int
            Which replication(s).
        prior : (a, b), optional
            Defaults to :attr:`prior`.
        rng : int, Generator or None
            Source of the draws.
        """
        import arviz as az

        n_draws = check_positive("n_draws", n_draws, integer=True)
        a, b = (float(v) for v in check_beta_parameters(*(self.prior if prior is None
                                                          else prior)))
        reps = np.asarray(replication)
        if reps.dtype.kind not in "iu" or reps.ndim > 1 or np.any(reps < 0) or np.any(
                reps >= self.n_replications):
            raise ValueError(f"replication must be integer(s) in [0, {self.n_replications})")
        succ = np.moveaxis(self.successes_at[:, reps], 0, -2)   # ([rep,] step, arm)
        fail = np.moveaxis(self.pulls_at[:, reps], 0, -2) - succ
        alpha, beta = a + succ, b + fail
        draws = beta_draws(alpha, beta, check_random_state(rng),
                           size=(1, n_draws) + alpha.shape)
        lead = ["replication"] if reps.ndim else []
        dims = lead + ["step", "arm"]
        coords = {"step": self.steps, "arm": np.arange(self.probabilities.size)}
        if reps.ndim:
            coords["replication"] = reps
        tree = az.from_dict(
            {"posterior": {"theta": draws},
             "constant_data": {"successes": succ, "failures": fail, "alpha": alpha,
                               "beta": beta, "probability": self.probabilities}},
            dims={"theta": dims, "successes": dims, "failures": dims, "alpha": dims,
                  "beta": dims, "probability": ["arm"]},
            coords=coords)
        tree["posterior"].attrs.update(policy=self.policy, prior_a=a, prior_b=b)
        return tree


def simulate(policy: BanditPolicy, probabilities, n_trials: int, n_replications: int = 1,
             rng=None, posterior_steps=None, progress: bool = False) -> BanditResult:
    """Run ``n_replications`` independent Bernoulli bandits for ``n_trials`` rounds.

    Each round, every replication asks the policy for an arm (:meth:`BanditPolicy.choose` on
    the ``(R, K)`` state), receives ``reward ~ Bernoulli(p_arm)`` (``rng.random(R) < p``) and
    updates its counts.  The policy object passed in is not modified (a copy is run).

    Parameters
    ----------
    policy : BanditPolicy
        E.g. ``BetaBernoulliThompson(3)``; its ``n_arms`` must match ``probabilities``.
    probabilities : array_like (K,)
        True payoff probability of each arm.
    n_trials, n_replications : int
    rng : int, Generator or None
        The only source of randomness: same seed, same result.
    posterior_steps : sequence of int, optional
        Numbers of completed trials (``0..n_trials``) at which to record every arm's counts
        for :meth:`BanditResult.posterior`; default ``[n_trials]``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    BanditResult
    """
    if not isinstance(policy, BanditPolicy):
        raise TypeError(f"policy must be a BanditPolicy, got {type(policy).__name__}")
    p = _probabilities(probabilities)
    if p.size != policy.n_arms:
        raise ValueError(f"{p.size} probabilities for a policy with {policy.n_arms} arms")
    T = check_positive("n_trials", n_trials, integer=True)
    R = check_positive("n_replications", n_replications, integer=True)
    progress = check_bool("progress", progress)
    steps = np.asarray([T] if posterior_steps is None else posterior_steps).ravel()
    if steps.size and steps.dtype.kind not in "iu":  # 2.7 would be cut to 2, True read as 1
        raise ValueError(f"posterior_steps must be integers (numbers of trials), got "
                         f"{posterior_steps!r}")
    steps = steps.astype(np.int64)
    if steps.size and (steps.min() < 0 or steps.max() > T):
        raise ValueError(f"posterior_steps must lie in [0, n_trials={T}], got {steps}")
    gen = check_random_state(rng)
    pol = copy.deepcopy(policy).reset(R)
    K = p.size
    arms = np.empty((T, R), dtype=np.int16 if K < 2**15 else np.int64)
    rewards = np.empty((T, R), dtype=bool)
    pulls_at = np.empty((steps.size, R, K), dtype=np.int64)
    successes_at = np.empty_like(pulls_at)
    record = {}
    for j, s in enumerate(steps):
        record.setdefault(int(s), []).append(j)

    def snapshot(t):
        for j in record.get(t, ()):
            pulls_at[j] = pol.pulls_
            successes_at[j] = pol.successes_

    with progress_bar(T, f"{pol.name} bandit", enabled=progress) as bar:
        for t in range(T):
            snapshot(t)
            chosen = pol.choose(pol.pulls_, pol.successes_, t, gen)
            paid = gen.random(R) < p[chosen]
            pol._record(chosen, paid)  # valid by construction: no per-round checks
            arms[t] = chosen
            rewards[t] = paid
            if progress and (t + 1) % 100 == 0:
                bar.update(100)
        snapshot(T)
    gap = p.max() - p
    regret = np.cumsum(gap[arms], axis=0).T.copy()
    prior = (policy.a, policy.b) if hasattr(policy, "a") and hasattr(policy, "b") else (1.0, 1.0)
    return BanditResult(policy=pol.name, probabilities=p, arms=arms.T.copy(),
                        rewards=rewards.T.copy(), regret=regret, pulls=pol.pulls_,
                        successes=pol.successes_, steps=steps, pulls_at=pulls_at,
                        successes_at=successes_at, prior=prior)
