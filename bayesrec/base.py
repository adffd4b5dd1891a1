"""The estimator contract shared by every model (scikit-learn / Surprise style).

Two base classes:

* :class:`Recommender`: every model that ranks items for users;
* :class:`RatingModel`: a recommender that also predicts ratings ``r_ui``.

A model subclasses one of them and implements

* ``__init__(**hyperparameters)``: stores every argument under the same attribute name,
  unchanged (no validation, no work): :meth:`~Recommender.get_params`,
  :meth:`~Recommender.set_params`, :meth:`~Recommender.clone` and ``repr`` come from the base;
* ``_checks`` (class attribute): ``{name: check}`` declaring the hyperparameter checks of
  :mod:`bayesrec._validation`; :meth:`~Recommender._validated` applies them;
* ``_fit(ratings, eval_set) -> dict``: validate, compute into *locals*, and return the learned
  attributes (names end in ``_``; private ones like ``_cache_`` may start with ``_``).  The
  base's :meth:`~Recommender.fit` publishes them all at once, so a failed fit leaves the
  previous fitted state intact; it also sets ``train_`` (the training
  :class:`~bayesrec.data.Ratings`).  ``eval_set`` is ``None`` or an :class:`EvalSet` (a
  held-out set in the training index space, for monitoring only);
* ``_score_users(users, **options) -> (len(users), n_items)``: scores of every item for known
  user indices; per-call ``options`` (e.g. ``strategy="thompson"``, ``random_state=``) come
  from :meth:`~Recommender.recommend` and are never stored on ``self``;
* optionally ``_fallback_scores() -> (n_items,)``: the ranking for an unknown user (default:
  item popularity for a :class:`Recommender`, the prediction for an unknown user for a
  :class:`RatingModel`), and ``_item_embeddings() -> (n_items, d)`` for
  :meth:`~Recommender.similar_items`;
* :class:`RatingModel` adds ``_predict_indices(users, items)``: predictions at dense index
  pairs, where ``-1`` marks a user or item unknown to the training data (fall back to the
  prior / global mean, never raise).

Learned state kept in ndarrays, numbers, strings, ``Ratings``, pandas objects, ArviZ
``DataTree`` (or dicts / lists of them) is saved by :meth:`~Recommender.save` and read back by
:func:`bayesrec.load` without pickle (:mod:`bayesrec.persistence`).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import (  # noqa: F401  (re-exported for existing imports)
    check_bool,
    check_indices,
    check_positive,
    check_probability,
    known_index,
    resolve_global_mean,
)
from .data import Ratings
from .exceptions import NotFittedError
from .rng import check_random_state

__all__ = ["Recommender", "RatingModel", "EvalSet", "NotFittedError", "top_k"]


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


def map_rows(train: Ratings, other: Ratings) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``other`` as training indices ``(users, items)``; ``-1`` marks a user or
    item unknown to ``train`` or without training ratings (:func:`known_index`)."""
    if other.user_ids is train.user_ids and other.item_ids is train.item_ids:
        u, i = other.users, other.items
    else:
        u = train.user_index(other.user_ids[other.users])
        i = train.item_index(other.item_ids[other.items])
    return known_index(u, train.user_counts), known_index(i, train.item_counts)


