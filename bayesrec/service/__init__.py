"""Online Thompson sampling as a service: an HTTP API over durable Beta posteriors.

Optional extra: ``pip install "bayesrec[serve]"``.  Start it with::

    bayesrec serve --db sqlite:///bandit.db --workers 4 --port 8000

- :mod:`~bayesrec.service.storage`: :class:`Store` (SQLite file or PostgreSQL), the schema's
  migrations, idempotent and atomic reward batches;
- :mod:`~bayesrec.service.app`: the Starlette application (:func:`create_app`);
- :mod:`~bayesrec.service.posterior`: posterior rows (mean, 90% interval, P(best)) and
  :func:`posterior_tree` (the same posterior as an ArviZ ``DataTree``);
- :mod:`~bayesrec.service.priors`: :func:`priors_from_ranker` (priors from offline data);
- :mod:`~bayesrec.service.cli`: the ``bayesrec`` command.

The Bayesian parts are the library's own: the Thompson choice is
:func:`bayesrec.bandits.thompson_select`, the update's increments
:func:`bayesrec.inference.beta.bernoulli_counts`, the summaries ``beta_mean``,
``beta_interval`` and ``prob_best`` of :mod:`bayesrec.inference.beta`.  The service adds
storage and HTTP only.  Importing this package needs no web framework; :func:`create_app` does.
"""

from .errors import (
    BadRequest,
    EventConflict,
    ExperimentExists,
    ServiceError,
    UnknownArm,
    UnknownExperiment,
)
from .posterior import posterior_tree, summarize
from .priors import priors_from_ranker
from .storage import ArmsState, RewardResult, Store, open_store


def create_app(store, random_state=None):
    """The ASGI application (see :func:`bayesrec.service.app.create_app`)."""
    from .app import create_app as _create_app
    return _create_app(store, random_state=random_state)


__all__ = ["Store", "open_store", "ArmsState", "RewardResult", "create_app", "summarize",
           "posterior_tree", "priors_from_ranker", "ServiceError", "BadRequest",
           "UnknownExperiment", "UnknownArm", "ExperimentExists", "EventConflict"]
