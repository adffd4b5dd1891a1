"""HPF's inputs: the interaction counts ``y_ui`` by user (CSR) and the prior hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ....data import Ratings

# the interactions are cut into this many contiguous user ranges of about equal nnz; each
# range accumulates its item statistics in its own slab, so the compiled passes run in
# parallel without races and give the same numbers whatever the number of threads
N_BLOCKS = 8


@dataclass(frozen=True)
class HPFPrior:
    """Hyperparameters of HPF (the paper's notation; users ``u``, items ``i``)::

        xi_u   ~ Gamma(a', a'/b')        theta_uk | xi_u  ~ Gamma(a, xi_u)
        eta_i  ~ Gamma(c', c'/d')        beta_ik  | eta_i ~ Gamma(c, eta_i)

    (shape, rate) parametrization throughout (Gopalan, Hofman & Blei, UAI 2015, Sec. 2).

    Only the product ``b' d'`` enters the law of the rates ``theta_u . beta_i``: with
    ``X ~ Gamma(a', a')`` and ``T ~ Gamma(a, 1)``, ``theta_uk = T / (b' X)``, and likewise
    ``beta_ik = T' / (d' X')``, so ``(b', d') -> (s b', d' / s)`` rescales ``theta`` and
    ``beta`` in opposite directions and leaves the posterior of every rate (hence every
    score) unchanged; CAVI and the Gibbs sampler are equivariant under it.
    """

    rank: int
    a: float
    a_prime: float
    b_prime: float
    c: float
    c_prime: float
    d_prime: float


@dataclass(frozen=True)
class InteractionData:
    """Interactions sorted by (user, item): ``indptr`` (n_users + 1), ``indices`` (items),
    ``y`` (counts, float64), ``blocks`` (N_BLOCKS + 1 user boundaries of the parallel passes)
    and ``log_y_factorial`` (the constant ``sum log y_ui!`` of the Poisson likelihood)."""

    indptr: np.ndarray
    indices: np.ndarray
    y: np.ndarray
    n_users: int
    n_items: int
    blocks: np.ndarray
    log_y_factorial: float

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @property
    def users(self) -> np.ndarray:
        """User index of every stored interaction (CSR order)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(self.indptr))


def interaction_counts(ratings: Ratings, counts: bool) -> np.ndarray:
    """``y_ui`` of each row of ``ratings`` (row order of the Ratings).

    ``counts=False``: every row is one interaction, ``y_ui = 1`` ("who rated what").
    ``counts=True``: the stored values of implicit data (plays, clicks) are the counts; they
    must be finite and ``>= 0``.  Explicit ratings are not counts: ``ValueError``.
    """
    if not isinstance(counts, (bool, np.bool_)):
        raise TypeError(f"counts must be True or False, got {counts!r}")
    if not counts:
        return np.ones(len(ratings))
    if not getattr(ratings, "implicit", False):
        raise ValueError("counts=True needs implicit data (a Ratings of counts, implicit=True); "
                         "these are explicit ratings: use counts=False (one interaction per "
                         "rated pair)")
    y = np.asarray(ratings.ratings, dtype=np.float64)
    bad = ~np.isfinite(y) | (y < 0)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"interaction counts must be finite and >= 0; row {r} has {y[r]}")
    return y


def build_data(ratings: Ratings, y: np.ndarray) -> InteractionData:
    """CSR arrays and parallel blocks from a Ratings and its per-row counts ``y``."""
    from scipy.special import gammaln

    order = ratings.csr_order
    counts = np.bincount(ratings.users, minlength=ratings.n_users)
    indptr = np.zeros(ratings.n_users + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.ascontiguousarray(ratings.items[order], dtype=np.int32)
    yy = np.ascontiguousarray(y[order], dtype=np.float64)
    targets = np.linspace(0, len(indices), N_BLOCKS + 1)
    blocks = np.searchsorted(indptr, targets, side="left").astype(np.int64)
    blocks[0], blocks[-1] = 0, ratings.n_users
    blocks = np.maximum.accumulate(blocks)
    big = yy[yy > 1.0]  # log 0! = log 1! = 0
    return InteractionData(indptr, indices, yy, ratings.n_users, ratings.n_items, blocks,
                           float(gammaln(big + 1.0).sum()))
