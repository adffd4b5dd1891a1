"""Neural recommenders (embedding dot product, MLP, residual) fitted by MAP or ADVI.

Private modules: ``_estimator`` (the :class:`NeuralRecommender` estimator), ``_graph`` (the
forward pass in PyTensor and NumPy), ``_map`` (the MAP objective and its compiled step),
``_optim`` (Adam and momentum updates), ``_advi`` (mean-field ADVI through PyMC) and
``_pymc_model`` (the model as a ``pm.Model``; ``models/neural.py`` re-exports it).
"""

from ._estimator import NeuralRecommender

__all__ = ["NeuralRecommender"]
