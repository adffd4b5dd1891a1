"""The :class:`Ratings` container: the one place where ids, validation and sparse views live.

Every model in bayesrec consumes a :class:`Ratings`, never a raw DataFrame.  A ``Ratings`` holds

* ``users``, ``items``: dense ``int32`` indices in ``[0, n_users)`` / ``[0, n_items)``;
* ``ratings``: ``float64`` values;
* ``timestamps``: optional ``int64`` (epoch seconds);
* ``user_ids``, ``item_ids``: the original ids, ``user_ids[users[r]]`` is the user of row ``r``;
* ``csr`` (rows = users) and ``csc`` (columns = items) views, built once on first use;
* ``implicit``: ``True`` for interaction data (clicks, plays, purchases) whose values are
  counts ``y_ui >= 0`` rather than ratings on a scale.

Implicit feedback.  A frame without a rating column (or ``rating_col=None``) gives one
interaction per row, all values ``1``; ``implicit=True`` reads a count column (plays, clicks).
:meth:`Ratings.to_implicit` turns explicit ratings into interactions (every rated pair, or only
ratings ``>= threshold``) and keeps the id maps, so one split serves explicit and implicit
models.  Every implicit model reads :meth:`Ratings.interactions`: the counts of implicit data,
and ``1`` per rated pair of explicit data ("who rated what").

Instances are immutable: the arrays are read-only and every operation returns a new object.
Selections (:meth:`Ratings.take`, the splits) keep the id maps, so the indices of a train and a
test set refer to the same users and items; :meth:`Ratings.compact` drops ids no row uses.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._validation import _is_real, check_positive
from .sorting import sorted_unique, stable_argsort

DUPLICATE_POLICIES = ("error", "last", "mean")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


#: epoch seconds representable as datetime64[ns] (pandas' Timestamp range, 1677-2262)
_MAX_EPOCH_SECONDS = np.iinfo(np.int64).max // 10**9


def _check_1d(values, name: str) -> None:
    """Refuse a scalar, a string or a 2-d array where a column of values is expected."""
    if isinstance(values, (str, bytes)) or not (hasattr(values, "__len__")
                                                and hasattr(values, "__getitem__")):
        raise TypeError(f"{name} must be an array with one value per rating, got "
                        f"{type(values).__name__}")
    ndim = getattr(values, "ndim", 1)
    if ndim != 1:
        raise ValueError(f"{name} must be a 1-d array, got shape {np.shape(values)}")


def _not_real(x) -> bool:
    """Whether one value of an object array is a bool, a complex number or a date/time."""
    return isinstance(x, (bool, np.bool_, complex, np.complexfloating, np.datetime64,
                          np.timedelta64, pd.Timestamp, pd.Timedelta))


def _as_numeric(values, name: str) -> np.ndarray:
    """Convert ratings to float64, naming the first non-numeric, NaN or infinite row.

    Only real numbers (or strings of them) are accepted: booleans, complex numbers and
    dates/durations are refused rather than silently cast.
    """
    # a list is checked element by element: np.asarray([True, 2.0]) would hide the bool
    arr = np.array(values, dtype=object) if isinstance(values, (list, tuple)) else \
        np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}s must be a 1-d array, got shape {arr.shape}")
    if arr.dtype.kind in "bcmM":
        kind = {"b": "booleans", "c": "complex numbers", "m": "durations",
                "M": "date-times"}[arr.dtype.kind]
        raise ValueError(f"{name}s must be real numbers, got {kind} (dtype {arr.dtype})")
    if arr.dtype.kind == "O":
        bad = np.fromiter((_not_real(x) for x in arr), bool, arr.size)
        if bad.any():
            r = _first_bad_row(bad)
            raise ValueError(f"{name}s must be real numbers, got {arr[r]!r} "
                             f"({type(arr[r]).__name__}) at row {r}")
        if isinstance(values, (list, tuple)):
            try:
                arr = np.asarray(values)  # plain numbers: the fast path below
            except ValueError:  # ragged nested lists
                raise ValueError(f"{name}s must be a 1-d array of numbers") from None
    if arr.dtype.kind in "iuf":
        out = arr.astype(np.float64, copy=False)
        if np.isfinite(out).all():  # the common case: one pass, no pandas
            return out
    else:
        s = pd.Series(values, copy=False)
        numeric = pd.to_numeric(s, errors="coerce")
        bad = numeric.isna().to_numpy() & ~s.isna().to_numpy()
        if bad.any():
            r = _first_bad_row(bad)
            raise ValueError(f"non-numeric {name} at row {r}: {s.iloc[r]!r}")
        out = numeric.to_numpy(dtype=np.float64)
    if np.isnan(out).any():
        r = _first_bad_row(np.isnan(out))
        raise ValueError(f"NaN {name} at row {r}")
    if np.isinf(out).any():
        r = _first_bad_row(np.isinf(out))
        raise ValueError(f"infinite {name} at row {r}: {out[r]}")
    return out


def _check_ids(values, name: str) -> np.ndarray:
    arr = pd.Series(values, copy=False)
    missing = arr.isna().to_numpy()
    if missing.any():
        raise ValueError(f"missing (NaN/None) {name} id at row {_first_bad_row(missing)}")
    return arr.to_numpy()


def _factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense int32 codes and sorted distinct ids (like ``pd.factorize(ids, sort=True)``).

    Integer ids with a compact range (MovieLens's) use a presence table: two O(n) gathers
    instead of hashing, about 5x faster at 20M rows.
    """
    if ids.dtype.kind in "iu" and len(ids):
        lo, hi = int(ids.min()), int(ids.max())
        if hi - lo <= 4 * len(ids) + 1_000_000:
            present = np.zeros(hi - lo + 1, bool)
            present[ids - lo] = True
            code_of = np.cumsum(present, dtype=np.int64) - 1
            return code_of[ids - lo].astype(np.int32), np.flatnonzero(present) + lo
    codes, uniques = pd.factorize(ids, sort=True)
    return codes.astype(np.int32), np.asarray(uniques)


