"""Every exception type bayesrec raises beyond the built-in ``ValueError`` / ``TypeError``.

Bad input (wrong columns, NaN, duplicates, nonsense hyperparameters, out-of-range indices)
raises the built-in ``ValueError`` or ``TypeError`` with a message naming the problem; the
types here mark the library's own failure modes.
"""

from __future__ import annotations

__all__ = ["NotFittedError", "ConvergenceError", "PersistenceError", "CheckpointError"]


class NotFittedError(RuntimeError, AttributeError):
    """A model was used before ``fit``.

    Subclasses both ``RuntimeError`` and ``AttributeError`` (as scikit-learn's does), so code
    written as ``hasattr(model, "user_factors_")`` or ``except AttributeError`` keeps working.
    """


class ConvergenceError(RuntimeError):
    """An iterative fit diverged (non-finite loss or parameters); the message names the
    setting to change (usually a step size)."""


class PersistenceError(ValueError):
    """A saved model cannot be read: not a bayesrec file, truncated, or written by a newer
    format version.  The message names the file."""


class CheckpointError(ValueError):
    """An MCMC checkpoint file is unreadable (truncated, corrupt, not a bayesrec checkpoint) or
    belongs to a different run (other data, settings, seed or version).  The message names the
    file and the differing fields."""
