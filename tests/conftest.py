"""Shared fixtures: the tiny rating sets of the contract suite (``tests/test_contract.py``).

The discovery of the estimators and the per-model hook (``_test_params``, ``_test_slow``) are
documented in ``tests/contract_registry.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesrec.data import Ratings, synthetic_ratings


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
