"""bayesrec: recommender systems in which every model is posterior inference.

Subpackages and modules (one concept each):

- :mod:`bayesrec.data`: the ``Ratings`` container, MovieLens loaders, splits, synthetic data;
- :mod:`bayesrec.metrics`: RMSE/MAE and top-k ranking metrics;
- :mod:`bayesrec.base`: the estimator contract shared by all rating models;
- models in :mod:`bayesrec.factorization`, :mod:`bayesrec.neighbors`, :mod:`bayesrec.ranking`,
  :mod:`bayesrec.bandits`, :mod:`bayesrec.markov`, :mod:`bayesrec.pagerank`, :mod:`bayesrec.rules`.
"""

from .data import Ratings, load_movielens, movielens_small, synthetic_ratings

__version__ = "0.1.0"
__all__ = ["Ratings", "load_movielens", "movielens_small", "synthetic_ratings", "__version__"]
