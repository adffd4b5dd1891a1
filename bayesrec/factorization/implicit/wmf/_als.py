"""Implicit ALS: the MAP point estimate of :class:`ImplicitBPMF`, the deterministic baseline.

Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008.
Objective over ALL cells (preference ``p_ui = 1[y_ui > 0]``, confidence
``c_ui = 1 + confidence * y_ui``)::

    J(U, V) = sum_{u,i} a_u c_ui (p_ui - u_u . v_i)^2 + reg (sum_u |u_u|^2 + sum_i |v_i|^2)

with activity weights ``a_u = (n_u / mean n)^-activity_exponent`` (``n_u``: the user's
interactions; exponent 0 is Hu et al.'s objective): a heavy user's many cells count less
each, so light users shape the item factors too.  Each iteration sets every user row, then
every item row, to its exact minimiser::

    u_u = (V^T V + sum_{i in N(u)} (c_ui - 1) v_i v_i^T + (reg / a_u) I)^-1
          sum_{i in N(u)} c_ui v_i

(the dense matrix is never formed: its zeros enter through ``V^T V``).  This is the
conditional-mean ("mode") sweep of :class:`ImplicitBPMF` with the hyperparameters fixed at
``mu = 0, Lambda = reg I, alpha = 1`` (:mod:`._sweep`), so both models share one solver:
O(nnz K^2 + (n_users + n_items) K^3) per iteration, exact Cholesky solves (no conjugate
gradient).  ``J`` never increases; iterations stop after ``n_iter`` or when the relative
decrease of ``J`` falls below ``tol``.  Score of item ``i`` for user ``u``: ``u_u . v_i``.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ...._validation import Boolean, Integer, RandomState, Real
from ....base import Recommender
from ....data import Ratings
from ....progress import progress_bar
from ....rng import check_random_state
from ._data import WMFData
from ._sweep import init_state, make_prior, sweep


def fallback_outside_likelihood(model, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Give the fallback ranking to users outside the likelihood.

    A user whose training rows all hold a zero count has no positive cell: it is not part of
    the model (:mod:`._data`), its factor rows stay exactly 0 and every score would be 0 (a
    list in item order).  Such users are as unknown as a new one: they get
    ``model._fallback_scores()``.  ``rows`` are the scored users' factor rows (``(n, K)``).
    """
    outside = ~rows.any(axis=1)
    if outside.any():
        scores[outside] = np.asarray(model._fallback_scores(), np.float64)
    return scores


def gram_embeddings(user_factors: np.ndarray, item_factors: np.ndarray) -> np.ndarray:
    """Item vectors whose inner products are ``v_i^T U^T U v_j``: the inner products of the
    items' score columns ``U v_i`` over all users (invariant to ``U A, V A^-T``)."""
    g = np.einsum("nk,nl->kl", user_factors, user_factors)
    k = g.shape[0]
    chol = np.linalg.cholesky(g + 1e-12 * max(np.trace(g), 1e-300) / k * np.eye(k))
    return item_factors @ chol


class ImplicitALS(Recommender):
    """Weighted matrix factorization of implicit feedback by alternating least squares.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    reg : float
        L2 penalty ``reg`` on every factor row.
    confidence : float
        ``c_ui = 1 + confidence * y_ui`` (Hu et al.'s alpha; 40 in the paper on play counts).
    activity_exponent : float in [0, 2]
        ``gamma`` of the activity weights ``a_u = (n_u / mean n)^-gamma`` (0: none).
    n_iter : int
        Maximum iterations.
    tol : float
        Stop when ``(J_prev - J) / J_prev < tol`` (0: run all ``n_iter``).
    init_scale : float
        Standard deviation of the random initial factors.
    random_state : int or Generator
    verbose : bool
        Show a progress bar.

    Notes
    -----
    Defaults (``rank=32, reg=35, confidence=2, activity_exponent=0.5``) are the winners of a
    validation search on the embedded MovieLens data (``experiments/topn.py``: validation =
    20% of the training rows, NDCG@10 with relevance rating >= 4).  Without activity weights
    the best of rank 16/32/64 x reg 1-100 x confidence 0.5-5 was rank 32, reg 20,
    confidence 1 (validation NDCG@10 0.172); at rank 32 the weights gave (exponent, reg,
    confidence -> NDCG@10) 0.5, 20, 1 -> 0.178; 0.5, 35, 2 -> 0.183; 0.75, 35, 1 -> 0.175;
    1.0, 20, 1 -> 0.165; rank 64 (0.5, 35, 1) 0.170.  EASE reaches 0.180 on the same split.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray
        ``U`` (n_users, K; zero rows for users without interactions, or whose counts are all
        0: those are ranked by the popularity fallback) and ``V``.
    history_ : DataFrame
        Per iteration: ``loss`` (J), ``seconds``.
    n_iter_ : int
        Iterations run.
    """

    _checks = {"rank": Integer(low=1), "reg": Real(low=0.0), "confidence":
               Real(low=0.0, closed="left"),
               "activity_exponent": Real(0.0, 2.0, closed="both"), "n_iter": Integer(low=1),
               "tol": Real(low=0.0, closed="left"), "init_scale": Real(low=0.0),
               "random_state": RandomState(), "verbose": Boolean()}
    _test_params = {"rank": 3, "n_iter": 5}

    def __init__(self, rank: int = 32, reg: float = 35.0, confidence: float = 2.0,
                 activity_exponent: float = 0.5, n_iter: int = 15, tol: float = 1e-4,
                 init_scale: float = 0.1, random_state=None, verbose: bool = False):
        self.rank = rank
        self.reg = reg
        self.confidence = confidence
        self.activity_exponent = activity_exponent
        self.n_iter = n_iter
        self.tol = tol
        self.init_scale = init_scale
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings, eval_set=None) -> dict:
        p = self._validated()
        data = WMFData.from_ratings(ratings, p["confidence"], p["activity_exponent"])
        if data.n_positive == 0:
            raise ValueError("no positive interaction to learn from (every count is 0)")
        prior = make_prior(p["rank"], None, p["reg"], 1.0, (1.0, 1.0))
        rng = check_random_state(p["random_state"])
        state = init_state(data, prior, rng, p["init_scale"])
        rows, prev = [], None
        with progress_bar(p["n_iter"], "implicit ALS", enabled=p["verbose"]) as bar:
            for _ in range(p["n_iter"]):
                t0 = time.perf_counter()
                state = sweep(state, data, prior, None, mode=True)
                loss = state.sse + p["reg"] * (float(np.sum(state.xu ** 2))
                                               + float(np.sum(state.xv ** 2)))
                rows.append({"loss": loss, "seconds": time.perf_counter() - t0})
                bar.update(1, loss=loss)
                if prev is not None and (prev - loss) < p["tol"] * abs(prev):
                    break
                prev = loss
        return {"user_factors_": state.xu, "item_factors_": state.xv,
                "history_": pd.DataFrame(rows).rename_axis("iteration"),
                "n_iter_": len(rows)}

    def _score_users(self, users, **options) -> np.ndarray:
        self._check_options(**options)
        rows = self.user_factors_[users]
        return fallback_outside_likelihood(self, rows, rows @ self.item_factors_.T)

    def _item_embeddings(self) -> np.ndarray:
        return gram_embeddings(self.user_factors_, self.item_factors_)
