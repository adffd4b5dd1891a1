"""Model selection: cross-validation and hyperparameter search (Surprise / scikit-learn style).

* :func:`cross_validate` -> tidy per-fold scores with mean and standard error;
* :class:`GridSearch`, :class:`RandomizedSearch` -> ``best_params_``, ``best_estimator_``,
  ``results_``;
* :class:`Folds`: random k-fold, per-user k-fold, time (rolling origin);
* :func:`paired_bootstrap`: two models on the same users -> mean difference and its interval.

Rating metrics (``rmse``, ``mae``) and top-N metrics (``ndcg@10``, ...) both work.  Every
``n_jobs`` runs the (candidate, fold) tasks through ``joblib.Parallel``
(:mod:`bayesrec.parallel`), so ``with joblib.parallel_config(backend="dask"):`` spreads them
over a ``dask.distributed`` cluster with no other change, with the same numbers as a serial run.
"""

from ._compare import paired_bootstrap
from ._folds import Folds
from ._search import GridSearch, RandomizedSearch
from ._validate import cross_validate, summarize

__all__ = ["cross_validate", "summarize", "GridSearch", "RandomizedSearch", "Folds",
           "paired_bootstrap"]
