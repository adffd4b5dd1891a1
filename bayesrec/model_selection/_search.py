"""Hyperparameter search by cross-validation: exhaustive grid and random sampling."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._validation import check_bool
from ..data import Ratings
from ..rng import check_random_state, spawn
from ._params import check_param_names
from ._scoring import check_metrics, greater_is_better
from ._validate import evaluate, seeded_clone, summarize


def _check_grid(param_grid) -> list[dict]:
    """A dict ``name -> list`` or a list of such dicts -> the list of parameter points."""
    grids = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid)
    if not grids:
        raise ValueError("param_grid is empty: no parameter points to try")
    points = []
    for g in grids:
        if not isinstance(g, Mapping):
            raise ValueError(f"param_grid must be a dict of lists or a list of dicts, got {g!r}")
        if not g:
            raise ValueError("param_grid is empty: a grid needs at least one parameter")
        lists = {}
        for name, values in g.items():
            if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
                raise ValueError(f"param_grid[{name!r}] must be a list of values, got "
                                 f"{values!r}")
            lists[name] = list(values)  # once: a generator would be empty the second time
            if len(lists[name]) == 0:
                raise ValueError(f"param_grid[{name!r}] is empty: no values to try")
        names = list(lists)
        points += [dict(zip(names, combo)) for combo in
                   itertools.product(*(lists[n] for n in names))]
    if not points:
        raise ValueError("param_grid is empty: no parameter points to try")
    return points


class _Search:
    """Shared fitting logic: ``candidates_`` -> ``results_``, ``best_params_``, refit."""

    def __init__(self, model, cv, metric, refit, n_jobs, random_state, verbose, threshold):
        self.model = model
        self.cv = cv
        self.metric = metric
        self.refit = refit
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.threshold = threshold

    def _candidates(self, rng) -> list[dict]:  # pragma: no cover - interface
        raise NotImplementedError

    def fit(self, ratings: Ratings):
        """Cross-validate every candidate on ``ratings``; with ``refit``, fit the best one on
        all of ``ratings``.  Returns ``self``."""
        metrics = check_metrics(self.metric)
        refit = check_bool("refit", self.refit)  # "False" is a true string
        primary = metrics[0]
        sample_rng, cv_rng, refit_rng = spawn(self.random_state, 3)
        candidates = self._candidates(sample_rng)
        for p in candidates:
            check_param_names(self.model, p)
        tidy = evaluate(self.model, candidates, ratings, self.cv, metrics, self.n_jobs,
                        cv_rng, self.verbose, self.threshold,
                        f"{type(self).__name__} {type(self.model).__name__}")
        summary = summarize(tidy, by=("candidate", "metric")).reset_index()
        rows = []
        for c, params in enumerate(candidates):
            row = {"params": params}
            row.update({f"param_{k}": v for k, v in params.items()})
            s = summary[summary["candidate"] == c].set_index("metric")
            for m in metrics:
                row[f"mean_{m}"] = s.loc[m, "mean"]
                row[f"se_{m}"] = s.loc[m, "se"]
            row["mean_fit_seconds"] = s["fit_seconds"].iloc[0]
            rows.append(row)
        results = pd.DataFrame(rows)
        for m in metrics:
            results[f"rank_{m}"] = results[f"mean_{m}"].rank(
                ascending=not greater_is_better(m), method="min").astype(int)
        best = int(np.argmin(results[f"rank_{primary}"].to_numpy()))  # first of the ties
        learned = {"results_": results, "fold_results_": tidy, "best_index_": best,
                   "best_params_": dict(candidates[best]),
                   "best_score_": float(results.loc[best, f"mean_{primary}"])}
        if refit:
            learned["best_estimator_"] = seeded_clone(self.model, learned["best_params_"],
                                                      refit_rng).fit(ratings)
        # published together: a failed refit leaves the previous search intact (and no
        # best_estimator_ of another search next to these results)
        vars(self).pop("best_estimator_", None)
        vars(self).update(learned)
        return self


class GridSearch(_Search):
    """Exhaustive search over a parameter grid, scored by cross-validation.

    Parameters
    ----------
    model : estimator
        Template; cloned for every (point, fold), never modified.
    param_grid : dict of lists, or list of such dicts
        E.g. ``{"rank": [5, 10], "reg": [5.0, 20.0]}``: every combination is tried.
    cv, n_jobs, random_state, verbose, threshold :
        As in :func:`~bayesrec.model_selection.cross_validate`; ``n_jobs`` runs the
        (point, fold) tasks at once through joblib.
    metric : str or sequence of str
        The first one chooses the best point (``rmse``/``mae``: lowest; top-N: highest mean
        over folds); the others are reported too.
    refit : bool
        Fit ``best_estimator_`` on all the data with ``best_params_`` (a ``random_state`` of
        None on the model becomes a generator spawned from the search's ``random_state``).

    Attributes
    ----------
    results_ : DataFrame
        One row per point: ``params``, ``param_<name>``, ``mean_<metric>``, ``se_<metric>``,
        ``rank_<metric>``, ``mean_fit_seconds``.
    fold_results_ : DataFrame
        Tidy per (candidate, fold, metric) values and timings.
    best_params_, best_score_, best_index_, best_estimator_ :
        The scikit-learn names.
    """

    def __init__(self, model, param_grid, cv=5, metric="rmse", refit: bool = True,
                 n_jobs=None, random_state=None, verbose: bool = True, threshold="auto"):
        super().__init__(model, cv, metric, refit, n_jobs, random_state, verbose, threshold)
        self.param_grid = param_grid

    def _candidates(self, rng) -> list[dict]:
        return _check_grid(self.param_grid)


class RandomizedSearch(_Search):
    """Random search: ``n_iter`` points drawn from lists and / or scipy distributions.

    ``param_distributions`` maps a name to a list (a value is drawn uniformly) or to a frozen
    scipy distribution (``scipy.stats.loguniform(1, 100)``; drawn with its ``rvs``).  The draws
    use ``random_state`` only, so the same seed tries the same points.  When every entry is a
    list and the grid has at most ``n_iter`` points, each point is tried once.  Other
    parameters and attributes as in :class:`GridSearch`.
    """

    def __init__(self, model, param_distributions, n_iter: int = 10, cv=5, metric="rmse",
                 refit: bool = True, n_jobs=None, random_state=None, verbose: bool = True,
                 threshold="auto"):
        super().__init__(model, cv, metric, refit, n_jobs, random_state, verbose, threshold)
        self.param_distributions = param_distributions
        self.n_iter = n_iter

    def _candidates(self, rng) -> list[dict]:
        dists = self.param_distributions
        if not isinstance(dists, Mapping) or not dists:
            raise ValueError("param_distributions must be a non-empty dict of lists or "
                             f"distributions, got {dists!r}")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, (int, np.integer)) \
                or self.n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {self.n_iter!r}")
        listed = {}
        for name, d in dists.items():
            if hasattr(d, "rvs"):
                listed[name] = d
                continue
            if isinstance(d, (str, bytes)) or not hasattr(d, "__iter__"):
                listed[name] = []
            else:
                listed[name] = list(d)  # once: a generator would be empty the second time
            if len(listed[name]) == 0:
                raise ValueError(f"param_distributions[{name!r}] must be a non-empty list or "
                                 f"a scipy distribution, got {d!r}")
        dists = listed
        rng = check_random_state(rng)
        if all(not hasattr(d, "rvs") for d in dists.values()):
            grid = _check_grid({k: list(v) for k, v in dists.items()})
            if len(grid) <= self.n_iter:
                return grid
            return [grid[i] for i in rng.choice(len(grid), self.n_iter, replace=False)]
        out = []
        for _ in range(self.n_iter):
            point = {}
            for name, d in dists.items():
                if hasattr(d, "rvs"):
                    v = d.rvs(random_state=rng)
                    point[name] = v.item() if hasattr(v, "item") else v
                else:
                    values = list(d)
                    point[name] = values[int(rng.integers(len(values)))]
            out.append(point)
        return out
