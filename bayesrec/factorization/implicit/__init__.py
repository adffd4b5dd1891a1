"""Top-N models for implicit feedback (who interacted with what, or how often).

Names are imported lazily so that importing one model does not import (or compile) the
others.
"""

from importlib import import_module

_MODELS = {
    # name: module (relative to this package)
    "HPF": "hpf",
    "ImplicitBPMF": "wmf",
    "ImplicitALS": "wmf",
}

__all__ = list(_MODELS)


def __getattr__(name):
    if name in _MODELS:
        return getattr(import_module(f".{_MODELS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
