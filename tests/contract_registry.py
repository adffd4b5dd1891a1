"""Discovery of every estimator for the contract suite (``tests/test_contract.py``).

:func:`all_estimators` imports every module of ``bayesrec`` (``pkgutil``) and walks the
subclasses of :class:`bayesrec.base.Recommender`, so a model added later is checked without
registering it anywhere.  The hook for a model:

* ``_test_params`` (class attribute): constructor arguments that make a fit on the tiny
  contract data fast (e.g. ``{"rank": 2, "n_iter": 2}``); ``None`` excludes the class (an
  abstract base, or a model whose contract is tested elsewhere);
* ``_test_slow = True``: the model compiles a PyMC / PyTensor graph; its contract tests are
  marked ``slow`` (they still run in CI; ``-m "not slow"`` skips them locally).

A class counts as concrete when it defines ``_fit`` and a scorer (``_predict_indices`` for a
:class:`~bayesrec.base.RatingModel`, ``_score_users`` otherwise).  A module that cannot be
imported because an optional extra is missing is skipped; any other import error fails.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bayesrec
from bayesrec.base import Recommender


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
