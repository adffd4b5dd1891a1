"""Train/test splits of a :class:`~bayesrec.data.Ratings`.

All are seeded by a ``numpy.random.Generator``.

Every split keeps the id maps of its input, so train and test indices refer to the same users
and items (a user may then have no training rows: models treat it like an unknown user).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._validation import check_bool, check_interval, check_probability
from ..rng import check_random_state
from .ratings import Ratings


def _check_fraction(test_size: float, name: str = "test_size") -> float:
    return check_probability(name, test_size)


def _mask_split(ratings: Ratings, test: np.ndarray) -> tuple[Ratings, Ratings]:
    if test.all() or not test.any():
        raise ValueError("split leaves the train or the test set empty; "
                         f"{int(test.sum())} of {len(ratings)} rows went to test")
    return ratings.take(~test), ratings.take(test)


def random_split(ratings: Ratings, test_size: float = 0.2, rng=None) -> tuple[Ratings, Ratings]:
    """Random holdout: exactly ``round(test_size * len(ratings))`` rows go to the test set.

    Parameters
    ----------
    ratings : Ratings
    test_size : float in (0, 1)
    rng : numpy.random.Generator or int or None

    Returns
    -------
    train, test : Ratings
    """
    test_size = _check_fraction(test_size)
    rng = check_random_state(rng)
    n_test = int(round(test_size * len(ratings)))
    test = np.zeros(len(ratings), bool)
    test[rng.permutation(len(ratings))[:n_test]] = True
    return _mask_split(ratings, test)


def _rank_within_user(ratings: Ratings, key: np.ndarray) -> np.ndarray:
    """0-based position of every row within its user when the user's rows are sorted by ``key``."""
    order = np.lexsort((key, ratings.users))
    starts = np.zeros(ratings.n_users + 1, np.int64)
    np.cumsum(ratings.user_counts, out=starts[1:])
    rank = np.empty(len(ratings), np.int64)
    rank[order] = np.arange(len(ratings)) - starts[ratings.users[order]]
    return rank


def _rank_from_end_in_time(ratings: Ratings) -> np.ndarray:
    """0-based position of every row from the end of its user's time order; equal timestamps
    are ordered by row position (a later row counts as later)."""
    # sort by (user, -time, -row)
    n = len(ratings)
    order = np.lexsort((-np.arange(n), -ratings.timestamps, ratings.users))
    starts = np.zeros(ratings.n_users + 1, np.int64)
    np.cumsum(ratings.user_counts, out=starts[1:])
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - starts[ratings.users[order]]
    return rank


def _holdout_by_rank(ratings: Ratings, rank_from_end: np.ndarray, test_size, n_test,
                     min_train: int) -> np.ndarray:
    counts = ratings.user_counts[ratings.users]
    if (test_size is None) == (n_test is None):
        raise ValueError("give exactly one of test_size (a fraction) or n_test (ratings per user)")
    if n_test is not None:
        n_test = check_interval("n_test", n_test, low=1, closed="both", integer=True)
        per_user = np.full_like(counts, n_test)
    else:
        per_user = np.round(_check_fraction(test_size) * counts).astype(np.int64)
    min_train = check_interval("min_train", min_train, low=0, closed="both", integer=True)
    per_user = np.minimum(per_user, np.maximum(counts - min_train, 0))
    return rank_from_end < per_user


def per_user_split(ratings: Ratings, test_size: float | None = None, n_test: int | None = None,
                   rng=None, min_train: int = 1) -> tuple[Ratings, Ratings]:
    """Hold out a fraction (``test_size``) or a number (``n_test``) of each user's ratings.

    Rows are chosen uniformly at random within each user; a user always keeps at least
    ``min_train`` training ratings (so users with few ratings contribute fewer test rows).
    """
    rng = check_random_state(rng)
    rank = _rank_within_user(ratings, rng.random(len(ratings)))
    return _mask_split(ratings, _holdout_by_rank(ratings, rank, test_size, n_test, min_train))


