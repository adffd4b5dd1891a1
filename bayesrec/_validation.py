"""Parameter and index checks: the one place where hyperparameters and indices are validated.

Every estimator declares its hyperparameter checks in a class attribute ``_checks`` (a dict
``name -> check``); :meth:`bayesrec.base.Recommender._validated` applies them before any work
is done and returns the converted values.  A check is a callable ``check(name, value)`` that
returns the converted value or raises ``ValueError`` / ``TypeError`` naming the parameter::

    class MyModel(RatingModel):
        _checks = {"rank": Integer(low=1), "reg": Real(low=0.0), "tol": Real(low=0.0,
                   closed="left"), "method": Choice("map", "advi"),
                   "random_state": RandomState()}

The helpers :func:`check_positive`, :func:`check_probability`, :func:`check_interval` and
:func:`check_choice` do the same for per-call arguments.  :func:`known_index` is the one
"index, or -1 if unseen" mapping used by every model (an id in the maps but without training
ratings is as unknown as a new one).
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .rng import check_random_state

__all__ = ["check_positive", "check_interval", "check_probability", "check_finite",
           "check_choice", "check_bool", "check_random_state", "check_indices", "check_sparse",
           "check_path", "known_index",
           "resolve_global_mean", "Integer", "Real", "Probability", "Choice", "Boolean",
           "OptionalCheck", "RandomState", "Directory", "Anything"]


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _finite(value) -> bool:
    """Whether a real number is finite as a float (a Python int beyond float range is not;
    ``np.isfinite`` would raise ``TypeError`` on an int beyond int64)."""
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


# ---------------------------------------------------------------------- functions
def check_positive(name: str, value, integer: bool = False, allow_zero: bool = False):
    """A finite number ``> 0`` (``>= 0`` with ``allow_zero``), an integer if ``integer``.

    Returns ``int(value)`` or ``float(value)``; raises ``ValueError`` naming ``name``.
    """
    ok = _is_real(value) and _finite(value)
    if ok and integer:  # an integral value that fits an int64 (1e308 is not a count)
        ok = abs(value) < 2**63 and float(value).is_integer()
    if ok:
        ok = bool(value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "integer" if integer else "number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite {kind} {bound}, got {value!r}")
    return int(value) if integer else float(value)


def check_interval(name: str, value, low: float | None = None, high: float | None = None,
                   closed: str = "neither", integer: bool = False):
    """A finite number in the interval from ``low`` to ``high`` (``None``: unbounded).

    ``closed`` says which ends belong to it: ``"neither"``, ``"left"``, ``"right"``, ``"both"``.
    """
    ok = _is_real(value) and _finite(value)
    if ok and integer:  # an integral value that fits an int64
        ok = abs(value) < 2**63 and float(value).is_integer()
    lo_in = closed in ("left", "both")
    hi_in = closed in ("right", "both")
    if ok and low is not None:
        ok = value >= low if lo_in else value > low
    if ok and high is not None:
        ok = value <= high if hi_in else value < high
    if not ok:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        interval = f"{'[' if lo_in and low is not None else '('}{left}, {right}" \
                   f"{']' if hi_in and high is not None else ')'}"
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind} in {interval}, got {value!r}")
    return int(value) if integer else float(value)


def check_probability(name: str, value) -> float:
    """A probability strictly inside (0, 1) (interval mass, quantile level, test fraction)."""
    if not (_is_real(value) and 0 < value < 1):
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return float(value)


def check_finite(name: str, value) -> float:
    """Any finite real number."""
    if not (_is_real(value) and _finite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_choice(name: str, value, options) -> object:
    """One of ``options`` (compared with ``==``; strings are case-sensitive)."""
    options = tuple(options)
    try:
        ok = any(value is o for o in options) or (
            not isinstance(value, (bool, np.bool_)) and value in options)
    except (TypeError, ValueError):  # unhashable / array-valued comparisons
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """``True`` or ``False`` (numpy bools too; not 0/1 or strings)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def resolve_global_mean(global_mean, ratings) -> float:
    """``mu`` of a model: the training mean when ``global_mean`` is None, else that (finite)
    value."""
    if global_mean is None:
        return ratings.global_mean
    return check_finite("global_mean", global_mean)


# ---------------------------------------------------------------------- indices
def check_indices(name: str, index, n: int) -> np.ndarray:
    """Integer indices ``0 <= index < n`` as a 1-d int64 array, else ``ValueError``.

    The guard at the public boundary of every ``*_indices`` method: nothing out of range (or
    ``-1``, or a float) reaches compiled code.
    """
    arr = np.asarray(index)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a 1-d array of indices, got shape {arr.shape}")
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= n:
        bad = int(lo) if lo < 0 else int(hi)
        raise ValueError(f"{name} must lie in [0, {n}), got {bad}")
    return arr.astype(np.int64, copy=False)


