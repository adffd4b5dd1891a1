"""bayesrec: recommender systems in which every model is posterior inference.

Subpackages and modules (one concept each):

- :mod:`bayesrec.data`: the ``Ratings`` container, MovieLens loaders, splits, synthetic data;
- :mod:`bayesrec.metrics`: RMSE/MAE and top-k ranking metrics;
- :mod:`bayesrec.base`: the estimator contract shared by all models (``Recommender``,
  ``RatingModel``); :mod:`bayesrec.persistence`: ``model.save(path)`` / :func:`bayesrec.load`;
- :mod:`bayesrec.baseline`: damped means and ``BiasBaseline``;
- :mod:`bayesrec.exceptions`: the library's exception types;
- models in :mod:`bayesrec.factorization`, :mod:`bayesrec.neighbors`, :mod:`bayesrec.ranking`,
  :mod:`bayesrec.bandits`, :mod:`bayesrec.markov`, :mod:`bayesrec.pagerank`, :mod:`bayesrec.rules`.
"""

from .data import Ratings, load_movielens, movielens_small, synthetic_ratings
from .persistence import load

__version__ = "0.1.0"
__all__ = ["Ratings", "load", "load_movielens", "movielens_small", "synthetic_ratings",
           "__version__"]
