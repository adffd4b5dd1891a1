"""Bernoulli multi-armed bandits: Thompson sampling as posterior inference, UCB1, epsilon-greedy.

- :mod:`~bayesrec.bandits.policies`: :class:`BetaBernoulliThompson`, :class:`UCB1`,
  :class:`EpsilonGreedy`, all vectorized over independent replications (arrays of shape
  ``(replications, arms)``);
- :mod:`~bayesrec.bandits.simulate`: :func:`simulate` (regret, pulls, arm posteriors as ArviZ);
- :mod:`~bayesrec.bandits.bounds`: :func:`lai_robbins_bound`, :func:`bernoulli_kl`.
"""

from .bounds import bernoulli_kl, lai_robbins_bound, lai_robbins_constant
from .policies import UCB1, BanditPolicy, BetaBernoulliThompson, EpsilonGreedy, thompson_select
from .simulate import BanditResult, simulate

__all__ = ["BanditPolicy", "BetaBernoulliThompson", "UCB1", "EpsilonGreedy", "thompson_select",
           "simulate", "BanditResult", "lai_robbins_bound", "lai_robbins_constant", "bernoulli_kl"]
