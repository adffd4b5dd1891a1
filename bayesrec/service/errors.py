"""Errors of the bandit service; each carries the HTTP status the API answers with.

They subclass ``ValueError`` (bad input) or ``LookupError`` (unknown names) so that Python
callers of :class:`~bayesrec.service.storage.Store` can catch them like any library error.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: ``status`` is the HTTP status code, ``str(err)`` names the problem."""

    status = 400


class BadRequest(ServiceError, ValueError):
    """Malformed or invalid input (422 unless said otherwise)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


class UnknownExperiment(ServiceError, LookupError):
    status = 404


class UnknownArm(ServiceError, LookupError):
    status = 422


class ExperimentExists(ServiceError, ValueError):
    status = 409


class EventConflict(ServiceError, ValueError):
    """An event id already recorded with another arm or reward."""

    status = 409
