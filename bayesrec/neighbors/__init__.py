"""Neighbourhood collaborative filtering: user-user and item-item, vectorized and blocked.

- :mod:`.models`: :class:`UserKNN`, :class:`ItemKNN` (equations in the module docstring);
- :mod:`.similarity`: overlap-restricted Pearson / cosine / adjusted cosine from blocked sparse
  products, keeping only the top k per row;
- :mod:`.shrinkage`: conjugate-Normal damped means (cold start as posterior inference);
- :mod:`.prediction`: the weighted deviation average, vectorized over pairs.
"""

from .models import SIMILARITIES, ItemKNN, UserKNN
from .shrinkage import damped_means
from .similarity import TopK, top_k_similarities

__all__ = ["UserKNN", "ItemKNN", "SIMILARITIES", "TopK", "top_k_similarities", "damped_means"]
