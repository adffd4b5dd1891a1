"""Evaluation metrics: rating error (RMSE, MAE) and top-k ranking quality.

Top-k metrics take

* ``recommended``: an integer array ``(n_users, >= k)`` of item indices, best first; ``-1``
  pads lists shorter than ``k`` (a padded slot is never a hit);
* ``relevant``: a sparse ``(n_users, n_items)`` matrix whose stored entries (with non-zero
  value) mark the relevant items of each row, e.g. :func:`relevance_matrix` of a test set.

Relevance rule: a test rating is relevant when ``rating >= threshold`` (default 4.0 on the
MovieLens 0.5-5 scale); a test interaction of implicit data is relevant when its count is
``> 0`` (or ``>= threshold`` when one is given).  Users with no relevant test item are
**excluded** from the averages (their precision would be 0 whatever the model does); with
``per_user=True`` they get NaN.
All metrics are vectorized over users: hits are found by one sorted search of
``user * n_items + item`` keys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import check_positive, check_sparse
from .data import Ratings


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(y_true), np.asarray(y_pred)
    for name, v in (("y_true", a), ("y_pred", b)):  # "4" or True would be cast silently
        if v.dtype.kind not in "iuf":
            raise ValueError(f"{name} must hold numbers, got dtype {v.dtype}")
    a, b = a.astype(np.float64), b.astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"y_true and y_pred shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("empty input: no ratings to score")
    if np.isnan(b).any():
        raise ValueError(f"NaN prediction at position {int(np.flatnonzero(np.isnan(b))[0])}")
    if not np.isfinite(a).all():
        raise ValueError(f"non-finite true rating at position "
                         f"{int(np.flatnonzero(~np.isfinite(a))[0])}")
    return a, b


def rmse(y_true, y_pred) -> float:
    """Root mean squared error."""
    a, b = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


def _resolve_threshold(test: Ratings, threshold):
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(f"threshold must be a number, None or 'auto', got {threshold!r}")
        return None if test.implicit else 4.0
    if threshold is not None and (isinstance(threshold, bool) or not np.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number, None or 'auto', got {threshold!r}")
    return threshold


def relevance_matrix(test: Ratings, threshold: float | None | str = 4.0) -> sp.csr_matrix:
    """Boolean ``(n_users, n_items)`` CSR of the test rows with ``rating >= threshold``.

    ``threshold=None``: every test row with a value ``> 0`` (an interaction) is relevant;
    ``"auto"``: ``None`` for implicit data, 4.0 for ratings.
    """
    threshold = _resolve_threshold(test, threshold)
    keep = test.ratings > 0 if threshold is None else test.ratings >= threshold
    m = sp.csr_matrix((np.ones(int(keep.sum()), bool), (test.users[keep], test.items[keep])),
                      shape=test.shape)
    m.sum_duplicates()
    return m


def _check_recommended(rec: np.ndarray, n_items: int) -> np.ndarray:
    """Item indices in ``[0, n_items)`` or ``-1`` (an empty slot), as int64.

    An index past the catalogue would otherwise be read as another user's item (the hits are
    looked up by ``user * n_items + item``): a silent wrong score.
    """
    if rec.size and rec.dtype.kind not in "iu":
        raise ValueError(f"recommended must hold integer item indices, got dtype {rec.dtype}")
    rec = rec.astype(np.int64, copy=False)
    if rec.size and (rec.min() < -1 or rec.max() >= n_items):
        bad = int(rec.min()) if rec.min() < -1 else int(rec.max())
        raise ValueError(f"recommended item index {bad} is outside [0, {n_items}) (-1 marks "
                         "an empty slot)")
    if rec.ndim == 2 and rec.shape[1] > 1:
        # an item listed twice would count as two hits (recall above 1)
        srt = np.sort(rec, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if dup.any():
            row = int(np.flatnonzero(dup.any(axis=1))[0])
            raise ValueError(f"recommended row {row} lists an item more than once")
    return rec


def _hits(recommended: np.ndarray, relevant, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean hits ``(n_users, k)`` and the count of relevant items per user."""
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (users, positions), got shape {rec.shape}")
    if rec.shape[1] < k:
        raise ValueError(f"recommended has {rec.shape[1]} columns, fewer than k={k}")
    rel = sp.csr_matrix(check_sparse("relevant", relevant) if sp.issparse(relevant)
                        else relevant, copy=True)
    rel.eliminate_zeros()
    rel.sort_indices()
    if rel.shape[0] != rec.shape[0]:
        raise ValueError(f"relevant has {rel.shape[0]} rows but recommended has {rec.shape[0]}")
    n_items = rel.shape[1]
    rec = _check_recommended(rec[:, :k], n_items)
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    keys = rows * n_items + rel.indices  # sorted: CSR rows in order, columns sorted
    query = np.arange(rec.shape[0], dtype=np.int64)[:, None] * n_items + rec
    if len(keys) == 0:
        return np.zeros(rec.shape, bool), np.diff(rel.indptr)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    hits = (rec >= 0) & (keys[pos] == query)
    return hits, np.diff(rel.indptr)


