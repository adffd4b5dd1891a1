"""Synthetic ratings drawn from the Bayesian PMF generative story, shaped like MovieLens.

Generative story (Salakhutdinov & Mnih 2008, with biases)::

    u_i ~ N(0, s_f^2 I_K),  v_j ~ N(0, s_f^2 I_K),  b_i ~ N(0, s_b^2),  c_j ~ N(0, s_c^2)
    r_ij = mu + b_i + c_j + u_i . v_j + eps,   eps ~ N(0, noise^2)

with ``s_f = (signal / K) ** 0.25`` so that ``Var(u_i . v_j) = signal``.  Which (i, j) pairs are
observed follows MovieLens-like skew: user activity is log-normal and item popularity is Zipf,
every user has at least one rating, and no pair repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_bool, check_finite, check_positive
from ..rng import check_random_state
from .ratings import Ratings, _check_scale
from .sorting import sorted_unique

MOVIELENS_20M_SHAPE = dict(n_users=138_493, n_items=26_744, n_ratings=20_000_263)


@dataclass(frozen=True)
class SyntheticTruth:
    """The parameters that generated a synthetic data set (indices as in the returned Ratings)."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float
    noise: float

    def mean(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Noise-free expected rating ``mu + b_i + c_j + u_i . v_j`` at index pairs."""
        users = np.asarray(users)
        items = np.asarray(items)
        return (self.global_mean + self.user_bias[users] + self.item_bias[items]
                + np.einsum("nk,nk->n", self.user_factors[users], self.item_factors[items]))


def _capped_shares(weights: np.ndarray, total: int, cap: float) -> np.ndarray:
    """Normalise ``weights`` to shares whose expected counts ``total * share`` stay <= ``cap``.

    Mass above the cap is handed to the uncapped entries in proportion (water-filling), so a
    heavy-tailed law stays feasible: an item cannot be rated by more users than exist.
    """
    share = weights / weights.sum()
    # small, dense sets: a cap below 1.2x the mean count is infeasible, lift it
    limit = max(cap, 1.2 * total / len(weights)) / total
    for _ in range(100):
        over = share > limit * (1 + 1e-12)
        if not over.any():
            break
        free = ~over & (share < limit)
        excess = (share[over] - limit).sum()
        share[over] = limit
        share[free] += excess * share[free] / share[free].sum()
    return share / share.sum()


def _sample_pairs(n_users, n_items, n_ratings, p_user, p_item, rng) -> np.ndarray:
    """Distinct (user, item) keys ``u * n_items + i``: one per user first, then by popularity."""
    first = np.arange(n_users, dtype=np.int64) * n_items + rng.choice(n_items, n_users, p=p_item)
    keys = first
    need = n_ratings
    for _ in range(1000):
        if len(keys) >= need:
            break
        extra = int(1.2 * (need - len(keys))) + 16
        u = rng.choice(n_users, extra, p=p_user)
        i = rng.choice(n_items, extra, p=p_item)
        keys = sorted_unique(np.concatenate([keys, u.astype(np.int64) * n_items + i]))
    if len(keys) > need:
        # keep every user's first pair, drop a random subset of the others
        others = keys[~np.isin(keys, first, kind="sort", assume_unique=True)]
        keep = rng.choice(len(others), need - n_users, replace=False)
        keys = np.concatenate([first, others[keep]])
    return keys[rng.permutation(len(keys))]


def synthetic_ratings(n_users: int = 1000, n_items: int = 500, n_ratings: int = 50_000,
                      rank: int = 5, noise: float = 0.5, rng=None, *, global_mean: float = 3.5,
                      signal: float = 0.5, user_bias_sd: float = 0.4, item_bias_sd: float = 0.5,
                      rating_scale: tuple[float, float] | None = None,
                      step: float | None = None, activity_sigma: float = 1.0,
                      popularity_exponent: float = 1.0, with_timestamps: bool = True,
                      ) -> tuple[Ratings, SyntheticTruth]:
    """Draw a rating set from the (biased) Bayesian PMF model with MovieLens-like skew.

    Parameters
    ----------
    n_users, n_items, n_ratings : int
        Shape; ``n_ratings`` must lie in ``[n_users, n_users * n_items]``.
        ``MOVIELENS_20M_SHAPE`` holds MovieLens-20M's figures.
    rank : int
        Latent dimension K of the true factors.
    noise : float
        Standard deviation of the Gaussian observation noise (``1/sqrt(alpha)``).
    rng : numpy.random.Generator or int
    global_mean, signal, user_bias_sd, item_bias_sd : float
        ``mu``, ``Var(u . v)`` and bias scales of the truth.
    rating_scale : (low, high), optional
        Clip ratings to this scale (and round to ``step`` if given). ``None`` keeps the exact
        Gaussian ratings, which is what known-truth tests want.
    activity_sigma : float
        Log-normal sigma of user activity (0 gives equally active users).
    popularity_exponent : float
        Zipf exponent of item popularity (0 gives equally popular items).
    with_timestamps : bool
        Add increasing timestamps (one per row, in a random order) so time splits work.

    Returns
    -------
    ratings : Ratings
        User ids ``1..n_users`` and item ids ``1..n_items``.
    truth : SyntheticTruth
    """
    n_users, n_items, n_ratings, rank = (
        check_positive(name, v, integer=True) for name, v in (
            ("n_users", n_users), ("n_items", n_items), ("n_ratings", n_ratings),
            ("rank", rank)))
    with_timestamps = check_bool("with_timestamps", with_timestamps)
    if rating_scale is not None:
        rating_scale = _check_scale(rating_scale)
    if step is not None:
        step = check_positive("step", step)
    if not n_users <= n_ratings <= n_users * n_items:
        raise ValueError(f"n_ratings={n_ratings} must lie in [n_users, n_users * n_items] = "
                         f"[{n_users}, {n_users * n_items}]")
    if n_ratings > 0.5 * n_users * n_items:
        raise ValueError("n_ratings above half of all cells: the rejection sampler is meant for "
                         "sparse data")
    # a nan noise was skipped silently (nan > 0 is False); the other floats met numpy's
    # messages ("scale < 0", "Probabilities contain NaN") or gave nan ratings
    noise = check_positive("noise", noise, allow_zero=True)
    signal = check_positive("signal", signal, allow_zero=True)
    global_mean = check_finite("global_mean", global_mean)
    for name, value in (("user_bias_sd", user_bias_sd), ("item_bias_sd", item_bias_sd),
                        ("activity_sigma", activity_sigma),
                        ("popularity_exponent", popularity_exponent)):
        check_positive(name, value, allow_zero=True)
    rng = check_random_state(rng)
    # caps as in MovieLens-20M: the top movie is rated by ~half the users, the most active
    # user rates ~a third of the movies
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
        p_user = _capped_shares(rng.lognormal(0.0, activity_sigma, n_users), n_ratings,
                                0.35 * n_items)
        zipf = 1.0 / np.arange(1, n_items + 1) ** popularity_exponent
        p_item = _capped_shares(zipf[rng.permutation(n_items)], n_ratings, 0.5 * n_users)
    for name, value, shares in (("activity_sigma", activity_sigma, p_user),
                                ("popularity_exponent", popularity_exponent, p_item)):
        if not np.isfinite(shares).all():  # weights that overflow (or all underflow)
            raise ValueError(f"{name}={value!r} is too extreme: the sampling weights it "
                             "gives are not finite")
    keys = _sample_pairs(n_users, n_items, n_ratings, p_user, p_item, rng)
    users = (keys // n_items).astype(np.int32)
    items = (keys % n_items).astype(np.int32)
    del keys

    s_f = (signal / rank) ** 0.25
    truth = SyntheticTruth(
        user_factors=rng.normal(0.0, s_f, (n_users, rank)),
        item_factors=rng.normal(0.0, s_f, (n_items, rank)),
        user_bias=rng.normal(0.0, user_bias_sd, n_users),
        item_bias=rng.normal(0.0, item_bias_sd, n_items),
        global_mean=float(global_mean), noise=float(noise))
    values = np.empty(n_ratings)
    chunk = 1 << 21
    for s in range(0, n_ratings, chunk):  # chunks bound the (chunk, K) gathers' memory
        values[s:s + chunk] = truth.mean(users[s:s + chunk], items[s:s + chunk])
    values += rng.normal(0.0, noise, n_ratings) if noise > 0 else 0.0
    if step is not None:
        values = np.round(values / step) * step
    if rating_scale is not None:
        values = np.clip(values, *rating_scale)
    ts = None
    if with_timestamps:
        ts = 1_000_000_000 + rng.permutation(n_ratings).astype(np.int64) * 10
    ratings = Ratings(users, items, values, np.arange(1, n_users + 1),
                      np.arange(1, n_items + 1), ts, rating_scale)
    return ratings, truth
