"""Weighted matrix factorization of implicit feedback (Hu, Koren & Volinsky, ICDM 2008).

Private modules: ``_data`` (interactions arranged for the sweeps), ``_sweep`` (one vectorized
Gibbs / ALS sweep over all cells without forming them), ``_bpmf`` (:class:`ImplicitBPMF`, the
Bayesian model sampled by Gibbs), ``_als`` (:class:`ImplicitALS`, its MAP point estimate),
``_scores`` (ranking from a bank of posterior draws).
"""

from ._als import ImplicitALS
from ._bpmf import ImplicitBPMF

__all__ = ["ImplicitBPMF", "ImplicitALS"]
