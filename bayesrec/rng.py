"""Randomness: every random number in bayesrec comes from an explicit ``numpy.random.Generator``."""

from __future__ import annotations

import numpy as np


def check_random_state(random_state=None) -> np.random.Generator:
    """Turn ``None``, an int seed, a ``SeedSequence`` or a ``Generator`` into a ``Generator``.

    ``None`` gives fresh OS entropy (not reproducible); pass an int for reproducible results.
    A ``Generator`` is returned as is (so the caller's stream advances).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, (bool, np.bool_)):  # True would silently be seed 1
        raise TypeError(f"random_state must be None, an int or a numpy Generator, got "
                        f"{random_state!r}")
    if random_state is None or isinstance(random_state, (int, np.integer, np.random.SeedSequence)):
        if isinstance(random_state, (int, np.integer)) and random_state < 0:
            raise ValueError(f"random seed must be non-negative, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        raise TypeError("legacy numpy RandomState is not accepted; pass "
                        "numpy.random.default_rng(seed) or an int seed")
    raise TypeError(f"random_state must be None, an int or a numpy Generator, "
                    f"got {type(random_state).__name__}")


def spawn(random_state, n: int) -> list[np.random.Generator]:
    """``n`` statistically independent generators derived from one seed or generator.

    Same seed, same streams: used to give each MCMC chain (or worker) its own stream.
    """
    return check_random_state(random_state).spawn(n)
