"""Bayesian probabilistic matrix factorization (Salakhutdinov & Mnih, ICML 2008) by Gibbs sampling.

Private modules: ``_estimator`` (the :class:`BPMF` estimator), ``_sweep`` (one vectorized Gibbs
sweep), ``_moves`` (extra exact MCMC moves along the likelihood's flat directions),
``_sampler`` (chains, burn-in, banks of tracked draws), ``_predict`` (posterior predictive
summaries), ``_linalg`` (batched Cholesky draws, compiled kernels).
"""

from ._estimator import BPMF

__all__ = ["BPMF"]