def _as_timestamps(values) -> np.ndarray:
    """Epoch seconds as int64 from numbers, datetimes or date-time strings."""
    s = pd.Series(values, copy=False)
    if s.isna().any():
        raise ValueError(f"missing timestamp at row {_first_bad_row(s.isna().to_numpy())}")
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_complex_dtype(s):
        raise ValueError(f"timestamps must be epoch seconds or date-times, got dtype {s.dtype}")
    if pd.api.types.is_numeric_dtype(s):
        secs = s.to_numpy()
        # inf or 1e300 would cast to INT64_MIN; keep every value a valid datetime64[ns]
        bad = ~np.isfinite(secs) if secs.dtype.kind == "f" else np.zeros(len(secs), bool)
        with np.errstate(invalid="ignore"):
            bad |= np.abs(secs.astype(np.float64)) > _MAX_EPOCH_SECONDS
        if bad.any():
            r = _first_bad_row(bad)
            raise ValueError(f"timestamp {secs[r]} at row {r} is not a finite number of "
                             f"epoch seconds within +-{_MAX_EPOCH_SECONDS} (years 1677-2262)")
        return secs.astype(np.int64)
    if s.dtype == object:
        # numbers among date-time strings would be read as nanoseconds: refuse the mix
        number = s.map(lambda x: isinstance(x, (int, float, np.number))
                       and not isinstance(x, (bool, np.bool_))).to_numpy(bool)
        if number.any() and not number.all():
            r = _first_bad_row(number)
            raise ValueError(f"timestamps mix numbers and date-times: {s.iloc[r]!r} at row "
                             f"{r}; pass epoch seconds or date-times, not both")
        if number.all():
            return _as_timestamps(pd.to_numeric(s).to_numpy())
    try:
        dt = pd.to_datetime(s)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"timestamps are neither numbers nor date-times: {exc}") from None
    if dt.dt.tz is not None:
        dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
    secs = dt.to_numpy().astype("datetime64[s]").astype(np.int64)
    bad = np.abs(secs) > _MAX_EPOCH_SECONDS
    if bad.any():
        r = _first_bad_row(bad)
        raise ValueError(f"timestamp {s.iloc[r]!r} at row {r} is outside the datetime64[ns] "
                         "range (years 1677-2262)")
    return secs


