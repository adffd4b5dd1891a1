"""Matrix-factorization models: deterministic baselines and Bayesian samplers.

Each model lives in its own module; names are imported lazily so that importing one model
does not import (or compile) the others.
"""

from importlib import import_module

_MODELS = {
    # name: module (relative to this package)
    "ALS": "als",
    "FunkSVD": "sgd",
    "SVDpp": "sgd",
    "TruncatedSVD": "svd",
    "PMF": "pmf",
    "BPMF": "bpmf",
    "BayesianSVDpp": "svdpp_bayes",
    "NeuralRecommender": "neural",
    "HPF": "implicit",
    "ImplicitBPMF": "implicit",
    "ImplicitALS": "implicit",
}

__all__ = list(_MODELS)


def __getattr__(name):
    if name in _MODELS:
        return getattr(import_module(f".{_MODELS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
