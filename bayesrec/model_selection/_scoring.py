"""Metric names for model selection: rating error and top-N quality of a fitted model on a fold.

* ``"rmse"``, ``"mae"``: of ``model.predict_ratings(test)`` (rating models only); lower is better.
* ``"<name>@<k>"`` with name in ``precision, recall, ndcg, map, hit_rate, coverage``: top-``k``
  lists of the test users, the items each user has in that fold's training part excluded
  (:func:`bayesrec.metrics.evaluate_topk`); higher is better.
"""

from __future__ import annotations

import re
import time

import numpy as np

from ..metrics import evaluate_topk, mae, rmse

RATING = {"rmse": rmse, "mae": mae}
TOPN = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")
_TOPN_RE = re.compile(rf"^({'|'.join(TOPN)})@([1-9][0-9]*)$")


def check_metrics(metrics) -> tuple[str, ...]:
    """Validate metric names (a str or a sequence of str); ``ValueError`` naming a bad one."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("metrics is empty: name at least one metric")
    for m in metrics:
        if not isinstance(m, str) or not (m in RATING or _TOPN_RE.match(m)):
            raise ValueError(f"unknown metric {m!r}; use 'rmse', 'mae' or "
                             f"'<{'|'.join(TOPN)}>@<k>' such as 'ndcg@10'")
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics has duplicates: {list(metrics)}")
    return metrics


def greater_is_better(metric: str) -> bool:
    return metric not in RATING


def check_model_supports(model, metrics) -> None:
    """Rating metrics need ``predict_ratings``; top-N metrics need ``recommend_indices``."""
    for m in metrics:
        need = "predict_ratings" if m in RATING else "recommend_indices"
        if not callable(getattr(model, need, None)):
            raise ValueError(f"metric {m!r} needs a model with {need}(); "
                             f"{type(model).__name__} has none")


def score(model, train, test, metrics, threshold="auto") -> tuple[dict, float]:
    """``({metric: value}, predict seconds)`` of a model fitted on ``train``."""
    t0 = time.perf_counter()
    out = {}
    rating = [m for m in metrics if m in RATING]
    if rating:
        pred = np.asarray(model.predict_ratings(test), dtype=np.float64)
        for m in rating:
            out[m] = RATING[m](test.ratings, pred)
    by_k: dict[int, list[str]] = {}
    for m in metrics:
        if m not in RATING:
            by_k.setdefault(int(m.split("@")[1]), []).append(m)
    for k, names in by_k.items():
        res = evaluate_topk(model, train, test, k=k, threshold=threshold)
        for m in names:
            out[m] = float(res["coverage" if m.startswith("coverage@") else m])
    return out, time.perf_counter() - t0
