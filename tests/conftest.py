"""Shared fixtures, and the discovery of every estimator for the contract suite.

:func:`all_estimators` imports every module of ``bayesrec`` (``pkgutil``) and walks the
subclasses of :class:`bayesrec.base.Recommender`, so a model added later is checked by
``tests/test_contract.py`` without registering it anywhere.  The hook for a model:

* ``_test_params`` (class attribute): constructor arguments that make a fit on the tiny
  contract data fast (e.g. ``{"rank": 2, "n_iter": 2}``); ``None`` excludes the class (an
  abstract base, or a model whose contract is tested elsewhere);
* ``_test_slow = True``: the model compiles a PyMC / PyTensor graph; its contract tests are
  marked ``slow`` (they still run in CI; ``-m "not slow"`` skips them locally).

A module that cannot be imported because an optional extra is missing (e.g. the service's web
framework) is skipped; any other import error fails the suite.
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import bayesrec
from bayesrec.base import Recommender
from bayesrec.data import Ratings, synthetic_ratings


def _import_all() -> None:
    for info in pkgutil.walk_packages(bayesrec.__path__, "bayesrec."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] == "bayesrec":
                raise
            # an optional dependency (an extra) is not installed: that module is skipped


def all_estimators() -> list[type[Recommender]]:
    """Every concrete, public estimator class of ``bayesrec``, sorted by name."""
    _import_all()
    seen, stack = set(), [Recommender]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    out = [c for c in seen if c.__module__.split(".")[0] == "bayesrec"
           and not c.__name__.startswith("_") and c._test_params is not None
           and _implements(c)]
    return sorted(out, key=lambda c: (c.__module__, c.__name__))


def _implements(cls) -> bool:
    """Concrete: defines ``_fit`` and a scorer (``_predict_indices`` for a RatingModel)."""
    from bayesrec.base import RatingModel
    if cls._fit is Recommender._fit:
        return False
    if issubclass(cls, RatingModel):
        return cls._predict_indices is not RatingModel._predict_indices
    return cls._score_users is not Recommender._score_users


def estimator_params() -> list:
    """``pytest.param`` per estimator class (marked ``slow`` when it asks for it)."""
    return [pytest.param(c, id=c.__name__, marks=[pytest.mark.slow] if c._test_slow else [])
            for c in all_estimators()]


def _with_ids(r: Ratings, user_prefix: str, item_offset: int) -> Ratings:
    """The same ratings with other original ids (strings for users, shifted ints for items)."""
    return Ratings(r.users, r.items, r.ratings, np.array([f"{user_prefix}{k}" for k in
                                                          range(r.n_users)]),
                   np.asarray(r.item_ids) + item_offset, rating_scale=r.rating_scale)


@pytest.fixture(scope="session")
def contract_data() -> Ratings:
    """Tiny explicit ratings: 30 users x 24 items, 320 ratings on a 1-5 half-star scale."""
    r, _ = synthetic_ratings(30, 24, 320, rank=2, rng=0, rating_scale=(1, 5), step=0.5,
                             with_timestamps=False)
    return _with_ids(r, "u", 100)


@pytest.fixture(scope="session")
def contract_data_other() -> Ratings:
    """Other tiny ratings with different shapes and ids (22 users x 17 items, 160 ratings)."""
    r, _ = synthetic_ratings(22, 17, 160, rank=2, rng=1, rating_scale=(1, 5), step=0.5,
                             with_timestamps=False)
    return _with_ids(r, "w", 500)
