"""PyMC twin of :class:`bayesrec.factorization.NeuralRecommender`.

The ADVI fit needs this ``pm.Model`` at run time, so it lives in the library
(:mod:`bayesrec.factorization.neural._pymc_model`); this module re-exports it so that every
Bayesian model's specification can be found in ``models/``.
"""

from bayesrec.factorization.neural._pymc_model import ACTIVATIONS, ARCHITECTURES, neural_model

__all__ = ["ACTIVATIONS", "ARCHITECTURES", "neural_model"]