class Ratings:
    """An immutable set of (user, item, rating[, timestamp]) rows with dense indices.

    Build one with :meth:`from_frame` or :meth:`from_arrays`; do not call the constructor with
    unchecked data.

    Parameters
    ----------
    users, items : ndarray of int32
        Dense indices into ``user_ids`` / ``item_ids``.
    ratings : ndarray of float64
    user_ids, item_ids : ndarray
        Original ids; ``user_ids[k]`` is the id of user index ``k``.
    timestamps : ndarray of int64, optional
        Epoch seconds.
    rating_scale : (float, float), optional
        The declared ``(low, high)`` scale; models clip predictions to it.
    implicit : bool
        Interaction data: ``ratings`` holds counts ``>= 0`` (see :meth:`interactions`).
    """

    __slots__ = ("users", "items", "ratings", "timestamps", "user_ids", "item_ids",
                 "rating_scale", "implicit", "__dict__")

    def __init__(self, users, items, ratings, user_ids, item_ids, timestamps=None,
                 rating_scale=None, implicit: bool = False):
        self.users = _readonly(np.asarray(users, dtype=np.int32))
        self.items = _readonly(np.asarray(items, dtype=np.int32))
        self.ratings = _readonly(np.asarray(ratings, dtype=np.float64))
        self.timestamps = None if timestamps is None else _readonly(
            np.asarray(timestamps, dtype=np.int64))
        self.user_ids = _readonly(np.asarray(user_ids))
        self.item_ids = _readonly(np.asarray(item_ids))
        self.rating_scale = None if rating_scale is None else (
            float(rating_scale[0]), float(rating_scale[1]))
        self.implicit = bool(implicit)
        self._check_consistent()

    def _check_consistent(self) -> None:
        """The invariants compiled code relies on: parallel 1-d arrays of one length and indices
        inside the id maps (an index past them would be read out of bounds, a crash, not an
        error).  O(n) reductions; the value checks of :meth:`from_arrays` are not repeated."""
        n = len(self.ratings)
        for name in ("users", "items", "ratings", "timestamps"):
            a = getattr(self, name)
            if a is not None and (a.ndim != 1 or len(a) != n):
                raise ValueError(f"Ratings: {name} must be 1-d with one entry per rating "
                                 f"({n}), got shape {a.shape}")
        for name, idx, ids in (("users", self.users, self.user_ids),
                               ("items", self.items, self.item_ids)):
            if n and (idx.min() < 0 or idx.max() >= len(ids)):
                bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
                raise ValueError(f"Ratings: {name} index {bad} is outside its id map "
                                 f"[0, {len(ids)})")
        if n and not np.isfinite(self.ratings).all():
            r = _first_bad_row(~np.isfinite(self.ratings))
            raise ValueError(f"Ratings: non-finite rating {self.ratings[r]} at row {r}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_frame(cls, df: pd.DataFrame, user_col: str = "userId", item_col: str = "movieId",
                   rating_col: str = "rating", timestamp_col: str | None = None,
                   rating_scale: tuple[float, float] | None = None,
                   duplicates: str = "error", implicit: bool | None = None) -> Ratings:
        """Build from a DataFrame with one row per rating (or per interaction).

        Parameters
        ----------
        df : pandas.DataFrame
        user_col, item_col : str
            Column names; ids may be integers or strings.
        rating_col : str or None
            The rating (or count) column.  ``None`` reads implicit feedback: one interaction
            per row, value 1; so does the default ``"rating"`` when the frame has no column
            besides the user, item (and timestamp) columns.
        implicit : bool, optional
            ``True`` reads ``rating_col`` as interaction counts (plays, clicks): numbers
            ``>= 0``.  Default: ``False``, except for a frame without a rating column.
        timestamp_col : str, optional
            Epoch seconds, datetimes or date-time strings (stored as epoch seconds).
        rating_scale : (low, high), optional
            If given, a rating outside it raises ``ValueError``.
        duplicates : {"error", "last", "mean"}
            What to do with repeated (user, item) pairs: raise (default), keep the last row in
            input order, or average the ratings (keeping the latest timestamp).  For implicit
            data ``"sum"`` adds the counts of repeated pairs (repeated plays).

        Raises
        ------
        ValueError
            Missing columns, empty input, missing ids, NaN/non-numeric/out-of-scale ratings,
            negative counts, duplicate pairs under ``duplicates="error"``; the message names
            the row.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}")
        _distinct_columns(user_col=user_col, item_col=item_col, rating_col=rating_col,
                          timestamp_col=timestamp_col)
        others = set(df.columns) - {user_col, item_col, timestamp_col}
        if rating_col == "rating" and rating_col not in df.columns and not others \
                and not implicit:
            rating_col = None  # a frame of bare (user, item[, time]) rows: implicit feedback
        wanted = [user_col, item_col] + ([rating_col] if rating_col is not None else []) \
            + ([timestamp_col] if timestamp_col else [])
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            hint = ("; for implicit feedback (no ratings) pass rating_col=None"
                    if missing == [rating_col] else "")
            raise ValueError(f"missing column(s) {missing}; the frame has {list(df.columns)}"
                             + hint)
        return cls.from_arrays(df[user_col].to_numpy(), df[item_col].to_numpy(),
                               None if rating_col is None else df[rating_col].to_numpy(),
                               None if timestamp_col is None else df[timestamp_col].to_numpy(),
                               rating_scale=rating_scale, duplicates=duplicates,
                               implicit=implicit)

    @classmethod
    def from_arrays(cls, users: Sequence[Hashable], items: Sequence[Hashable],
                    ratings: Sequence[float] | None = None, timestamps=None,
                    rating_scale: tuple[float, float] | None = None,
                    duplicates: str = "error", implicit: bool | None = None) -> Ratings:
        """Build from parallel arrays of original user ids, item ids and ratings.

        ``ratings=None`` gives implicit feedback with value 1 per pair; ``implicit=True``
        reads ``ratings`` as counts (``>= 0``).  See :meth:`from_frame` for the parameters and
        the errors raised.
        """
        if implicit is not None and not isinstance(implicit, (bool, np.bool_)):
            raise TypeError(f"implicit must be True, False or None, got {implicit!r}")
        for name, v in (("users", users), ("items", items), ("ratings", ratings),
                        ("timestamps", timestamps)):
            if v is not None:
                _check_1d(v, name)
        if ratings is None:
            if implicit is False:
                raise ValueError("explicit data (implicit=False) needs ratings")
            implicit = True
            ratings = np.ones(len(users))
        implicit = bool(implicit)
        policies = DUPLICATE_POLICIES + (("sum",) if implicit else ())
        if duplicates not in policies:
            raise ValueError(f"duplicates must be one of {policies}, got {duplicates!r}")
        n = len(ratings)
        if len(users) != n or len(items) != n or (timestamps is not None and len(timestamps) != n):
            raise ValueError("users, items, ratings (and timestamps) must have the same length; "
                             f"got {len(users)}, {len(items)}, {n}"
                             + ("" if timestamps is None else f", {len(timestamps)}"))
        if n == 0:
            raise ValueError("empty input: no ratings")
        users = _check_ids(users, "user")
        items = _check_ids(items, "item")
        values = _as_numeric(ratings, "count" if implicit else "rating")
        if implicit and (values < 0).any():
            r = _first_bad_row(values < 0)
            raise ValueError(f"negative count {values[r]} at row {r} (user {users[r]!r}, item "
                             f"{items[r]!r}): implicit feedback counts must be >= 0")
        ts = None if timestamps is None else _as_timestamps(timestamps)
        if rating_scale is not None:
            lo, hi = _check_scale(rating_scale)
            bad = (values < lo) | (values > hi)
            if bad.any():
                r = _first_bad_row(bad)
                raise ValueError(f"rating {values[r]} at row {r} (user {users[r]!r}, item "
                                 f"{items[r]!r}) is outside the rating scale [{lo}, {hi}]")
        try:
            u_codes, u_ids = _factorize(users)
            i_codes, i_ids = _factorize(items)
        except TypeError as exc:  # a list or dict among the ids
            raise TypeError(f"user and item ids must be hashable (numbers or strings): "
                            f"{exc}") from None
        key = u_codes.astype(np.int64) * len(i_ids) + i_codes
        order, sk = stable_argsort(key, len(u_ids) * len(i_ids))
        del key
        dup = sk[1:] == sk[:-1]
        if dup.any():
            if duplicates == "error":
                k = _first_bad_row(dup)
                first, again = sorted((int(order[k]), int(order[k + 1])))
                raise ValueError(
                    f"duplicate (user, item) pair at row {again} (user "
                    f"{np.asarray(users[again]).tolist()!r}, item "
                    f"{np.asarray(items[again]).tolist()!r}) repeats row {first}; pass "
                    "duplicates='last' or 'mean'")
            u_codes, i_codes, values, ts = _resolve_duplicates(
                order, sk, u_codes, i_codes, values, ts, duplicates)
        out = cls(u_codes, i_codes, values, u_ids, i_ids, ts,
                  rating_scale, implicit)
        if not dup.any():
            out.__dict__["_csr_order"] = _readonly(order)
        return out

    # ------------------------------------------------------------------ basic facts
    def __len__(self) -> int:
        return len(self.ratings)

    def __repr__(self) -> str:
        what = "interactions" if self.implicit else "ratings"
        return (f"Ratings({len(self)} {what}, {self.n_users} users, {self.n_items} items, "
                f"density {self.density:.4%}{', timestamps' if self.has_timestamps else ''})")

    @property
    def n_users(self) -> int:
        """Number of users in the id map (some may have no rows after a selection)."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of items in the id map (some may have no rows after a selection)."""
        return len(self.item_ids)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    @property
    def has_timestamps(self) -> bool:
        return self.timestamps is not None

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    @cached_property
    def global_mean(self) -> float:
        return float(self.ratings.mean()) if len(self) else float("nan")

    @cached_property
    def user_counts(self) -> np.ndarray:
        """Ratings per user index, shape ``(n_users,)``."""
        return _readonly(np.bincount(self.users, minlength=self.n_users))

    @cached_property
    def item_counts(self) -> np.ndarray:
        """Ratings per item index, shape ``(n_items,)``."""
        return _readonly(np.bincount(self.items, minlength=self.n_items))

    def user_sums(self) -> np.ndarray:
        return np.bincount(self.users, weights=self.ratings, minlength=self.n_users)

    def item_sums(self) -> np.ndarray:
        return np.bincount(self.items, weights=self.ratings, minlength=self.n_items)

    # ------------------------------------------------------------------ sparse views
    @cached_property
    def _csr_order(self) -> np.ndarray:
        key = self.users.astype(np.int64) * self.n_items + self.items
        return _readonly(stable_argsort(key, self.n_users * self.n_items)[0])

    def _compressed(self, fmt, order: np.ndarray, minor: np.ndarray, counts: np.ndarray):
        """CSR/CSC from a row permutation sorted by (major, minor) and the major counts."""
        index_dtype = np.int32 if len(self) < 2**31 else np.int64  # int32 avoids a copy
        indptr = np.zeros(len(counts) + 1, dtype=index_dtype)
        np.cumsum(counts, out=indptr[1:])
        m = fmt((self.ratings[order], minor[order].astype(index_dtype), indptr),
                shape=self.shape)
        m.has_sorted_indices = True
        return m

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Ratings by user: ``(n_users, n_items)`` CSR, column indices sorted within rows.

        Explicit zero ratings are kept as stored entries, so the sparsity pattern is exactly
        the set of observed pairs.  The matrix is built once and must not be modified.
        """
        return self._compressed(sp.csr_matrix, self._csr_order, self.items, self.user_counts)

    @cached_property
    def csc(self) -> sp.csc_matrix:
        """Ratings by item: ``(n_users, n_items)`` CSC, row indices sorted within columns."""
        # a stable sort by item of the (user, item)-sorted rows is the (item, user) order
        by_user = self._csr_order
        order = by_user[stable_argsort(self.items[by_user], self.n_items)[0]]
        return self._compressed(sp.csc_matrix, order, self.users, self.item_counts)

    @property
    def csr_order(self) -> np.ndarray:
        """Row permutation that sorts the ratings by (user, item).

        ``csr.data == ratings[csr_order]``.
        """
        return self._csr_order

    # ------------------------------------------------------------------ ids
    @cached_property
    def _user_lookup(self) -> pd.Index:
        return pd.Index(self.user_ids)

    @cached_property
    def _item_lookup(self) -> pd.Index:
        return pd.Index(self.item_ids)

    def user_index(self, ids) -> np.ndarray:
        """Dense indices of original user ids; unknown ids give -1."""
        return _lookup(self._user_lookup, ids)

    def item_index(self, ids) -> np.ndarray:
        """Dense indices of original item ids; unknown ids give -1."""
        return _lookup(self._item_lookup, ids)

    def to_frame(self, user_col: str = "userId", item_col: str = "movieId",
                 rating_col: str = "rating", timestamp_col: str = "timestamp") -> pd.DataFrame:
        """The rows as a DataFrame with the original ids."""
        _distinct_columns(user_col=user_col, item_col=item_col, rating_col=rating_col,
                          timestamp_col=timestamp_col if self.has_timestamps else None)
        cols = {user_col: self.user_ids[self.users], item_col: self.item_ids[self.items],
                rating_col: np.array(self.ratings)}
        if self.has_timestamps:
            cols[timestamp_col] = np.array(self.timestamps)
        return pd.DataFrame(cols)

    # ------------------------------------------------------------------ selection
    def take(self, selection) -> Ratings:
        """Rows selected by a boolean mask or an integer index array; the id maps are kept."""
        sel = np.asarray(selection)
        if sel.dtype == bool:
            if sel.shape != (len(self),):
                raise ValueError(f"boolean mask has shape {sel.shape}, expected ({len(self)},)")
        elif sel.size and not np.issubdtype(sel.dtype, np.integer):
            raise ValueError(f"take expects a boolean mask or integer indices, got {sel.dtype}")
        else:
            sel = sel.astype(np.int64)
            if sel.size and (sel.min() < -len(self) or sel.max() >= len(self)):
                raise ValueError(f"row index out of range for {len(self)} ratings")
            sel = np.where(sel < 0, sel + len(self), sel)  # -1 and n - 1 are the same row
            if sorted_unique(sel).size != sel.size:
                raise ValueError("take: repeated row indices would duplicate (user, item) pairs")
        return Ratings(self.users[sel], self.items[sel], self.ratings[sel], self.user_ids,
                       self.item_ids, None if self.timestamps is None else self.timestamps[sel],
                       self.rating_scale, self.implicit)

    def compact(self) -> Ratings:
        """Drop users and items without rows and re-index densely (order of ids preserved)."""
        keep_u = self.user_counts > 0
        keep_i = self.item_counts > 0
        new_u = np.cumsum(keep_u) - 1
        new_i = np.cumsum(keep_i) - 1
        return Ratings(new_u[self.users], new_i[self.items], self.ratings,
                       self.user_ids[keep_u], self.item_ids[keep_i], self.timestamps,
                       self.rating_scale, self.implicit)

    def most_active(self, n_users: int, n_items: int) -> Ratings:
        """Keep the ``n_users`` most active users and ``n_items`` most rated items.

        The course's shrink step: users and items are ranked by their counts in the full data
        (ties broken by index), rows outside both sets are dropped, and the result is
        re-indexed densely.
        """
        n_users = check_positive("n_users", n_users, integer=True)
        n_items = check_positive("n_items", n_items, integer=True)
        top_u = np.argsort(-self.user_counts, kind="stable")[:n_users]
        top_i = np.argsort(-self.item_counts, kind="stable")[:n_items]
        ku = np.zeros(self.n_users, bool)
        ku[top_u] = True
        ki = np.zeros(self.n_items, bool)
        ki[top_i] = True
        return self.take(ku[self.users] & ki[self.items]).compact()

    # ------------------------------------------------------------------ implicit feedback
    def to_implicit(self, threshold: float | None = None) -> Ratings:
        """Interactions derived from these rows, with the SAME id maps (indices agree).

        ``threshold=None`` keeps every rated pair ("who rated what"); a number keeps only the
        rows with ``rating >= threshold`` (e.g. 4 on MovieLens: "who liked what").  Values
        become ``1``; timestamps are kept.  On implicit data, ``threshold`` filters counts,
        and ``None`` keeps the rows with a count ``> 0`` (a stored zero is no interaction).
        """
        if threshold is None:
            keep = None
            if self.implicit and (self.ratings <= 0).any():
                keep = self.ratings > 0
                if not keep.any():
                    raise ValueError("every count is 0: no interactions left")
        else:
            if isinstance(threshold, bool) or not isinstance(
                    threshold, (int, float, np.integer, np.floating)) or not np.isfinite(
                    threshold):
                raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")
            keep = self.ratings >= threshold
            if not keep.any():
                raise ValueError(f"no rating is >= threshold {threshold}: no interactions left")
        src = self if keep is None else self.take(keep)
        out = Ratings(src.users, src.items, np.ones(len(src)), self.user_ids, self.item_ids,
                      src.timestamps, None, implicit=True)
        if keep is None and "_csr_order" in self.__dict__:
            out.__dict__["_csr_order"] = self._csr_order   # same rows, same order
        return out

    def interactions(self) -> np.ndarray:
        """Interaction values ``y_ui`` of the rows, read by every implicit model.

        Implicit data: the stored counts.  Explicit data: ``1`` per rated pair, whatever the
        rating (the pattern of who rated what carries the signal; see :meth:`to_implicit` to
        keep only high ratings).
        """
        if self.implicit:
            return self.ratings
        return _readonly(np.ones(len(self)))

    # splits are defined in bayesrec.data.splits; the method is a shortcut
    def split(self, test_size: float = 0.2, rng=None) -> tuple[Ratings, Ratings]:
        """Random holdout split; see :func:`bayesrec.data.splits.random_split`."""
        from .splits import random_split
        return random_split(self, test_size=test_size, rng=rng)


def _distinct_columns(**columns) -> None:
    """One column per role: the same name for two roles would read one column twice (or, when
    writing, keep only the last)."""
    seen = {}
    for role, name in columns.items():
        if name is None:
            continue
        if name in seen:
            raise ValueError(f"{role} and {seen[name]} name the same column {name!r}")
        seen[name] = role


def _check_scale(scale) -> tuple[float, float]:
    # exactly two real numbers: a string "15" or a triple (0, 5, 10) is no scale
    ok = (not isinstance(scale, (str, bytes)) and hasattr(scale, "__len__")
          and len(scale) == 2 and all(
              _is_real(v) for v in scale))
    if not ok:
        raise ValueError(f"rating_scale must be a (low, high) pair of numbers, got {scale!r}")
    lo, hi = float(scale[0]), float(scale[1])
    if not lo < hi:
        raise ValueError(f"rating_scale needs low < high, got {scale!r}")
    return lo, hi


def _lookup(index: pd.Index, ids) -> np.ndarray:
    scalar = np.ndim(ids) == 0 and not isinstance(ids, (list, tuple))
    arr = [ids] if scalar else ids
    out = index.get_indexer(pd.Index(arr) if not isinstance(arr, pd.Index) else arr)
    out = out.astype(np.int64)
    return out[0] if scalar else out


def _resolve_duplicates(order, sorted_key, users, items, values, ts, policy):
    """Collapse repeated (user, item) pairs: ``last`` in input order, ``mean`` or ``sum``."""
    starts = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    group = np.cumsum(starts) - 1
    ends = np.r_[np.flatnonzero(starts)[1:] - 1, len(order) - 1]
    last_rows = order[ends]  # stable sort: the last of each group is the last in input order
    if policy == "last":
        keep = np.sort(last_rows)
        return users[keep], items[keep], values[keep], None if ts is None else ts[keep]
    sums = np.bincount(group, weights=values[order])
    counts = np.bincount(group)
    mean_by_group = sums if policy == "sum" else sums / counts
    if not np.isfinite(mean_by_group).all():  # finite values whose sum overflows float64
        g = int(np.flatnonzero(~np.isfinite(mean_by_group))[0])
        r = int(last_rows[g])
        raise ValueError(f"the {policy} of the ratings of the repeated pair at row {r} "
                         f"overflows float64: rescale the ratings")
    # place each group at the position of its last row, keeping input order
    pos = np.argsort(last_rows, kind="stable")
    keep = last_rows[pos]
    new_ts = None
    if ts is not None:
        latest = np.full(len(counts), np.iinfo(np.int64).min)
        np.maximum.at(latest, group, ts[order])
        new_ts = latest[pos]
    return users[keep], items[keep], mean_by_group[pos], new_ts
