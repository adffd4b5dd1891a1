"""``get_params`` / ``set_params`` / ``clone`` of any estimator (the scikit-learn contract).

Models built on :mod:`bayesrec.base` provide ``get_params``, ``set_params`` and ``clone``; for
any other object following the same convention (every ``__init__`` argument stored under its
own name) they are read from the constructor's signature.
"""

from __future__ import annotations

import copy
import inspect


def get_params(model) -> dict:
    """The constructor arguments of ``model`` as a dict."""
    if hasattr(model, "get_params"):
        return dict(model.get_params())
    sig = inspect.signature(type(model).__init__)
    names = [p.name for p in sig.parameters.values()
             if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return {n: getattr(model, n) for n in names if hasattr(model, n)}


def check_param_names(model, names) -> None:
    """``ValueError`` naming every parameter ``model`` does not have."""
    known = get_params(model)
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"{type(model).__name__} has no parameter {', '.join(map(repr, bad))}; "
                         f"its parameters are {sorted(known)}")


def clone(model, **params):
    """A new, unfitted model with the same constructor arguments, updated by ``params``."""
    check_param_names(model, params)
    if callable(getattr(model, "clone", None)) and callable(getattr(model, "set_params", None)):
        new = model.clone()
        return new.set_params(**params) if params else new
    args = {k: copy.deepcopy(v) for k, v in get_params(model).items()}
    args.update(params)
    return type(model)(**args)
