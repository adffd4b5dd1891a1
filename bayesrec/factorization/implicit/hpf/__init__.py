"""Hierarchical Poisson factorization (Gopalan, Hofman & Blei, UAI 2015).

Private modules: ``_estimator`` (the :class:`HPF` estimator), ``_data`` (interaction counts
from a ``Ratings``, priors), ``_kernels`` (compiled O(nnz K) passes over the interactions),
``_cavi`` (coordinate-ascent variational inference and its ELBO), ``_gibbs`` (the
Poisson-multinomial Gibbs sampler for the chain driver).
"""

from ._estimator import HPF

__all__ = ["HPF"]
