"""Cross-validation folds from the splitters of :mod:`bayesrec.data.splits`.

``Folds(kind, n_splits)``:

* ``"random"``: k-fold over rows (:func:`bayesrec.data.splits.kfold`): each rating is in
  exactly one test fold.
* ``"per_user"``: each user's ratings are dealt round-robin (in a random order, from a random
  starting fold) over the ``n_splits`` folds, so every user with at least ``n_splits`` ratings
  has test ratings in every fold and keeps ``(n_splits - 1) / n_splits`` of them for training.
* ``"time"``: rolling origin (forward chaining): the rows sorted by timestamp are cut into
  ``n_splits + 1`` consecutive blocks; fold ``f`` trains on blocks ``0..f`` and tests on block
  ``f + 1``, so a model never sees the future of its test ratings.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..data import Ratings
from ..data.splits import _mask_split, kfold
from ..rng import check_random_state

KINDS = ("random", "per_user", "time")


class Folds:
    """A cross-validation scheme: ``kind`` in ``("random", "per_user", "time")``."""

    def __init__(self, kind: str = "random", n_splits: int = 5):
        if kind not in KINDS:
            raise ValueError(f"unknown fold kind {kind!r}; use one of {KINDS}")
        if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool) \
                or n_splits < 2:
            raise ValueError(f"cv (the number of folds) must be an integer >= 2, got "
                             f"{n_splits!r}")
        self.kind = kind
        self.n_splits = int(n_splits)

    def __repr__(self) -> str:
        return f"Folds({self.kind!r}, n_splits={self.n_splits})"

    def split(self, ratings: Ratings, random_state=None) -> list[tuple[Ratings, Ratings]]:
        """The ``(train, test)`` pairs; the id maps of ``ratings`` are kept."""
        k = self.n_splits
        if self.kind == "random":
            return list(kfold(ratings, k, random_state))
        if self.kind == "per_user":
            n_users = int((ratings.user_counts > 0).sum())
            if k > n_users:
                raise ValueError(f"cv={k} folds exceed the number of users ({n_users}) for a "
                                 "per-user split")
            rng = check_random_state(random_state)
            order = np.lexsort((rng.random(len(ratings)), ratings.users))
            starts = np.concatenate([[0], np.cumsum(ratings.user_counts)])
            rank = np.empty(len(ratings), np.int64)
            rank[order] = np.arange(len(ratings)) - starts[ratings.users[order]]
            offset = rng.integers(k, size=ratings.n_users)
            fold = (rank + offset[ratings.users]) % k
            return [_mask_split(ratings, fold == f) for f in range(k)]
        if not ratings.has_timestamps:
            raise ValueError("cv='time' needs timestamps; build the Ratings with timestamp_col")
        if k + 1 > len(ratings):
            raise ValueError(f"cv={k} time folds need at least {k + 1} ratings, got "
                             f"{len(ratings)}")
        order = np.argsort(ratings.timestamps, kind="stable")
        block = np.empty(len(ratings), np.int64)
        block[order] = np.arange(len(ratings)) * (k + 1) // len(ratings)
        out = []
        for f in range(k):
            keep = block <= f + 1
            sub = ratings.take(np.flatnonzero(keep))
            out.append(_mask_split(sub, block[keep] == f + 1))
        return out


def resolve_folds(cv, ratings: Ratings, random_state=None) -> list[tuple[Ratings, Ratings]]:
    """``cv``: an int (random k-fold), a kind name (5 folds), a :class:`Folds`, or an iterable
    of ``(train, test)`` pairs of :class:`~bayesrec.data.Ratings`."""
    if isinstance(cv, Folds):
        return cv.split(ratings, random_state)
    if isinstance(cv, str):
        return Folds(cv).split(ratings, random_state)
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return Folds("random", cv).split(ratings, random_state)
    try:
        pairs = list(cv)
    except TypeError:
        raise ValueError(f"cv must be an int, one of {KINDS}, a Folds or an iterable of "
                         f"(train, test) pairs, got {cv!r}") from None
    if not pairs:
        raise ValueError("cv is an empty iterable: no folds")
    for n, pair in enumerate(pairs):
        if not (isinstance(pair, tuple) and len(pair) == 2
                and all(isinstance(x, Ratings) for x in pair)):
            raise ValueError(f"cv entry {n} is not a (train, test) pair of Ratings")
    return pairs
