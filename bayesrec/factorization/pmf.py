"""Probabilistic matrix factorization: the MAP estimate (Salakhutdinov & Mnih 2007).

Model (the biased PMF of the BPMF paper with *fixed* hyperparameters; bias priors optional)::

    r_ui | U, V, b, c  ~  N(mu + b_u + c_i + u_u . v_i,  1 / alpha)        for observed (u, i)
    u_u ~ N(0, I / lambda_u),   v_i ~ N(0, I / lambda_v)                    (K-dimensional)
    b_u ~ N(0, 1 / lambda_b),   c_i ~ N(0, 1 / lambda_b)                    (when biases=True)

``mu`` is a constant (the training mean unless given), not a parameter.  The MAP estimate
minimizes the negative log posterior, up to an additive constant::

    E(U, V, b, c) = alpha/2 * sum_{(u,i) observed} (r_ui - mu - b_u - c_i - u_u . v_i)^2
                  + lambda_u/2 * sum_u |u_u|^2 + lambda_v/2 * sum_i |v_i|^2
                  + lambda_b/2 * (sum_u b_u^2 + sum_i c_i^2)

(:func:`pmf_neg_log_posterior` evaluates it for any estimate, e.g. a BPMF posterior mean or a
neural "dot" model's weights, so they can be compared on identical priors).  Dividing by
``alpha / 2`` shows it is the ALS objective with ``reg_u = lambda_u / alpha``,
``reg_v = lambda_v / alpha`` and ``reg_b = lambda_b / alpha``; the course's Keras embedding
model with L2 penalties minimizes the same function.

Optimizer: exact block coordinate descent on E (the posterior of each block given the others is
Gaussian, so each block's conditional mode is a ridge solve): all ``u_u`` at once (one batched
solve), then all ``b_u``, then all ``v_i``, then all ``c_i``.  E never increases; iterations stop
after ``n_iter`` sweeps or when the relative decrease of E falls below ``tol``.  The only random
step is the initialization ``v_i ~ N(0, init_scale^2 I)`` drawn from ``random_state`` (user factors
are solved first), so the result is deterministic given the seed.
"""

from __future__ import annotations

import numpy as np

from .._validation import Boolean, Integer, OptionalCheck, RandomState, Real, resolve_global_mean
from ..data import Ratings
from ..rng import check_random_state
from ._common import ALSState, FactorModel, als_run, learned_factors


def pmf_neg_log_posterior(ratings: Ratings, user_factors, item_factors, user_bias=None,
                          item_bias=None, global_mean=None, *, alpha: float,
                          lambda_u: float, lambda_v: float, lambda_b: float = 0.0) -> float:
    """The PMF negative log posterior ``E`` (module docstring), up to its additive constant.

    Parameters use training indices: ``user_factors`` is ``(n_users, K)``, ``item_factors``
    ``(n_items, K)``; biases default to zero and ``global_mean`` to the ratings' mean.
    """
    W = np.asarray(user_factors, np.float64)
    V = np.asarray(item_factors, np.float64)
    b = np.zeros(ratings.n_users) if user_bias is None else np.asarray(user_bias, np.float64)
    c = np.zeros(ratings.n_items) if item_bias is None else np.asarray(item_bias, np.float64)
    mu = ratings.global_mean if global_mean is None else float(global_mean)
    err = (ratings.ratings - mu - b[ratings.users] - c[ratings.items]
           - np.einsum("nk,nk->n", W[ratings.users], V[ratings.items]))
    return float(0.5 * alpha * (err @ err) + 0.5 * lambda_u * np.sum(W ** 2)
                 + 0.5 * lambda_v * np.sum(V ** 2) + 0.5 * lambda_b * (b @ b + c @ c))


