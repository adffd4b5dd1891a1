"""Popularity recommenders for top-N lists: the baselines every personalised model must beat.

==========================  ================================================================
:class:`MostPopular`        score of item ``i`` = number of training users who interacted
                            with it (or rated it ``>= threshold``)
:class:`BetaPopularity`     Beta-Bernoulli posterior of the share of users who interact with
                            item ``i``: ranked by posterior mean, lower bound or one draw per
                            user (Thompson sampling)
==========================  ================================================================

Both are non-personalised: every user gets the same ranking (Thompson draws aside), minus the
items the user has already seen.  ``similar_items(item)`` ranks the items most often
co-interacted with ``item`` (cosine over the users who interacted: "people who watched this
also watched").

Model of :class:`BetaPopularity` (Beta-Bernoulli, as in :mod:`bayesrec.ranking`): each of the
``N`` training users independently interacts with item ``i`` with probability ``theta_i``::

    theta_i ~ Beta(a, b),   y_ui | theta_i ~ Bernoulli(theta_i),   u = 1..N
    theta_i | y ~ Beta(a + s_i, b + N - s_i),   s_i = sum_u 1[y_ui > 0]

The posterior mean ranks like the counts, shrunk toward ``a / (a + b)``; the lower credible
bound penalises items with little evidence; Thompson sampling draws one ``theta`` per item and
user, so each list explores items whose popularity is uncertain (Thompson 1933; Chapelle & Li
2011).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._validation import (
    OptionalCheck,
    Probability,
    Real,
    check_choice,
    check_positive,
    check_probability,
    known_index,
)
from .base import Recommender, top_k
from .data import Ratings
from .inference.beta import beta_draws, beta_mean, beta_quantile
from .ranking import BetaPosteriorRanker
from .rng import check_random_state

STRATEGIES = ("mean", "lower_bound", "thompson")
_THRESHOLD = OptionalCheck(Real(low=None))


def positive_pattern(ratings: Ratings, threshold: float | None) -> sp.csr_matrix:
    """``(n_users, n_items)`` 0/1 CSR of the pairs that count as interactions.

    ``threshold=None``: every stored pair with a positive interaction value (explicit ratings:
    every rated pair); a number: pairs with ``rating >= threshold``.
    """
    csr = ratings.csr
    if threshold is None:
        keep = ratings.interactions()[ratings.csr_order] > 0
    else:
        keep = csr.data >= threshold
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[keep]
    # a fresh matrix: never share (and compact) the index arrays of ratings.csr
    return sp.csr_matrix((np.ones(len(rows)), (rows, csr.indices[keep])), shape=csr.shape)


class _Popularity(Recommender):
    """Shared parts: item scores from the interaction pattern, co-occurrence similarity."""

    _test_params = None  # set on the concrete classes

    def _pattern(self, ratings: Ratings, threshold) -> sp.csr_matrix:
        return positive_pattern(ratings, threshold)

    def _fallback_scores(self) -> np.ndarray:
        return np.array(self._scores_for(1, None, {})[0])

    def similar_items(self, item, k: int = 10) -> pd.DataFrame:
        """Items most often co-interacted with ``item``: cosine similarity of the items'
        user-interaction columns, ``|N(i) & N(j)| / sqrt(|N(i)| |N(j)|)`` ("people who
        watched this also watched"), one sparse product, O(nnz).  Columns ``item``,
        ``similarity``, ``rank``; an unknown item gives an empty frame."""
        train = self._check_fitted()
        k = check_positive("k", k, integer=True)
        i = int(known_index(train.item_index([item]), train.item_counts)[0])
        if i < 0 or self.item_counts_[i] == 0:
            return pd.DataFrame({"item": train.item_ids[:0], "similarity": np.zeros(0),
                                 "rank": np.zeros(0, np.int64)})
        pattern = positive_pattern(train, _THRESHOLD("threshold", self.threshold))
        users = pattern.tocsc()[:, i].indices                        # N(i)
        co = np.asarray(pattern[users].sum(axis=0)).ravel()          # |N(i) & N(j)|
        norms = np.sqrt(self.item_counts_ * self.item_counts_[i])
        sims = np.divide(co, norms, out=np.zeros(len(co)), where=norms > 0)
        sims[i] = -np.inf
        sims[co == 0] = -np.inf
        best = top_k(sims, k)[0]
        best = best[np.isfinite(sims[best])]
        return pd.DataFrame({"item": train.item_ids[best], "similarity": sims[best],
                             "rank": np.arange(1, len(best) + 1)})


class MostPopular(_Popularity):
    """Rank items by how many training users interacted with them.

    Score of item ``i``: ``s_i = sum_u 1[y_ui > 0]`` (``threshold=None``: every rated pair
    counts; a number: only ratings ``>= threshold``, e.g. 4 for "most liked").  Ties are
    broken by item index.  The baseline of top-N evaluation (Cremonesi, Koren & Turrin 2010).

    Parameters
    ----------
    threshold : float or None
        Which training pairs count as interactions.

    Attributes
    ----------
    item_counts_ : ndarray (n_items,)
        ``s_i``.
    """

    _checks = {"threshold": _THRESHOLD}
    _test_params = {}

    def __init__(self, threshold: float | None = None):
        self.threshold = threshold

    def _fit(self, ratings: Ratings, eval_set=None) -> dict:
        pattern = self._pattern(ratings, self._validated()["threshold"])
        counts = np.asarray(pattern.sum(axis=0)).ravel()
        return {"item_counts_": counts}

    def _scores_for(self, n, rng, options):
        return np.broadcast_to(self.item_counts_.astype(np.float64), (n, len(self.item_counts_)))

    def _score_users(self, users, **options) -> np.ndarray:
        self._check_options(**options)
        return np.array(self._scores_for(len(users), None, {}))


class BetaPopularity(_Popularity):
    """Rank items by the Beta posterior of the share of users who interact with them.

    ``theta_i | y ~ Beta(a + s_i, b + N - s_i)`` (module docstring; the posterior is
    :class:`bayesrec.ranking.BetaPosteriorRanker`'s).  ``recommend(..., strategy=...)``:

    * ``"mean"``: posterior mean ``(a + s_i) / (a + b + N)``;
    * ``"lower_bound"``: the ``1 - prob`` posterior quantile (pessimistic: few interactions
      rank lower);
    * ``"thompson"``: one posterior draw of every ``theta_i`` per user and call, from
      ``random_state`` (a randomised list that explores uncertain items).

    Parameters
    ----------
    a, b : float > 0
        Beta prior.
    threshold : float or None
        Which training pairs count as interactions (``None``: every rated pair).
    prob : float in (0, 1)
        Level of ``"lower_bound"``.

    Attributes
    ----------
    alpha_, beta_ : ndarray (n_items,)
        Posterior parameters.
    item_counts_ : ndarray (n_items,)
        ``s_i``.
    n_active_users_ : int
        ``N``, the training users with at least one interaction.
    """

    _checks = {"a": Real(), "b": Real(), "threshold": _THRESHOLD, "prob": Probability()}
    _test_params = {}

    def __init__(self, a: float = 1.0, b: float = 1.0, threshold: float | None = None,
                 prob: float = 0.95):
        self.a = a
        self.b = b
        self.threshold = threshold
        self.prob = prob

    def _fit(self, ratings: Ratings, eval_set=None) -> dict:
        p = self._validated()
        pattern = self._pattern(ratings, p["threshold"])
        counts = np.asarray(pattern.sum(axis=0)).ravel()
        n_active = int((np.diff(pattern.indptr) > 0).sum())
        post = BetaPosteriorRanker(a=p["a"], b=p["b"]).fit(counts, n_active - counts,
                                                           ratings.item_ids)
        return {"alpha_": np.asarray(post.alpha_, dtype=np.float64),
                "beta_": np.asarray(post.beta_, dtype=np.float64),
                "item_counts_": counts, "n_active_users_": n_active}

    def posterior_mean(self) -> np.ndarray:
        """``E[theta_i | y]`` for every item index."""
        return beta_mean(self.alpha_, self.beta_)

    def _check_options(self, strategy: str = "mean", prob: float | None = None,
                       random_state=None) -> None:
        check_choice("strategy", strategy, STRATEGIES)
        if prob is not None:
            check_probability("prob", prob)
        check_random_state(random_state)

    def _scores_for(self, n, rng, options):
        strategy = options.get("strategy", "mean")
        if strategy == "mean":
            return np.broadcast_to(self.posterior_mean(), (n, len(self.alpha_)))
        if strategy == "lower_bound":
            prob = check_probability("prob", options.get("prob", self.prob))
            return np.broadcast_to(beta_quantile(1.0 - prob, self.alpha_, self.beta_),
                                   (n, len(self.alpha_)))
        if strategy == "thompson":
            return beta_draws(self.alpha_, self.beta_, rng, size=(n, len(self.alpha_)))
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")

    def _score_users(self, users, strategy: str = "mean", prob: float | None = None,
                     random_state=None) -> np.ndarray:
        self._check_options(strategy, prob, random_state)
        options = {"strategy": strategy}
        if prob is not None:
            options["prob"] = prob
        rng = check_random_state(random_state) if strategy == "thompson" else None
        return np.array(self._scores_for(len(users), rng, options))

    def _fallback_scores(self) -> np.ndarray:
        return self.posterior_mean()
