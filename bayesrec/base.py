"""The estimator contract shared by every rating model (scikit-learn / Surprise style).

A model subclasses :class:`RatingModel` and implements

* ``_fit(ratings)``: learn from a :class:`~bayesrec.data.Ratings` (already validated);
* ``_predict_indices(users, items)``: predictions at dense index pairs, where an index of
  ``-1`` marks a user or item unknown to the training data (fall back to the prior / global
  mean, never raise);
* optionally ``_score_users(users)``: a ``(len(users), n_items)`` score block used by
  :meth:`recommend` and :meth:`recommend_all` (defaults to ``_predict_indices`` on the grid).

The base class handles id mapping, input checks, clipping to the rating scale and top-k
recommendation with the already-seen items excluded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import Ratings


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit``."""


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest scores per row, best first (``-inf`` never wins ties).

    Uses ``argpartition`` (O(n_items)) and sorts only the ``k`` winners.
    """
    scores = np.atleast_2d(scores)
    k = min(int(k), scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-best, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def check_positive(name: str, value, integer: bool = False, allow_zero: bool = False):
    """Validate a hyperparameter; raise ``ValueError`` naming it."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok and integer:  # an integral value that fits an int64 (1e308 is not a count)
        ok = bool(np.isfinite(value)) and float(value).is_integer() and abs(value) < 2**63
    if ok:
        ok = value >= 0 if allow_zero else value > 0
        ok = ok and np.isfinite(value)
    if not ok:
        kind = "integer" if integer else "number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite {kind} {bound}, got {value!r}")
    return int(value) if integer else float(value)


