"""Cross-validation of one model, and the engine that fits candidates x folds as joblib tasks."""

from __future__ import annotations

import copy
import numbers
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .._validation import check_bool
from ..data import Ratings
from ..parallel import check_n_jobs, run_tasks
from ..progress import progress_bar
from ..rng import spawn
from ._folds import resolve_folds
from ._params import clone, get_params
from ._scoring import check_metrics, check_model_supports, score

_QUIET = ("progress", "verbose")  # display-only parameters, switched off inside the tasks


def seeded_clone(model, params: dict, rng, quiet: bool = False):
    """A clone with ``params``; its ``random_state`` becomes ``rng`` unless the model has an
    int seed of its own, and with ``quiet`` its ``progress`` / ``verbose`` display is off."""
    m = clone(model, **params)
    own = get_params(m)
    extra = {name: False for name in _QUIET if quiet and own.get(name) is True}
    if "random_state" in own and rng is not None and not isinstance(
            own["random_state"], (numbers.Integral, np.random.SeedSequence)):
        extra["random_state"] = rng
    return clone(m, **extra) if extra else m


def _fit_and_score(model, params, train, test, metrics, threshold, model_rng):
    """One task: clone, set ``params``, fit on ``train``, score on ``test``.

    BLAS runs single-threaded inside the task (the tasks are the parallel unit): a threaded
    BLAS reduction sums in an order that depends on the thread count, which differs between
    this process and a worker, so the same seed could otherwise differ in the last bits.
    """
    m = seeded_clone(model, params, model_rng, quiet=True)
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        m.fit(train)
        fit_s = time.perf_counter() - t0
        values, predict_s = score(m, train, test, metrics, threshold)
    return values, fit_s, predict_s


def evaluate(model, candidates: list[dict], ratings: Ratings, cv, metrics, n_jobs,
             random_state, verbose, threshold, description: str) -> pd.DataFrame:
    """Fit every candidate (a dict of parameters) on every fold; tidy rows
    ``candidate, fold, metric, value, fit_seconds, predict_seconds``."""
    if not isinstance(ratings, Ratings):
        raise TypeError(f"ratings must be a bayesrec.data.Ratings, got {type(ratings).__name__}")
    verbose = check_bool("verbose", verbose)  # "False" is a true string
    metrics = check_metrics(metrics)
    check_model_supports(model, metrics)
    n_jobs = check_n_jobs(n_jobs)
    fold_rng, model_root = spawn(random_state, 2)
    folds = resolve_folds(cv, ratings, fold_rng)
    model_rngs = model_root.spawn(len(folds))
    # the same generator per fold for every candidate (common random numbers); a fresh copy
    # per task, so the tasks do not depend on each other whatever the backend
    tasks = [(model, params, tr, te, metrics, threshold, copy.deepcopy(model_rngs[f]))
             for params in candidates for f, (tr, te) in enumerate(folds)]
    with progress_bar(len(tasks), description, enabled=bool(verbose)) as bar:
        results = run_tasks(_fit_and_score, tasks, n_jobs=n_jobs,
                            on_done=lambda i, r: bar.update())
    rows = []
    for t, (values, fit_s, predict_s) in enumerate(results):
        c, f = divmod(t, len(folds))
        for m in metrics:
            rows.append({"candidate": c, "fold": f, "metric": m, "value": values[m],
                         "fit_seconds": fit_s, "predict_seconds": predict_s})
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame, by=("metric",)) -> pd.DataFrame:
    """Mean, standard error (``sd / sqrt(n_folds)``, the usual CV figure: folds share
    training data, so it understates the uncertainty), and mean fit / predict seconds."""
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"summarize expects the DataFrame of cross_validate, got "
                        f"{type(results).__name__}")
    missing = [c for c in (*by, "value", "fit_seconds", "predict_seconds")
               if c not in results.columns]
    if missing:
        raise ValueError(f"summarize expects the tidy frame of cross_validate; columns "
                         f"{missing} are missing (it has {list(results.columns)})")
    g = results.groupby(list(by), sort=False)
    out = g["value"].agg(["mean", "std", "count"])
    out["se"] = out["std"] / np.sqrt(out["count"])
    out["fit_seconds"] = g["fit_seconds"].mean()
    out["predict_seconds"] = g["predict_seconds"].mean()
    return out.rename(columns={"count": "n_folds"})[
        ["mean", "se", "n_folds", "fit_seconds", "predict_seconds"]]


def cross_validate(model, ratings: Ratings, cv=5, metrics=("rmse", "mae", "ndcg@10"),
                   n_jobs=None, random_state=None, verbose: bool = True,
                   threshold="auto") -> pd.DataFrame:
    """Fit a model on every training fold and score it on the matching test fold.

    Parameters
    ----------
    model : estimator
        Not modified: each fold fits a clone.  A clone whose ``random_state`` is ``None`` or a
        Generator gets fold ``f``'s generator spawned from ``random_state`` (an int seed set on
        the model is kept); its ``progress`` / ``verbose`` display is switched off.
    ratings : Ratings
    cv : int, "random", "per_user", "time", Folds or iterable of (train, test)
        See :mod:`bayesrec.model_selection._folds`.  An int is random k-fold over rows.
    metrics : str or sequence of str
        ``"rmse"``, ``"mae"`` and top-N ``"<precision|recall|ndcg|map|hit_rate|coverage>@k"``
        (lists exclude the items the user has in that fold's training part).
    n_jobs : None, -1 or int
        Folds run at once as joblib tasks (any joblib backend; the same numbers as serial).
    random_state : int, Generator or None
        Seeds the fold assignment and the models' generators.
    verbose : bool
        Progress bar over folds, and the summary printed at the end.
    threshold : float, None or "auto"
        Relevance rule of the top-N metrics (see :func:`bayesrec.metrics.evaluate_topk`).

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (fold, metric) with ``value``, ``fit_seconds`` and
        ``predict_seconds``; ``df.attrs["summary"]`` (also :func:`summarize` ``(df)``) has the
        mean and standard error per metric.
    """
    tidy = evaluate(model, [{}], ratings, cv, metrics, n_jobs, random_state, verbose,
                    threshold, f"CV {type(model).__name__}").drop(columns="candidate")
    summary = summarize(tidy)
    tidy.attrs["summary"] = summary
    if verbose:
        print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    return tidy
