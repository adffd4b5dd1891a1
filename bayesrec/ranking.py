"""Non-personalized ranking: vote scores, confidence bounds and Beta posteriors.

Every function is vectorized over numpy arrays (and array-likes), broadcasts its arguments, and
returns a ``float`` when all inputs are scalars.  Bad input (NaN, negative counts, more positive
votes than votes) raises ``ValueError``.

=============================  ============================================================
:func:`hacker_news_score`      ``(votes - 1)^0.8 / (age_hours + 2)^gravity * penalty``
:func:`reddit_hot`             ``sign(s) log10(max(|s|, 1)) + (created - 1134028003) / 45000``
:func:`wilson_lower_bound`     lower end of the Wilson score interval of a proportion
:func:`wilson_upper_bound`     its upper end
:func:`smoothed_average`       ``(sum + lambda mu0) / (N + lambda)``, a Normal posterior mean
:class:`BetaPosteriorRanker`   Beta-Bernoulli posterior per item: mean, lower bound, one draw
:func:`item_statistics`        per-item counts, sums, likes, dislikes of a ``Ratings``
=============================  ============================================================

References: E. B. Wilson (1927), "Probable inference, the law of succession, and statistical
inference", JASA 22; E. Miller (2009), "How not to sort by average rating"; A. Salihefendic
(2010), "How Hacker News ranking algorithm works"; the reddit source (``_sorts.pyx``, 2010).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from ._validation import check_finite, check_indices, check_positive
from .data import Ratings
from .exceptions import NotFittedError
from .inference.beta import (
    bernoulli_counts,
    beta_draws,
    beta_mean,
    beta_quantile,
    check_beta_parameters,
    check_counts,
    check_credible,
)
from .rng import check_random_state

REDDIT_EPOCH = 1134028003  # 2005-12-08 07:46:43 UTC, the reddit launch second used by the formula
REDDIT_SCALE = 45000.0     # seconds per factor of 10 in votes (12.5 hours)


def _out(x):
    """Scalars in, float out; arrays stay arrays."""
    return float(x) if np.ndim(x) == 0 else x


def _array(x, name: str, nonnegative: bool = False) -> np.ndarray:
    """``x`` as a float64 array; ``ValueError`` on NaN or infinity (and on negatives if
    ``nonnegative``), naming the first bad entry.

    Numbers (or booleans, read as 0/1) only: strings and dates are refused rather than cast.
    Two reduction passes check everything: ``min`` propagates NaN, ``max`` catches ``+inf``.
    Integer input cannot hold NaN or infinity.
    """
    raw = x if isinstance(x, np.ndarray) else np.asarray(x)
    if raw.dtype.kind not in "iufb":
        raise ValueError(f"{name} must be numeric, got dtype {raw.dtype}")
    arr = raw.astype(np.float64, copy=False)
    if arr.size and (nonnegative or raw.dtype.kind == "f"):
        low = arr.min()
        if np.isnan(low):
            bad = int(np.flatnonzero(np.isnan(arr.ravel()))[0])
            raise ValueError(f"{name} contains NaN (first at flat index {bad})")
        if raw.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(arr.max())):
            bad = int(np.flatnonzero(np.isinf(arr.ravel()))[0])
            raise ValueError(f"{name} must be finite, got {arr.ravel()[bad]} at flat index "
                             f"{bad}")
        if nonnegative and low < 0:
            raise ValueError(f"{name} must be >= 0, got {low} at flat index "
                             f"{int(np.argmin(arr.ravel()))}")
    return arr


def _nonnegative(x, name: str) -> np.ndarray:
    return _array(x, name, nonnegative=True)


# ---------------------------------------------------------------------------- vote scores
def hacker_news_score(votes, age_hours, gravity: float = 1.8, penalty=1.0):
    """Hacker News ranking score ``(votes - 1)^0.8 / (age_hours + 2)^gravity * penalty``.

    ``votes`` counts the submitter's own vote, so a fresh story has ``votes = 1`` and score 0;
    the ``- 1`` removes that vote.  **votes < 1** (net-downvoted or flagged stories, which the
    formula's fractional power leaves undefined) is defined as ``votes = 1``: the score is 0,
    tied with every story nobody else voted for, and never NaN.  Scores of stories with
    ``votes > 1`` are positive and decay with age as ``(age + 2)^-gravity``.

    Parameters
    ----------
    votes : array_like
        Points (upvotes, including the submitter's).
    age_hours : array_like
        Hours since submission, >= 0.
    gravity : float
        Age decay exponent (1.8 on Hacker News), >= 0.
    penalty : array_like
        Multiplicative moderation penalty in [0, inf), 1 for none.
    """
    votes = _array(votes, "votes")
    age = _nonnegative(age_hours, "age_hours")
    penalty = _nonnegative(penalty, "penalty")
    gravity = check_positive("gravity", gravity, allow_zero=True)
    points = np.maximum(votes - 1.0, 0.0)  # votes < 1 -> 0 (see docstring)
    score = points ** 0.8 / (age + 2.0) ** gravity
    return _out(score if penalty.ndim == 0 and penalty == 1.0 else score * penalty)


def _epoch_seconds(created) -> np.ndarray:
    """Epoch seconds (float) from numbers, datetimes, ``np.datetime64`` or pandas objects.

    Naive datetimes are taken as UTC; time-zone aware ones are converted to UTC.
    """
    if pd.api.types.is_bool_dtype(getattr(created, "dtype", None)) or np.asarray(
            created).dtype.kind == "b":
        raise ValueError("created must be epoch seconds or date-times, got booleans")
    if isinstance(created, (pd.Series, pd.Index)) and pd.api.types.is_numeric_dtype(created):
        return _array(created.to_numpy(), "created")
    arr = np.asarray(created)
    if arr.dtype.kind in "iuf" and not isinstance(created, (pd.Series, pd.Index)):
        return _array(arr, "created")
    if arr.dtype.kind == "M":                      # numpy datetime64: no parsing needed
        if np.isnat(arr).any():
            raise ValueError("created contains NaT")
        return arr.astype("datetime64[us]").astype(np.int64) / 1e6
    try:
        idx = pd.to_datetime(pd.Index(np.ravel(arr)), utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"created must be epoch seconds or date-times: {exc}") from None
    if idx.isna().any():
        raise ValueError("created contains a missing date-time (NaT/None)")
    return (idx.as_unit("us").asi8 / 1e6).reshape(arr.shape)


def reddit_hot(ups, downs, created):
    """Reddit "hot" score ``sign(s) * log10(max(|s|, 1)) + (created - 1134028003) / 45000``.

    ``s = ups - downs`` is the net score, so net-negative posts get a negative vote term, and
    ``|s| <= 1`` gives a vote term of 0.  Every factor of 10 in net votes is worth 45,000 s
    (12.5 hours) of recency.  Reddit rounds to 7 decimals; this function does not.

    Parameters
    ----------
    ups, downs : array_like
        Up- and down-votes, >= 0.
    created : array_like
        Submission time: epoch seconds (numbers), ``datetime`` / ``pandas.Timestamp`` objects,
        ``numpy.datetime64`` arrays, or pandas ``Series`` / ``DatetimeIndex``.  Naive
        date-times are UTC; aware ones are converted to UTC.
    """
    ups = _nonnegative(ups, "ups")
    downs = _nonnegative(downs, "downs")
    seconds = _epoch_seconds(created) - REDDIT_EPOCH
    s = ups - downs
    order = np.log10(np.maximum(np.abs(s), 1.0))
    # copysign(order, s) = sign(s) * order in one pass, as order = 0 whenever |s| <= 1
    return _out(np.copysign(order, s) + seconds / REDDIT_SCALE)


# ---------------------------------------------------------------------------- proportions
def _wilson(positive, total, confidence: float, sign: float):
    positive = _nonnegative(positive, "positive")
    total = _nonnegative(total, "total")
    if np.any(positive > total):
        bad = int(np.flatnonzero(np.broadcast_to(positive > total, np.broadcast_shapes(
            positive.shape, total.shape)).ravel())[0])
        raise ValueError(f"positive exceeds total (first at flat index {bad})")
    level = check_credible(confidence, "confidence")
    z = float(special.ndtri(1.0 - (1.0 - level) / 2.0))  # = norm.ppf
    # Multiplying numerator and denominator by n gives, with k = positive,
    #   (k + z^2/2 -+ z sqrt(k (n - k) / n + z^2/4)) / (n + z^2),
    # which is 0 (lower) and 1 (upper) at n = 0 once k (n - k) / n is read as 0.  In place:
    # one temporary of the broadcast shape instead of a dozen.
    out = np.asarray(total - positive)
    out *= positive
    out /= np.maximum(total, 1.0)
    out += z * z / 4.0
    np.sqrt(out, out=out)
    out *= sign * z
    out += positive
    out += z * z / 2.0
    out /= total + z * z
    np.clip(out, 0.0, 1.0, out=out)
    # exact ends: the lower bound is 0 when k = 0 (n = 0 included), the upper 1 when k = n;
    # rounding in z sqrt(z^2/4) - z^2/2 would otherwise leave +-1e-17 there
    edge = (positive == 0) if sign < 0 else (positive == total)
    out[np.broadcast_to(edge, out.shape)] = 0.0 if sign < 0 else 1.0
    return _out(out)


def wilson_lower_bound(positive, total, confidence: float = 0.95):
    r"""Lower end of the Wilson score interval for a proportion ``positive / total``.

    .. math::
        \frac{\hat p + \frac{z^2}{2n} - z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}
             {1 + z^2/n},\qquad \hat p = \frac{\text{positive}}{n},\ n = \text{total},

    with ``z = scipy.stats.norm.ppf(1 - (1 - confidence) / 2)`` (1.96 for 95%, two-sided).
    It ranks an item by "how good it is at least, with this confidence", so few votes are
    penalized (Miller 2009).  **total = 0 gives 0** (no evidence, lowest score; it is also the
    limit of the formula as n -> 0).  Never decreases when positive votes are added at a fixed
    share, or when one positive vote is added.
    """
    return _wilson(positive, total, confidence, -1.0)


def wilson_upper_bound(positive, total, confidence: float = 0.95):
    """Upper end of the Wilson score interval (see :func:`wilson_lower_bound`).

    **total = 0 gives 1**, the limit of the formula as n -> 0: with no votes the interval is
    the whole of [0, 1] (so an optimistic, upper-bound ranking puts unseen items first).
    """
    return _wilson(positive, total, confidence, +1.0)


def smoothed_average(sum_ratings, count, prior_mean, prior_weight):
    r"""Damped mean ``(sum + lambda mu0) / (N + lambda)``: a conjugate Normal posterior mean.

    Model: ratings ``r_j ~ Normal(mu, sigma^2)`` with known ``sigma`` and prior
    ``mu ~ Normal(mu0, sigma^2 / lambda)`` (``lambda`` pseudo-ratings at ``mu0``).  The
    posterior is ``mu | r ~ Normal((sum_j r_j + lambda mu0) / (N + lambda), sigma^2 / (N +
    lambda))``; this function returns its mean.  ``lambda = 0`` is the plain mean; an item with
    ``N = 0`` gets ``mu0``.

    Parameters
    ----------
    sum_ratings, count : array_like
        Sum and number (>= 0) of ratings per item.
    prior_mean : array_like
        ``mu0`` (e.g. the global mean rating).
    prior_weight : array_like
        ``lambda >= 0``; ``count + prior_weight`` must be > 0 everywhere.
    """
    total = _array(sum_ratings, "sum_ratings")
    n = _nonnegative(count, "count")
    mu0 = _array(prior_mean, "prior_mean")
    lam = _nonnegative(prior_weight, "prior_weight")
    denom = n + lam
    if np.any(denom == 0):
        raise ValueError("count + prior_weight is 0 for some item: the mean of no ratings is "
                         "undefined; use prior_weight > 0")
    return _out((total + lam * mu0) / denom)


# ---------------------------------------------------------------------------- Beta posterior
def _rank(scores: np.ndarray, k: int | None) -> np.ndarray:
    """Indices by decreasing score, ties in index order (a stable sort); the first ``k`` if given.

    With ``k`` much smaller than ``n`` only the ``k`` winners are sorted (``np.partition``:
    O(n)); the result equals the first ``k`` of the full stable sort, ties at the cut included.
    """
    n = scores.size
    if k is not None:
        k = check_positive("k", k, integer=True, allow_zero=True)
    if k is None or k >= n:
        return np.argsort(-scores, kind="stable")
    if k == 0:
        return np.zeros(0, dtype=np.intp)
    cut = np.partition(scores, n - k)[n - k]             # the k-th largest score
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)[: k - above.size]
    chosen = np.concatenate([above, tied])
    return chosen[np.lexsort((chosen, -scores[chosen]))]


class BetaPosteriorRanker:
    r"""Rank items by the Beta-Bernoulli posterior of their like-probability.

    Each item ``i`` has a like-probability ``theta_i ~ Beta(a, b)``; after ``s_i`` likes and
    ``f_i`` dislikes, ``theta_i | data ~ Beta(a + s_i, b + f_i)``
    (:mod:`bayesrec.inference.beta`).  Three rankings:

    * ``"mean"``: posterior mean ``(a + s) / (a + b + s + f)`` (Laplace smoothing for a = b = 1);
    * ``"lower"``: lower end of the equal-tailed ``credible`` interval, the
      ``(1 - credible) / 2`` quantile (``scipy.stats.beta.ppf``): the Bayesian analogue of the
      Wilson lower bound, penalizing items with little evidence;
    * ``"thompson"``: one posterior draw per item and call; a randomized ranking that shows
      uncertain items often enough to learn about them (Thompson sampling, Thompson 1933).

    Parameters
    ----------
    a, b : float or array_like
        Beta prior parameters (> 0), scalars or one per item.
    credible : float
        Level of the credible interval used by ``"lower"``.
    random_state : int, Generator or None
        Source of the Thompson draws; each call advances it (same seed, same sequence).

    Attributes
    ----------
    successes_, failures_ : ndarray
        Likes and dislikes per item (updated online by :meth:`update`).
    item_ids_ : ndarray
        Item labels (``arange(n_items)`` unless given).
    """

    METHODS = ("mean", "lower", "thompson")

    def __init__(self, a=1.0, b=1.0, credible: float = 0.95, random_state=None):
        self.a = a
        self.b = b
        self.credible = credible
        self.random_state = random_state

    # -- fitting and online updates
    def fit(self, successes, failures, item_ids=None) -> BetaPosteriorRanker:
        """Set the likes / dislikes of every item (1-d arrays of the same length)."""
        # everything is checked into locals first: a failed fit keeps the previous state
        s, f = check_counts(successes, failures)
        if s.ndim != 1 or s.shape != f.shape:
            raise ValueError(f"successes and failures must be 1-d of equal length, got shapes "
                             f"{s.shape} and {f.shape}")
        a, b = check_beta_parameters(self.a, self.b)
        for name, v in (("a", a), ("b", b)):
            if v.ndim and v.shape != s.shape:
                raise ValueError(f"prior {name} has shape {v.shape}; give a scalar or one "
                                 f"value per item ({s.shape})")
        with np.errstate(over="ignore"):
            total = np.max(a + b + s + f, initial=0.0)
        if not np.isfinite(total):  # a / (a + b) would read inf and give 0 or NaN
            raise ValueError("a + b + successes + failures overflows float64 for some item: "
                             "rescale the prior and the counts")
        credible = check_credible(self.credible)
        ids = np.arange(s.size) if item_ids is None else np.asarray(item_ids)
        if ids.shape != s.shape:
            raise ValueError(f"item_ids has shape {ids.shape}, expected {s.shape}")
        rng = check_random_state(self.random_state)
        self.prior_a_, self.prior_b_, self.credible_ = a, b, credible
        self.successes_, self.failures_ = s.copy(), f.copy()
        self.item_ids_, self.rng_ = ids, rng
        return self

    @classmethod
    def from_ratings(cls, ratings, threshold: float = 4.0, **params) -> BetaPosteriorRanker:
        """A ranker fitted on the likes (rating >= threshold) and dislikes of a ``Ratings``."""
        if not isinstance(ratings, Ratings):
            raise TypeError(f"from_ratings expects a bayesrec Ratings, got "
                            f"{type(ratings).__name__}")
        stats = item_statistics(ratings, threshold)
        return cls(**params).fit(stats["likes"].to_numpy(), stats["dislikes"].to_numpy(),
                                 stats.index.to_numpy())

    def update(self, items, liked) -> BetaPosteriorRanker:
        """Online update with new feedback: ``liked[j]`` (bool or 0/1) on item index ``items[j]``.

        Conjugacy makes this exact: the posterior after the new data is the prior updated with
        all the data at once.  Vectorized over the feedback (``np.bincount``).
        """
        self._check_fitted()
        items = np.asarray(items).ravel()
        liked = np.asarray(liked).ravel()
        if liked.dtype.kind not in "biuf":
            raise ValueError(f"liked must be boolean (0/1), got dtype {liked.dtype}")
        liked = liked.astype(np.float64)
        if items.shape != liked.shape:
            raise ValueError(f"items and liked differ in length: {items.size} vs {liked.size}")
        if items.size == 0:
            return self
        if items.dtype.kind not in "iu" or items.min() < 0 or items.max() >= self.n_items:
            raise ValueError(f"items must be integer indices in [0, {self.n_items})")
        if np.any((liked != 0) & (liked != 1)):
            raise ValueError("liked must be boolean (0/1)")
        likes, dislikes = bernoulli_counts(items, liked, self.n_items)
        self.successes_ += likes
        self.failures_ += dislikes
        return self

    # -- posterior summaries
    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self.successes_.size

    def _check_fitted(self) -> None:
        if not hasattr(self, "successes_"):
            raise NotFittedError("BetaPosteriorRanker is not fitted; call fit() first")

    @property
    def alpha_(self) -> np.ndarray:
        """Posterior ``a + successes``."""
        return self.prior_a_ + self.successes_

    @property
    def beta_(self) -> np.ndarray:
        """Posterior ``b + failures``."""
        return self.prior_b_ + self.failures_

    def posterior_mean(self) -> np.ndarray:
        return beta_mean(self.alpha_, self.beta_)

    def lower_bound(self, credible: float | None = None) -> np.ndarray:
        """The ``(1 - credible) / 2`` posterior quantile of each item."""
        c = self.credible_ if credible is None else check_credible(credible)
        return beta_quantile((1.0 - c) / 2.0, self.alpha_, self.beta_)

    def upper_bound(self, credible: float | None = None) -> np.ndarray:
        c = self.credible_ if credible is None else check_credible(credible)
        return beta_quantile((1.0 + c) / 2.0, self.alpha_, self.beta_)

    def sample(self, rng=None) -> np.ndarray:
        """One posterior draw per item (the Thompson score); ``rng`` defaults to the ranker's."""
        self._check_fitted()
        gen = self.rng_ if rng is None else check_random_state(rng)
        return beta_draws(self.alpha_, self.beta_, gen)

    def scores(self, method: str = "mean", rng=None) -> np.ndarray:
        """Scores of every item under ``method`` in ``("mean", "lower", "thompson")``."""
        if method == "mean":
            return self.posterior_mean()
        if method == "lower":
            return self.lower_bound()
        if method == "thompson":
            return self.sample(rng)
        raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")

    def rank(self, method: str = "mean", k: int | None = None, rng=None) -> np.ndarray:
        """Item indices, best first (top ``k`` if given); ties keep index order."""
        return _rank(self.scores(method, rng), k)

    def posterior(self, n_draws: int = 1000, items=None, rng=None):
        """Exact posterior draws as an ArviZ ``DataTree``: variable ``theta`` (chain, draw, item).

        One chain of independent draws (no MCMC); ``items`` selects item indices (default all,
        mind the memory: ``n_draws * n_items`` floats).  Group ``constant_data`` holds the
        ``successes`` and ``failures`` the posterior conditions on.
        """
        import arviz as az

        self._check_fitted()
        idx = (np.arange(self.n_items) if items is None
               else check_indices("items", items, self.n_items))
        gen = self.rng_ if rng is None else check_random_state(rng)
        a, b = np.broadcast_to(self.alpha_, (self.n_items,)), np.broadcast_to(self.beta_,
                                                                             (self.n_items,))
        n_draws = check_positive("n_draws", n_draws, integer=True)
        draws = beta_draws(a[idx], b[idx], gen, size=(1, n_draws, idx.size))
        coords = {"item": self.item_ids_[idx]}
        return az.from_dict(
            {"posterior": {"theta": draws},
             "constant_data": {"successes": self.successes_[idx],
                               "failures": self.failures_[idx]}},
            dims={"theta": ["item"], "successes": ["item"], "failures": ["item"]},
            coords=coords)


# ---------------------------------------------------------------------------- MovieLens inputs
def item_statistics(ratings, threshold: float = 4.0) -> pd.DataFrame:
    """Per-item inputs of every score above, from a :class:`bayesrec.data.Ratings`.

    Returns a DataFrame indexed by the original item id (``item_id``), in item-index order,
    with columns ``count`` (ratings), ``sum`` (sum of ratings), ``mean`` (NaN for unrated
    items), ``likes`` (ratings ``>= threshold``) and ``dislikes`` (``count - likes``).
    O(n_ratings) through ``np.bincount``.
    """
    if not isinstance(ratings, Ratings):
        raise TypeError(f"item_statistics expects a bayesrec Ratings, got "
                        f"{type(ratings).__name__}")
    threshold = check_finite("threshold", threshold)
    n = ratings.n_items
    count = np.bincount(ratings.items, minlength=n)
    total = np.bincount(ratings.items, weights=ratings.ratings, minlength=n)
    likes = np.bincount(ratings.items, weights=ratings.ratings >= threshold,
                        minlength=n).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return pd.DataFrame({"count": count, "sum": total, "mean": mean, "likes": likes,
                         "dislikes": count - likes},
                        index=pd.Index(ratings.item_ids, name="item_id"))