def check_probability(name: str, value) -> float:
    """Validate a probability strictly inside (0, 1) (interval mass, quantile level)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (ok and 0 < value < 1):
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return float(value)


def check_indices(name: str, values, n: int) -> np.ndarray:
    """Validate an array of dense indices before it reaches compiled code: int64, 1-D, in range.

    ``values`` must hold integers (an integer dtype, or an empty list) in ``[0, n)``: negative
    indices are refused rather than counted from the end, floats and booleans are refused
    rather than truncated.  Raises ``TypeError`` (dtype) or ``ValueError`` (shape, range)
    naming ``name``.
    """
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of indices, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} index {bad} is out of range [0, {n})")
    return arr.astype(np.int64, copy=False)


def resolve_global_mean(global_mean, ratings: Ratings) -> float:
    """``mu`` of a model: the training mean when ``global_mean`` is None, else that (finite) value."""
    if global_mean is None:
        return ratings.global_mean
    mu = float(global_mean)
    if not np.isfinite(mu):
        raise ValueError(f"global_mean must be finite, got {global_mean!r}")
    return mu


class RatingModel:
    """Base class of rating-prediction models: ``fit``, ``predict``, ``recommend``."""

    clip: bool = True

    # -- to implement ------------------------------------------------------------------
    def _fit(self, ratings: Ratings) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - interface

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for the given (known) user indices, shape (len(users), n_items)."""
        n_items = self.train_.n_items
        u = np.repeat(users, n_items)
        i = np.tile(np.arange(n_items), len(users))
        return self._predict_indices(u, i).reshape(len(users), n_items)

    # -- public API --------------------------------------------------------------------
    def fit(self, ratings: Ratings):
        """Fit the model to a :class:`~bayesrec.data.Ratings`; returns ``self``."""
        if not isinstance(ratings, Ratings):
            raise TypeError("fit expects a bayesrec.data.Ratings (build one with "
                            f"Ratings.from_frame), got {type(ratings).__name__}")
        if len(ratings) == 0:
            raise ValueError("cannot fit on empty ratings")
        self.train_ = ratings
        self._fit(ratings)
        return self

    def _check_fitted(self) -> Ratings:
        if not hasattr(self, "train_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(ratings) first")
        return self.train_

    def _indices(self, users, items) -> tuple[np.ndarray, np.ndarray]:
        train = self._check_fitted()
        u = np.atleast_1d(train.user_index(np.asarray(users) if np.ndim(users) else [users]))
        i = np.atleast_1d(train.item_index(np.asarray(items) if np.ndim(items) else [items]))
        if u.shape != i.shape:
            raise ValueError(f"users and items must have the same length, got {len(u)} and "
                             f"{len(i)}")
        # a user/item in the id map but without training rows is as unknown as a new one
        u = np.where((u >= 0) & (train.user_counts[np.maximum(u, 0)] > 0), u, -1)
        i = np.where((i >= 0) & (train.item_counts[np.maximum(i, 0)] > 0), i, -1)
        return u, i

    def _clip(self, pred: np.ndarray) -> np.ndarray:
        scale = self.train_.rating_scale
        if self.clip and scale is not None:
            return np.clip(pred, *scale)
        return pred

    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for pairs of original user and item ids.

        Unknown users or items (or ones without training ratings) get the model's fallback
        (its prior / the global mean), never an error.  Predictions are clipped to the
        training data's ``rating_scale`` when it is declared.
        """
        u, i = self._indices(users, items)
        return self._clip(np.asarray(self._predict_indices(u, i), dtype=np.float64))

    def predict_ratings(self, ratings: Ratings) -> np.ndarray:
        """Predictions for every row of a Ratings that shares the training id maps (fast path)."""
        train = self._check_fitted()
        if ratings.user_ids is train.user_ids and ratings.item_ids is train.item_ids:
            u = np.where(train.user_counts[ratings.users] > 0, ratings.users, -1)
            i = np.where(train.item_counts[ratings.items] > 0, ratings.items, -1)
            return self._clip(np.asarray(self._predict_indices(u, i), dtype=np.float64))
        return self.predict(ratings.user_ids[ratings.users], ratings.item_ids[ratings.items])

    def recommend_indices(self, users: np.ndarray, k: int = 10, exclude_seen: bool = True,
                          block: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores for many user indices, in blocks of users.

        Returns ``(items, scores)`` of shape ``(len(users), k)``.
        """
        train = self._check_fitted()
        users = check_indices("users", users, train.n_users)
        k = min(check_positive("k", k, integer=True), train.n_items)
        block = check_positive("block", block, integer=True)
        out_items = np.empty((len(users), k), np.int64)
        out_scores = np.empty((len(users), k))
        csr = train.csr
        for s in range(0, len(users), block):
            ub = users[s:s + block]
            scores = np.array(self._score_users(ub), dtype=np.float64)
            if exclude_seen:
                sub = csr[ub]
                rows = np.repeat(np.arange(len(ub)), np.diff(sub.indptr))
                scores[rows, sub.indices] = -np.inf
            best = top_k(scores, k)
            out_items[s:s + block] = best
            out_scores[s:s + block] = np.take_along_axis(scores, best, axis=1)
        return out_items, out_scores

    def recommend(self, user, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The ``k`` best items for one user (original id) as a DataFrame.

        Columns: ``item`` (original id), ``score``, ``rank`` (1 = best).  An unknown user gets
        the model's fallback ranking (its prior / item popularity), not an error.
        """
        train = self._check_fitted()
        k = check_positive("k", k, integer=True)
        u = int(train.user_index(user))
        if u >= 0 and train.user_counts[u] > 0:
            items, scores = self.recommend_indices(np.array([u]), k, exclude_seen)
            items, scores = items[0], scores[0]
        else:
            scores_all = self._predict_indices(np.full(train.n_items, -1),
                                               np.arange(train.n_items))
            items = top_k(scores_all, k)[0]
            scores = scores_all[items]
        keep = np.isfinite(scores)
        return pd.DataFrame({"item": train.item_ids[items[keep]], "score": scores[keep],
                             "rank": np.arange(1, keep.sum() + 1)})