class PMF(FactorModel):
    """MAP estimate of (biased) probabilistic matrix factorization.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    alpha : float
        Observation precision (noise variance ``1/alpha``).
    lambda_u, lambda_v : float
        Prior precisions of the user and item factors.
    lambda_b : float
        Prior precision of the user and item biases (used when ``biases=True``).
    biases : bool
        Include ``b_u`` and ``c_i``; ``False`` fixes them at 0 (plain PMF with mean offset).
    global_mean : float, optional
        The constant ``mu``; ``None`` uses the training mean.
    n_iter : int
        Maximum number of block-coordinate sweeps.
    tol : float
        Stop when ``(E_prev - E) / E <= tol`` (0 runs all ``n_iter``).
    init_scale : float
        Standard deviation of the initial item factors.
    random_state : int or numpy.random.Generator, optional
    verbose : bool
        Show a progress bar.

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray (n_users, K), (n_items, K)
    user_bias_, item_bias_ : ndarray
    global_mean_ : float
    neg_log_posterior_ : float
        ``E`` at the estimate.
    history_ : DataFrame
        Per iteration: ``neg_log_posterior``, ``train_rmse``, ``test_rmse`` (when ``fit`` got
        an ``eval_set``), ``seconds``.
    n_iter_ : int
        Sweeps run.

    Notes
    -----
    Unknown users/items fall back to their prior mean (zero factors and bias): predictions
    ``mu + c_i``, ``mu + b_u`` or ``mu``.
    """

    _checks = {"rank": Integer(), "alpha": Real(), "lambda_u": Real(), "lambda_v": Real(),
               "lambda_b": Real(closed="left"), "biases": Boolean(),
               "global_mean": OptionalCheck(Real(low=None)), "n_iter": Integer(),
               "tol": Real(closed="left"), "init_scale": Real(),
               "random_state": RandomState(), "verbose": Boolean()}
    _test_params = {"rank": 3, "n_iter": 3}

    def __init__(self, rank: int = 10, alpha: float = 2.0, lambda_u: float = 20.0,
                 lambda_v: float = 20.0, lambda_b: float = 20.0, biases: bool = True,
                 global_mean: float | None = None, n_iter: int = 100, tol: float = 1e-6,
                 init_scale: float = 0.1, random_state=None, verbose: bool = False):
        self.rank = rank
        self.alpha = alpha
        self.lambda_u = lambda_u
        self.lambda_v = lambda_v
        self.lambda_b = lambda_b
        self.biases = biases
        self.global_mean = global_mean
        self.n_iter = n_iter
        self.tol = tol
        self.init_scale = init_scale
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, ratings: Ratings, eval_set) -> dict:
        p = self._validated()
        K, alpha = p["rank"], p["alpha"]
        lb = p["lambda_b"]
        mu = resolve_global_mean(p["global_mean"], ratings)
        rng = check_random_state(p["random_state"])
        st = ALSState(mu=mu, b=np.zeros(ratings.n_users), c=np.zeros(ratings.n_items),
                      W=np.zeros((ratings.n_users, K)),
                      V=rng.normal(0.0, p["init_scale"], (ratings.n_items, K)))
        # E = alpha/2 * J with J the ALS objective at these ridge strengths
        regs = (p["lambda_u"] / alpha, p["lambda_v"] / alpha, lb / alpha, lb / alpha)
        history = als_run(ratings, st, p["n_iter"], regs, p["biases"], "PMF-MAP",
                          p["verbose"], eval_set, loss_name="neg_log_posterior",
                          loss_scale=0.5 * alpha, tol=p["tol"])
        return {**learned_factors(st), "history_": history,
                "neg_log_posterior_": float(history["neg_log_posterior"].iloc[-1]),
                "n_iter_": len(history)}

    def neg_log_posterior(self, ratings: Ratings | None = None) -> float:
        """``E`` of the fitted estimate on ``ratings`` (default: the training ratings).

        ``ratings`` must share the training id maps (e.g. come from the same split).
        """
        train = self._check_fitted()
        r = train if ratings is None else ratings
        if not isinstance(r, Ratings):
            raise TypeError(f"ratings must be a bayesrec Ratings or None, got "
                            f"{type(r).__name__}")
        # other id maps would pair the factors with the wrong users and items (silently when
        # the sizes agree)
        for side in ("user_ids", "item_ids"):
            mine, theirs = getattr(train, side), getattr(r, side)
            if theirs is not mine and not np.array_equal(theirs, mine):
                raise ValueError(f"ratings must share the training id maps ({side} differ); "
                                 "take it from the same Ratings or split")
        p = self._validated()  # the hyperparameters as set now, checked
        return pmf_neg_log_posterior(r, self.user_factors_, self.item_factors_,
                                     self.user_bias_, self.item_bias_, self.global_mean_,
                                     alpha=p["alpha"], lambda_u=p["lambda_u"],
                                     lambda_v=p["lambda_v"],
                                     lambda_b=p["lambda_b"] if p["biases"] else 0.0)
