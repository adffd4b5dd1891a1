"""Bayesian SVD++ (implicit-aware Bayesian MF with side features) by Gibbs sampling.

Private modules: ``_estimator`` (the :class:`BayesianSVDpp` estimator), ``_design`` (the
bag matrices: implicit feedback and side features), ``_sweep`` (one vectorized Gibbs sweep),
``_sampler`` (the object the chain driver runs).
"""

from ._design import genre_features
from ._estimator import BayesianSVDpp

__all__ = ["BayesianSVDpp", "genre_features"]
