"""Neighbourhood collaborative filtering: user-user and item-item, vectorized and blocked.

- :mod:`.models`: :class:`UserKNN`, :class:`ItemKNN` (equations in the module docstring);
- :mod:`.similarity`: overlap-restricted Pearson / cosine / adjusted cosine as four sparse
  products, processed in row blocks so that only the top k per row is ever kept;
- :mod:`.kernels`: the numba engine (the four products fused in one pass) and the prediction
  scans;
- :mod:`.shrinkage`: conjugate-Normal damped means (cold start as posterior inference).

Scale (MovieLens-20M-shaped synthetic set, 138,493 users x 26,744 items, 16M training
ratings, 2 cores; ``python -m experiments.bench_neighbors --part scale``)
------------------------------------------------------------------------------------------
Memory of a fit is the data plus ``O(nnz)`` working copies (about 12 bytes per rating for
each of the centred matrix, its transpose and the deviations), the ``(n, pool)`` neighbour
arrays (16 bytes per entry) and ``48 * n`` bytes of accumulators per thread; the
``n x n`` similarity matrix is never formed.

* Item-item: the ``(26,744, 20)`` course neighbourhood fits in 42 s (72 s on a busier
  machine), the per-item one (pool 400) in 44-58 s; predicting the 4M test pairs takes
  3-10 s; test RMSE 0.907 (fixed) and 0.860 (per-item).  Peak RSS 1.48 GB (fixed) and
  1.63 GB (per-item), of which 1.28 GB is the generated data and its split.
* User-user: the similarity work is ``sum_i n_i^2 ~ 2.3e11`` co-rating pairs (35x that of
  item-item).  The benchmark times 2,000 sampled users and extrapolates (~28 min); a full
  per-item fit (pool 500) took 32 min (1,900 s at low priority beside other jobs), predicting the
  4M test pairs 13 s (test RMSE 0.854), peak RSS 2.3 GB during the fit (2.5 GB with the
  predictions), of which 1.28 GB is the data; the ``(138,493, 500)`` neighbour arrays are
  ~1.1 GB.
"""

from .models import NEIGHBORHOODS, SIMILARITIES, ItemKNN, UserKNN
from .shrinkage import damped_means
from .similarity import TopK, top_k_similarities

__all__ = ["UserKNN", "ItemKNN", "SIMILARITIES", "NEIGHBORHOODS", "TopK",
           "top_k_similarities", "damped_means"]