def time_split(ratings: Ratings, test_size: float | None = None, cutoff=None,
               per_user: bool = False, n_test: int | None = None,
               min_train: int = 1) -> tuple[Ratings, Ratings]:
    """Time-ordered split: the latest ratings form the test set.

    Parameters
    ----------
    test_size : float, optional
        Global mode: the latest ``test_size`` fraction of all rows (ties broken by row order).
    cutoff : int or datetime-like, optional
        Global mode: rows with ``timestamp >= cutoff`` are test rows.
    per_user : bool
        Per-user mode: each user's latest ``test_size`` fraction or ``n_test`` rows are test rows
        ("leave the last k out"), keeping at least ``min_train`` training rows per user; equal
        timestamps are ordered by row position, as in :func:`leave_last_k_out`.
    """
    if not ratings.has_timestamps:
        raise ValueError("time_split needs timestamps; build the Ratings with timestamp_col")
    per_user = check_bool("per_user", per_user)
    # an argument of the other mode would be ignored: refuse it rather than drop it silently
    if per_user and cutoff is not None:
        raise ValueError("cutoff is a global-mode argument; with per_user=True give test_size "
                         "or n_test")
    if not per_user and (n_test is not None or min_train != 1):
        raise ValueError("n_test and min_train are per-user arguments; pass per_user=True "
                         "(global mode takes test_size or cutoff)")
    ts = ratings.timestamps
    if per_user:
        rank = _rank_from_end_in_time(ratings)
        return _mask_split(ratings, _holdout_by_rank(ratings, rank, test_size, n_test, min_train))
    if (test_size is None) == (cutoff is None):
        raise ValueError("give exactly one of test_size or cutoff")
    if cutoff is not None:
        return _mask_split(ratings, ts >= _cutoff_seconds(cutoff))
    n_test = int(round(_check_fraction(test_size) * len(ratings)))
    order = np.argsort(ts, kind="stable")
    test = np.zeros(len(ratings), bool)
    test[order[len(ratings) - n_test:]] = True
    return _mask_split(ratings, test)


def _cutoff_seconds(cutoff):
    """Epoch seconds of a ``cutoff`` given as a number or a date-time, else ``ValueError``."""
    import pandas as pd
    if isinstance(cutoff, (bool, np.bool_)):
        raise ValueError(f"cutoff must be epoch seconds or a date-time, got {cutoff!r}")
    if isinstance(cutoff, (int, np.integer, float, np.floating)):
        if not np.isfinite(cutoff):
            raise ValueError(f"cutoff must be a finite number of epoch seconds, got {cutoff!r}")
        return cutoff
    try:
        stamp = pd.Timestamp(cutoff)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"cutoff must be epoch seconds or a date-time, got {cutoff!r} "
                         f"({err})") from None
    if stamp is pd.NaT:
        raise ValueError(f"cutoff must be epoch seconds or a date-time, got {cutoff!r}")
    return stamp.value // 10**9  # UTC epoch seconds (also for a tz-aware stamp)


def leave_last_k_out(ratings: Ratings, k: int = 1, min_train: int = 1) -> tuple[Ratings, Ratings]:
    """Next-item split: each user's ``k`` latest rows are test rows ("leave the last k out").

    Rows are ordered by timestamp within each user; equal timestamps are ordered by row
    position (a later row counts as later), so the split is deterministic.  A user keeps at
    least ``min_train`` training rows: a user with ``n <= k`` rows gives only
    ``max(n - min_train, 0)`` to the test set.  The test set then asks, per user, "what did
    they interact with next", the usual protocol for top-N recommendation from implicit
    feedback.

    Parameters
    ----------
    ratings : Ratings
        Needs timestamps.
    k : int >= 1
        Test rows per user.
    min_train : int >= 0
        Training rows every user keeps.

    Returns
    -------
    train, test : Ratings (same id maps)
    """
    if not ratings.has_timestamps:
        raise ValueError("leave_last_k_out needs timestamps; build the Ratings with "
                         "timestamp_col")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    rank = _rank_from_end_in_time(ratings)
    return _mask_split(ratings, _holdout_by_rank(ratings, rank, None, int(k), min_train))


def kfold(ratings: Ratings, n_splits: int = 5, rng=None) -> Iterator[tuple[Ratings, Ratings]]:
    """K-fold cross-validation over rows: yields ``n_splits`` (train, test) pairs.

    Every row is in exactly one test fold; fold sizes differ by at most one.
    """
    n_splits = check_interval("n_splits", n_splits, low=2, closed="both", integer=True)
    if n_splits > len(ratings):
        raise ValueError(f"n_splits={n_splits} exceeds the number of ratings ({len(ratings)})")
    rng = check_random_state(rng)
    fold = np.empty(len(ratings), np.int64)
    fold[rng.permutation(len(ratings))] = np.arange(len(ratings)) % n_splits
    for f in range(n_splits):
        yield _mask_split(ratings, fold == f)
