"""Seed arms' Beta priors from offline data, e.g. a ranker fitted on MovieLens likes.

::

    from bayesrec import movielens_small
    from bayesrec.ranking import BetaPosteriorRanker
    from bayesrec.service import priors_from_ranker

    ranker = BetaPosteriorRanker.from_ratings(movielens_small(), threshold=4.0)
    arms = priors_from_ranker(ranker, items=[318, 296, 356], strength=20)
    # -> [{"name": "318", "a": ..., "b": ...}, ...]: the "arms" of POST /experiments

The offline posterior ``Beta(a + s_i, b + f_i)`` of item ``i`` becomes the online prior of
arm ``i``.  Offline likes need not transfer one for one to online rewards, so ``strength``
optionally caps the prior's weight ``a + b`` (its effective number of observations) while
keeping its mean: ``(a, b) -> (a, b) * min(1, strength / (a + b))``.
"""

from __future__ import annotations

import numpy as np


def priors_from_ranker(ranker, items=None, strength: float | None = None) -> list[dict]:
    """``[{"name", "a", "b"}, ...]``: the fitted ranker's posterior of ``items`` as priors.

    Parameters
    ----------
    ranker : bayesrec.ranking.BetaPosteriorRanker
        Fitted (``fit`` or ``from_ratings``).
    items : sequence, optional
        Original item ids (``ranker.item_ids_``) to turn into arms; default all items.
    strength : float, optional
        Cap on ``a + b`` per arm (> 0); ``None`` keeps the full offline posterior.
    """
    alpha = np.broadcast_to(ranker.alpha_, (ranker.n_items,))
    beta = np.broadcast_to(ranker.beta_, (ranker.n_items,))
    ids = np.asarray(ranker.item_ids_)
    if items is None:
        idx = np.arange(ids.size)
    else:
        lookup = {v: j for j, v in enumerate(ids.tolist())}
        wanted = list(items)
        missing = [v for v in wanted if v not in lookup]
        if missing:
            raise ValueError(f"items not known to the ranker: {missing[:10]}")
        if len(set(wanted)) != len(wanted):
            raise ValueError("items contains duplicates (arm names must be unique)")
        idx = np.array([lookup[v] for v in wanted], dtype=np.int64)
    a, b = alpha[idx].astype(np.float64), beta[idx].astype(np.float64)
    if strength is not None:
        strength = float(strength)
        if not np.isfinite(strength) or strength <= 0:
            raise ValueError(f"strength must be finite and > 0, got {strength}")
        scale = np.minimum(1.0, strength / (a + b))
        a, b = a * scale, b * scale
    return [{"name": str(ids[j]), "a": float(a[k]), "b": float(b[k])}
            for k, j in enumerate(idx)]