def _check_k(k) -> int:
    """``k`` as an int (a positive integer; not a bool, a string or NaN)."""
    return check_positive("k", k, integer=True)


def _average(values: np.ndarray, n_relevant: np.ndarray, per_user: bool):
    values = np.where(n_relevant > 0, values, np.nan)
    if per_user:
        return values
    if not (n_relevant > 0).any():
        raise ValueError("no user has a relevant item: the top-k metrics are undefined")
    return float(np.nanmean(values))


def precision_at_k(recommended, relevant, k: int = 10, per_user: bool = False):
    """Share of the top-k recommendations that are relevant: ``hits / k``."""
    k = _check_k(k)
    hits, n_rel = _hits(recommended, relevant, k)
    return _average(hits.sum(1) / k, n_rel, per_user)


def recall_at_k(recommended, relevant, k: int = 10, per_user: bool = False):
    """Share of the relevant items found in the top k: ``hits / |relevant|``."""
    k = _check_k(k)
    hits, n_rel = _hits(recommended, relevant, k)
    return _average(hits.sum(1) / np.maximum(n_rel, 1), n_rel, per_user)


def hit_rate_at_k(recommended, relevant, k: int = 10, per_user: bool = False):
    """Share of users with at least one relevant item in their top k."""
    k = _check_k(k)
    hits, n_rel = _hits(recommended, relevant, k)
    return _average(hits.any(1).astype(float), n_rel, per_user)