def check_sparse(name: str, matrix):
    """A scipy sparse matrix as CSR whose structure is consistent: every index inside the
    shape, ``indptr`` non-decreasing and ending at ``nnz`` (scipy builds a matrix from raw
    arrays without checking them, and compiled code would read out of bounds), and real
    values.  Returns the CSR matrix (a converted copy unless ``matrix`` was CSR already).
    """
    import scipy.sparse as sp

    if not sp.issparse(matrix):
        raise TypeError(f"{name} must be a scipy sparse matrix, got {type(matrix).__name__}")
    if matrix.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {matrix.dtype}")
    try:  # before any conversion: converting a corrupt matrix reads it out of bounds too
        if matrix.format in ("csr", "csc"):
            # a view on the same arrays: check_format may reassign its arrays (index dtype),
            # which must not touch the caller's matrix
            view = type(matrix)((matrix.data, matrix.indices, matrix.indptr),
                                shape=matrix.shape, copy=False)
            view.check_format(full_check=True)
        elif hasattr(matrix, "check_format"):  # BSR
            matrix.copy().check_format(full_check=True)
        elif matrix.format == "coo" and matrix.nnz:
            for axis, idx in enumerate(matrix.coords):
                if idx.min() < 0 or idx.max() >= matrix.shape[axis]:
                    raise ValueError(f"axis {axis} index out of range for shape "
                                     f"{matrix.shape}")
    except ValueError as exc:
        raise ValueError(f"{name} is not a valid sparse matrix: {exc}") from None
    return matrix.tocsr()


def check_path(name: str, value, what: str = "a file path"):
    """A ``str`` or ``os.PathLike`` (not bytes, not a bool, not None); returned unchanged.
    ``TypeError`` otherwise: pathlib's own messages do not name the argument."""
    if isinstance(value, (bytes, bool, np.bool_)) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be {what} (str or pathlib.Path), got "
                        f"{type(value).__name__} {value!r}")
    return value


def known_index(index, counts) -> np.ndarray:
    """The "index, or -1 if unseen" mapping: ``index`` where ``index >= 0`` and its row has
    training data (``counts[index] > 0``), else ``-1``."""
    idx = np.asarray(index, dtype=np.int64)
    counts = np.asarray(counts)
    return np.where((idx >= 0) & (counts[np.maximum(idx, 0)] > 0), idx, -1)


# ---------------------------------------------------------------------- declarative checks
class _Check:
    """Base of the declarative checks (``check(name, value) -> converted value``)."""

    def __call__(self, name, value):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Integer(_Check):
    """An integer in ``[low, high]`` (``high=None``: unbounded); floats like ``3.0`` pass."""

    def __init__(self, low: int | None = 1, high: int | None = None):
        self.low = low
        self.high = high

    def __call__(self, name, value):
        return check_interval(name, value, self.low, self.high, closed="both", integer=True)


class Real(_Check):
    """A finite real number between ``low`` and ``high``; ``closed`` as in
    :func:`check_interval` (default: ``low`` excluded, i.e. strictly positive for 0)."""

    def __init__(self, low: float | None = 0.0, high: float | None = None,
                 closed: str = "neither"):
        self.low = low
        self.high = high
        self.closed = closed

    def __call__(self, name, value):
        return check_interval(name, value, self.low, self.high, closed=self.closed)


class Probability(Real):
    """A probability strictly inside (0, 1)."""

    def __init__(self):
        super().__init__(0.0, 1.0, "neither")

    def __call__(self, name, value):
        return check_probability(name, value)


class Choice(_Check):
    """One of a fixed set of values."""

    def __init__(self, *options):
        self.options = options

    def __call__(self, name, value):
        return check_choice(name, value, self.options)


class Boolean(_Check):
    """``True`` or ``False``."""

    def __call__(self, name, value):
        return check_bool(name, value)


class OptionalCheck(_Check):
    """``None`` (kept as is) or a value passing ``check``."""

    def __init__(self, check: _Check):
        self.check = check

    def __call__(self, name, value):
        return None if value is None else self.check(name, value)


class RandomState(_Check):
    """``None``, a non-negative int, a ``SeedSequence`` or a ``numpy.random.Generator``
    (validated, returned unchanged: the model draws its Generator when it fits)."""

    def __call__(self, name, value):
        if isinstance(value, np.random.Generator):
            return value
        try:
            check_random_state(value)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{name}: {err}") from None
        return value


class Directory(_Check):
    """A directory path (``str`` or ``os.PathLike``, created when first used) that is not an
    existing file; returned unchanged."""

    def __call__(self, name, value):
        check_path(name, value, "a directory path")
        if not os.fspath(value):
            raise ValueError(f"{name} must be a directory path, got an empty string")
        if os.path.exists(value) and not os.path.isdir(value):
            raise ValueError(f"{name} {os.fspath(value)!r} exists and is not a directory")
        return value


class Anything(_Check):
    """No check (the estimator validates this parameter itself)."""

    def __call__(self, name, value):
        return value