@dataclass(frozen=True)
class EvalSet:
    """A held-out set in the training index space (monitoring only, never learning).

    Attributes
    ----------
    users, items : int64 ndarray
        Training indices; ``-1`` = unknown to the training data (or without training rows).
    ratings : float64 ndarray
    rating_scale : (low, high) or None
        The training data's scale (predictions are clipped to it before scoring).
    source : Ratings
        The held-out ratings as given.
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    rating_scale: tuple[float, float] | None
    source: Ratings

    @classmethod
    def build(cls, train: Ratings, eval_set: Ratings) -> EvalSet:
        if not isinstance(eval_set, Ratings):
            raise TypeError(f"eval_set must be a bayesrec.data.Ratings or None, got "
                            f"{type(eval_set).__name__}")
        if len(eval_set) == 0:
            raise ValueError("eval_set is empty; pass eval_set=None to fit without one")
        u, i = map_rows(train, eval_set)
        return cls(u, i, np.asarray(eval_set.ratings, np.float64), train.rating_scale,
                   eval_set)

    def __len__(self) -> int:
        return len(self.ratings)

    def clip(self, pred: np.ndarray) -> np.ndarray:
        return pred if self.rating_scale is None else np.clip(pred, *self.rating_scale)

    def rmse(self, pred: np.ndarray) -> float:
        """RMSE of predictions at ``(users, items)`` (clipped to the training scale)."""
        err = self.ratings - self.clip(np.asarray(pred, np.float64))
        return float(np.sqrt(np.mean(err ** 2)))


class Recommender:
    """Base class of every model that ranks items (see the module docstring)."""

    #: declared hyperparameter checks ``{name: check}`` (:mod:`bayesrec._validation`)
    _checks: dict = {}
    #: tiny, fast settings for the shared contract test suite (``tests/test_contract.py``);
    #: ``None`` skips the class there (abstract or tested elsewhere)
    _test_params: dict | None = {}
    #: mark the model ``slow`` in the contract suite (PyMC / PyTensor compilation)
    _test_slow: bool = False

    # ------------------------------------------------------------------ to implement
    def _fit(self, ratings: Ratings, eval_set: EvalSet | None) -> dict:
        raise NotImplementedError  # pragma: no cover - interface

    def _score_users(self, users: np.ndarray, **options) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - interface

    def _fallback_scores(self) -> np.ndarray:
        """Ranking scores for a user unknown to the training data: item popularity, the
        number of training rows of each item (of implicit data, the rows with a count > 0: a
        stored zero is no interaction)."""
        train = self.train_
        if train.implicit:
            seen = train.ratings > 0
            if not seen.all():
                return np.bincount(train.items[seen], minlength=train.n_items).astype(np.float64)
        return np.asarray(train.item_counts, np.float64)

    def _item_embeddings(self) -> np.ndarray | None:
        """``(n_items, d)`` item vectors for :meth:`similar_items` (``None``: not available)."""
        return None

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = list(inspect.signature(init).parameters.values())[1:]
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its hyperparameters "
                                f"explicitly (no *args / **kwargs)")
        return [p.name for p in params]

    def get_params(self, deep: bool = False) -> dict:
        """The hyperparameters, as given to the constructor (``deep`` is accepted for
        scikit-learn compatibility; no parameter is itself an estimator)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set hyperparameters (takes effect at the next ``fit``); returns ``self``."""
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; valid "
                                 f"parameters: {valid}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def clone(self):
        """A new, unfitted model with (deep copies of) the same hyperparameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def _validated(self) -> dict:
        """Every hyperparameter, converted by the checks declared in ``_checks``."""
        out = {}
        for name, value in self.get_params().items():
            check = self._checks.get(name)
            out[name] = value if check is None else check(name, value)
        return out

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__).parameters
        parts = []
        for name, value in self.get_params().items():
            default = sig[name].default
            try:
                same = default is not inspect.Parameter.empty and (
                    value is default or (type(value) is type(default) and
                                         bool(np.all(value == default))))
            except (TypeError, ValueError):
                same = False
            if not same:
                text = repr(value)
                if len(text) > 60:
                    text = f"<{type(value).__name__}>"
                parts.append(f"{name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ------------------------------------------------------------------ fitting
    def fit(self, ratings: Ratings, eval_set: Ratings | None = None):
        """Fit to a :class:`~bayesrec.data.Ratings`; returns ``self``.

        ``eval_set`` (optional) is a held-out ``Ratings`` used only for monitoring (test
        curves in ``history_``, posterior predictions of held-out cells), never for learning.
        The fit is transactional: if it raises, the model keeps its previous fitted state (or
        stays unfitted).
        """
        if not isinstance(ratings, Ratings):
            raise TypeError("fit expects a bayesrec.data.Ratings (build one with "
                            f"Ratings.from_frame), got {type(ratings).__name__}")
        if len(ratings) == 0:
            raise ValueError("cannot fit on empty ratings")
        ev = None if eval_set is None else EvalSet.build(ratings, eval_set)
        self._validated()  # refuse bad hyperparameters before any work
        learned = self._fit(ratings, ev)
        if not isinstance(learned, dict):
            raise TypeError(f"{type(self).__name__}._fit must return a dict of learned "
                            f"attributes, got {type(learned).__name__}")
        bad = [k for k in learned if not k.endswith("_") or k in self._param_names()]
        if bad:
            raise TypeError(f"learned attribute names must end in '_': {bad}")
        params = set(self._param_names())
        for name in [n for n in vars(self) if n not in params]:
            delattr(self, name)  # no stale state from an earlier fit (caches included)
        vars(self).update(learned)
        self.train_ = ratings
        return self

    def _learned_names(self) -> list[str]:
        """Names of the learned attributes (every attribute ending in ``_``)."""
        params = set(self._param_names())
        return [n for n in vars(self) if n.endswith("_") and n not in params
                and not n.startswith("__")]

    @property
    def is_fitted(self) -> bool:
        return "train_" in vars(self)

    def _check_fitted(self) -> Ratings:
        train = vars(self).get("train_")
        if train is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(ratings) "
                                 f"first")
        return train

    # ------------------------------------------------------------------ ranking
    def recommend_indices(self, users, k: int = 10, exclude_seen: bool = True,
                          block: int = 256, **options) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores for many user indices, in blocks of users.

        ``users`` must be integer indices in ``[0, n_users)`` (``ValueError`` otherwise); a
        user without training ratings gets the fallback ranking.  ``options`` go to the
        model's scorer (e.g. ``strategy=``); a ``random_state`` option (an int seed) becomes
        one ``numpy.random.Generator`` drawn from block after block, so users in different
        blocks get independent draws (Thompson sampling).  Returns ``(items, scores)`` of shape
        ``(len(users), min(k, n_items))``; slots beyond the items left to recommend hold
        item ``-1`` and score ``-inf``.
        """
        train = self._check_fitted()
        users = check_indices("users", users, train.n_users)
        k = min(check_positive("k", k, integer=True), train.n_items)
        exclude_seen = check_bool("exclude_seen", exclude_seen)
        block = check_positive("block", block, integer=True)
        self._check_option_names(options)
        if "random_state" in options:
            # one Generator for every block: an int seed handed to each block would restart
            # the stream, and every block would reuse the same posterior draws
            options["random_state"] = check_random_state(options["random_state"])
        out_items = np.empty((len(users), k), np.int64)
        out_scores = np.empty((len(users), k))
        csr = train.csr
        counts = train.user_counts
        fallback = None
        for s in range(0, len(users), block):
            ub = users[s:s + block]
            cold = counts[ub] == 0
            scores = np.empty((len(ub), train.n_items))
            if (~cold).any():
                scores[~cold] = self._score_users(ub[~cold], **options)
            if cold.any():
                if fallback is None:
                    fallback = np.asarray(self._fallback_scores(), np.float64)
                scores[cold] = fallback
            if exclude_seen:
                sub = csr[ub]
                rows = np.repeat(np.arange(len(ub)), np.diff(sub.indptr))
                scores[rows, sub.indices] = -np.inf
            best = top_k(scores, k)
            got = np.take_along_axis(scores, best, axis=1)
            out_items[s:s + block] = np.where(np.isneginf(got), -1, best)
            out_scores[s:s + block] = got
        return out_items, out_scores

    def recommend(self, user, k: int = 10, exclude_seen: bool = True,
                  **options) -> pd.DataFrame:
        """The ``k`` best items for one user (original id) as a DataFrame.

        Columns: ``item`` (original id), ``score``, ``rank`` (1 = best).  An unknown user (or
        one without training ratings) gets the model's fallback ranking (its prior / item
        popularity), not an error.  ``options`` are the model's per-call ranking options.
        """
        train = self._check_fitted()
        k = check_positive("k", k, integer=True)
        exclude_seen = check_bool("exclude_seen", exclude_seen)
        if np.ndim(user):
            raise ValueError(f"recommend takes one user id, got {user!r}; use "
                             f"recommend_indices for many users")
        self._check_option_names(options)
        u = int(train.user_index([user])[0])
        if u >= 0 and train.user_counts[u] > 0:
            items, scores = self.recommend_indices(np.array([u]), k, exclude_seen, **options)
            items, scores = items[0], scores[0]
        else:
            self._check_options(**options)
            scores_all = np.asarray(self._fallback_scores(), np.float64)
            items = top_k(scores_all, k)[0]
            scores = scores_all[items]
        keep = np.isfinite(scores) & (items >= 0)
        return pd.DataFrame({"item": train.item_ids[items[keep]], "score": scores[keep],
                             "rank": np.arange(1, keep.sum() + 1)})

    def _check_option_names(self, options: dict) -> None:
        """``TypeError`` naming the model's per-call options when ``options`` holds another
        (the options a model takes are the arguments of its ``_check_options``)."""
        if not options:
            return
        params = inspect.signature(self._check_options).parameters.values()
        known = [p.name for p in params if p.kind is not p.VAR_KEYWORD]
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ", ".join(known) if known else "no options"
            raise TypeError(f"{type(self).__name__}.recommend got unexpected option(s) "
                            f"{unknown}; it takes: {takes}")

    def _check_options(self, **options) -> None:
        """Validate per-call ranking options (default: the model takes none)."""
        if options:
            raise TypeError(f"{type(self).__name__}.recommend got unexpected option(s) "
                            f"{sorted(options)}")

    def similar_items(self, item, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to ``item`` (original id): cosine similarity of the
        model's item embeddings.  Columns ``item``, ``similarity``, ``rank``; an unknown item
        gives an empty frame."""
        train = self._check_fitted()
        k = check_positive("k", k, integer=True)
        emb = self._item_embeddings()
        if emb is None:
            raise TypeError(f"{type(self).__name__} has no item embeddings; similar_items "
                            f"needs a model that defines _item_embeddings")
        i = int(known_index(train.item_index([item]), train.item_counts)[0])
        if i < 0:
            return pd.DataFrame({"item": train.item_ids[:0], "similarity": np.zeros(0),
                                 "rank": np.zeros(0, np.int64)})
        emb = np.asarray(emb, np.float64)
        norms = np.linalg.norm(emb, axis=1)
        sims = np.divide(emb @ emb[i], norms * norms[i], out=np.zeros(len(emb)),
                         where=norms * norms[i] > 0)
        sims[i] = -np.inf
        sims[train.item_counts == 0] = -np.inf
        best = top_k(sims, k)[0]
        best = best[np.isfinite(sims[best])]
        return pd.DataFrame({"item": train.item_ids[best], "similarity": sims[best],
                             "rank": np.arange(1, len(best) + 1)})

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the model (hyperparameters and learned state) to ``path``: one zip file in
        the documented format of :mod:`bayesrec.persistence`, read back by
        :func:`bayesrec.load` without pickle."""
        from .persistence import save
        save(self, path)


class RatingModel(Recommender):
    """Base class of rating-prediction models: adds ``predict`` and ``predict_ratings``."""

    #: clip predictions to the training data's ``rating_scale`` when it is declared
    clip: bool = True

    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - interface

    def _score_users(self, users: np.ndarray, **options) -> np.ndarray:
        """Scores of every item for the given (known) user indices: the predictions on the
        grid (override for speed)."""
        self._check_options(**options)
        n_items = self.train_.n_items
        u = np.repeat(users, n_items)
        i = np.tile(np.arange(n_items), len(users))
        return self._predict_indices(u, i).reshape(len(users), n_items)

    def _fallback_scores(self) -> np.ndarray:
        """The predicted rating of every item for an unknown user (prior / item level)."""
        n = self.train_.n_items
        return np.asarray(self._predict_indices(np.full(n, -1), np.arange(n)), np.float64)

    def _indices(self, users, items) -> tuple[np.ndarray, np.ndarray]:
        """Original ids -> training indices, ``-1`` for unknown ids (or no training rows)."""
        train = self._check_fitted()
        for name, ids in (("users", users), ("items", items)):
            if np.ndim(ids) > 1:
                raise ValueError(f"{name} must be one id or a 1-d sequence of ids, got shape "
                                 f"{np.shape(ids)}")
        u = np.atleast_1d(train.user_index(np.asarray(users) if np.ndim(users) else [users]))
        i = np.atleast_1d(train.item_index(np.asarray(items) if np.ndim(items) else [items]))
        if u.shape != i.shape:
            raise ValueError(f"users and items must have the same length, got {len(u)} and "
                             f"{len(i)}")
        return known_index(u, train.user_counts), known_index(i, train.item_counts)

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
        """Predictions for every row of a ``Ratings`` (equal to ``predict`` at its ids; a fast
        path when it shares the training id maps)."""
        train = self._check_fitted()
        if not isinstance(ratings, Ratings):
            raise TypeError(f"predict_ratings expects a Ratings, got {type(ratings).__name__}")
        u, i = map_rows(train, ratings)
        return self._clip(np.asarray(self._predict_indices(u, i), dtype=np.float64))