def ndcg_at_k(recommended, relevant, k: int = 10, per_user: bool = False):
    """Normalised discounted cumulative gain with binary relevance.

    ``DCG = sum_{p=1..k} hit_p / log2(p + 1)``, divided by the DCG of a perfect list
    (``min(k, |relevant|)`` hits first) (Jarvelin & Kekalainen 2002).
    """
    k = _check_k(k)
    hits, n_rel = _hits(recommended, relevant, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discount
    ideal = np.cumsum(discount)[np.clip(np.minimum(n_rel, k) - 1, 0, k - 1)]
    return _average(dcg / ideal, n_rel, per_user)


def average_precision_at_k(recommended, relevant, k: int = 10, per_user: bool = False):
    """AP@k: ``sum_p precision@p * hit_p / min(k, |relevant|)``; its mean over users is MAP@k."""
    k = _check_k(k)
    hits, n_rel = _hits(recommended, relevant, k)
    prec_at_p = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    ap = (prec_at_p * hits).sum(1) / np.maximum(np.minimum(n_rel, k), 1)
    return _average(ap, n_rel, per_user)


def catalogue_coverage(recommended, n_items: int, k: int | None = None) -> float:
    """Share of the ``n_items`` catalogue that appears in at least one user's top-k list."""
    n_items = check_positive("n_items", n_items, integer=True)
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (users, positions), got shape {rec.shape}")
    if k is not None:
        rec = rec[:, :check_positive("k", k, integer=True)]
    rec = _check_recommended(rec, n_items)
    shown = np.unique(rec[rec >= 0])
    return len(shown) / n_items


def evaluate_topk(model, train: Ratings, test: Ratings, k: int = 10,
                  threshold: float | None | str = "auto", **options) -> dict[str, float]:
    """Top-k metrics of a fitted model on the test users that have a relevant test item.

    Works for every model with ``recommend_indices`` (rating models ranked by predicted
    rating, top-N models ranked by their scores).  Recommendations exclude every item the
    user has in ``train`` (even when the model was fitted on a subset of it, e.g.
    ``train.to_implicit(threshold=4)``); ``train``, ``test`` and the model's training data
    must share id maps (as every split and :meth:`Ratings.to_implicit` do).  Users without
    training rows are left out (an unknown user's list is the model's popularity fallback).

    Parameters
    ----------
    model : fitted recommender
    train, test : Ratings
    k : int
        List length.
    threshold : float, None or "auto"
        Relevance: test ``rating >= threshold``; ``None``: every test interaction; ``"auto"``
        (default): 4.0 for explicit ratings, every interaction for implicit data.
    **options
        Forwarded to ``model.recommend_indices`` (e.g. ``strategy="thompson"``,
        ``random_state=0``).

    Returns
    -------
    dict
        ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``, ``coverage``
        (share of the catalogue in at least one list), ``n_users``.
    """
    k = _check_k(k)
    users, rec, rel_u = _ranked_lists(model, train, test, k, threshold, options)
    return {f"precision@{k}": precision_at_k(rec, rel_u, k),
            f"recall@{k}": recall_at_k(rec, rel_u, k),
            f"ndcg@{k}": ndcg_at_k(rec, rel_u, k),
            f"map@{k}": average_precision_at_k(rec, rel_u, k),
            f"hit_rate@{k}": hit_rate_at_k(rec, rel_u, k),
            "coverage": catalogue_coverage(rec, train.n_items),
            "n_users": int(len(users))}


def evaluate_topk_per_user(model, train: Ratings, test: Ratings, k: int = 10,
                           threshold: float | None | str = "auto", **options):
    """The per-user values behind :func:`evaluate_topk` (same users, same lists).

    For paired comparisons of two models on one split
    (:func:`bayesrec.model_selection.paired_bootstrap`): both frames hold the same users in
    the same order.

    Returns
    -------
    pandas.DataFrame
        Indexed by the user's index (``user``), columns ``precision@k``, ``recall@k``,
        ``ndcg@k``, ``map@k``, ``hit_rate@k``; their column means are :func:`evaluate_topk`'s.
    """
    k = _check_k(k)
    users, rec, rel_u = _ranked_lists(model, train, test, k, threshold, options)
    cols = {f"precision@{k}": precision_at_k, f"recall@{k}": recall_at_k,
            f"ndcg@{k}": ndcg_at_k, f"map@{k}": average_precision_at_k,
            f"hit_rate@{k}": hit_rate_at_k}
    return pd.DataFrame({name: f(rec, rel_u, k, per_user=True) for name, f in cols.items()},
                        index=pd.Index(users, name="user"))


def _ranked_lists(model, train: Ratings, test: Ratings, k: int, threshold, options):
    """The evaluated users (a relevant test item and a training row), their top-``k`` lists
    (seen training items excluded) and their relevance rows."""
    if not _same_maps(train, test):
        raise ValueError("train and test must share id maps (use a bayesrec split)")
    fitted = getattr(model, "train_", None)
    if fitted is None:
        raise ValueError(f"{type(model).__name__} is not fitted; call fit(train) first")
    if not _same_maps(train, fitted):
        raise ValueError("the model was fitted on data with other id maps than train; fit it "
                         "on train (or a view of it such as train.to_implicit())")
    rel = relevance_matrix(test, threshold)
    users = np.flatnonzero(np.diff(rel.indptr) > 0)
    users = users[train.user_counts[users] > 0]
    # items in train that the model does not know as seen: ask for that many more, drop them
    seen = train.csr[users]
    seen_model = fitted.csr[users]
    unseen_by_model = seen - seen.multiply(seen_model.astype(bool))
    unseen_by_model.eliminate_zeros()
    extra = int(np.diff(unseen_by_model.indptr).max(initial=0)) if fitted is not train else 0
    n_ask = min(k + extra, train.n_items)
    rec, _ = model.recommend_indices(users, k=n_ask, exclude_seen=True, **options)
    rec = np.asarray(rec, dtype=np.int64)
    if extra:
        rec = _drop_seen(rec, seen, k)
    if rec.shape[1] < k:  # tiny catalogue: pad with -1 (never a hit)
        rec = np.hstack([rec, np.full((len(rec), k - rec.shape[1]), -1)])
    return users, rec, rel[users]


def _same_maps(a: Ratings, b: Ratings) -> bool:
    return ((a.user_ids is b.user_ids or np.array_equal(a.user_ids, b.user_ids))
            and (a.item_ids is b.item_ids or np.array_equal(a.item_ids, b.item_ids)))


def _drop_seen(rec: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    """The first ``k`` entries of each row of ``rec`` not stored in ``seen`` (-1 padded)."""
    n_items = seen.shape[1]
    seen = seen.tocsr()
    seen.sort_indices()
    rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
    keys = rows * n_items + seen.indices
    query = np.arange(len(rec), dtype=np.int64)[:, None] * n_items + np.maximum(rec, 0)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        hit = keys[pos] == query
    else:
        hit = np.zeros(rec.shape, bool)
    keep = (rec >= 0) & ~hit
    # stable compaction: kept entries first, in order
    order = np.argsort(~keep, axis=1, kind="stable")
    out = np.take_along_axis(np.where(keep, rec, -1), order, axis=1)[:, :k]
    return out
