"""The :class:`HPF` estimator: hierarchical Poisson factorization by CAVI or Gibbs sampling."""

from __future__ import annotations

import numpy as np

from ...._validation import (
    Boolean,
    Choice,
    Integer,
    RandomState,
    Real,
    check_choice,
)
from ....base import Recommender
from ....data import Ratings
from ....inference.draw_bank import side_by_side, stack_chain_draws
from ....progress import progress_bar
from ....rng import check_random_state
from . import _cavi
from ._data import HPFPrior, build_data, interaction_counts
from ._gibbs import SCALARS, HPFGibbs

_STRATEGIES = ("mean", "thompson")


def _bank_schedule(n_draws: int, n_bank: int) -> np.ndarray:
    """Evenly spaced retained-draw indices of one chain (the last draw included)."""
    n_bank = max(1, min(int(n_bank), n_draws))
    return np.unique(np.round(np.linspace(n_draws - 1, 0, n_bank)).astype(int))


class HPF(Recommender):
    r"""Hierarchical Poisson factorization (Gopalan, Hofman & Blei, UAI 2015).

    Equation, figure and section numbers are the paper's (its appendix, "The variational
    algorithm", continues the equation numbering).  Count ``r_ui`` of user ``u`` and item
    ``i`` (``y_ui`` in the paper; by default ``r_ui = 1`` for every rated pair and ``0``
    elsewhere), non-negative user factor ``u_u = theta_u`` and item factor ``v_i = beta_i`` in
    ``R_+^K``.  Generative process (Sec. 2, Fig. 1; Gamma(shape, rate))::

        1. each user u:  xi_u ~ Gamma(a', a'/b')               activity
                         theta_uk | xi_u ~ Gamma(a, xi_u)       preferences, k = 1..K
        2. each item i:  eta_i ~ Gamma(c', c'/d')              popularity
                         beta_ik | eta_i ~ Gamma(c, eta_i)      attributes
        3. each pair:    r_ui | theta, beta ~ Poisson(theta_u . beta_i)

    Every cell of the user x item matrix is observed, the zeros included; in the
    log-likelihood (Sec. 2.1) the zeros enter only through ``(sum_u theta_u) . (sum_i
    beta_i)``, so both methods cost O(nnz K) per iteration.  Items are ranked by Eq. 1,
    ``score_ui = E[theta_u . beta_i | r]``, the posterior mean of the expected count.

    Augmentation (Sec. 2.2): ``z_uik ~ Poisson(theta_uk beta_ik)``, ``r_ui = sum_k z_uik``
    (``z_ui = 0`` where ``r_ui = 0``).  Then every complete conditional is conjugate::

        theta_uk | . ~ Gamma(a + sum_i z_uik, xi_u + sum_i beta_ik)          (Eq. 3)
        beta_ik  | . ~ Gamma(c + sum_u z_uik, eta_i + sum_u theta_uk)        (Eq. 4)
        xi_u     | . ~ Gamma(a' + K a, a'/b' + sum_k theta_uk)               (appendix)
        eta_i    | . ~ Gamma(c' + K c, c'/d' + sum_k beta_ik)                (appendix)
        z_ui     | . ~ Mult(r_ui, theta_u * beta_i / theta_u . beta_i)       (Eq. 5)

    ``method="cavi"``: the paper's algorithm (Fig. 3), mean-field
    ``q(theta_uk) = Gamma(gamma^shp_uk, gamma^rte_uk)``, ``q(beta_ik) = Gamma(lambda^shp_ik,
    lambda^rte_ik)``, ``q(xi_u) = Gamma(kappa^shp_u, kappa^rte_u)``, ``q(eta_i) =
    Gamma(tau^shp_i, tau^rte_i)``, ``q(z_ui) = Mult(r_ui, phi_ui)`` (Sec. 2.2), with
    ``kappa^shp_u = a' + K a`` and ``tau^shp_i = c' + K c`` fixed.  One iteration::

        1. phi_uik ∝ exp{psi(gamma^shp_uk) - log gamma^rte_uk
                         + psi(lambda^shp_ik) - log lambda^rte_ik}      (r_ui > 0; Eq. 8)
        2. gamma^shp_uk = a + sum_i r_ui phi_uik                                    (Eq. 6)
           gamma^rte_uk = kappa^shp_u/kappa^rte_u + sum_i lambda^shp_ik/lambda^rte_ik
           kappa^rte_u  = a'/b' + sum_k gamma^shp_uk/gamma^rte_uk
        3. lambda^shp_ik = c + sum_u r_ui phi_uik                                   (Eq. 7)
           lambda^rte_ik = tau^shp_i/tau^rte_i + sum_u gamma^shp_uk/gamma^rte_uk
           tau^rte_i     = c'/d' + sum_k lambda^shp_ik/lambda^rte_ik

    Each update maximizes the evidence lower bound (ELBO) exactly in its block, so the ELBO
    history ``elbo_`` never decreases; the score (Eq. 1) is ``E_q[theta_u] . E_q[beta_i]``
    (exact under the mean-field ``q``).  ``posterior`` holds draws from ``q``.

    ``method="gibbs"``: a Gibbs sampler of the conditionals above (the paper has none),
    ``n_chains`` chains of ``burn_in + n_samples * thin`` sweeps; the score (Eq. 1) is the
    average of ``theta_u . beta_i`` over ``n_predictive_draws`` kept draws.

    Where the implementation differs from the paper:

    * CAVI stops when the relative ELBO change is below ``tol`` (or after ``n_iter``); the
      paper stops on the change of a validation log-likelihood.  It starts at the prior's
      shapes and rates with a relative uniform jitter ``init_scale`` (the paper: "the prior
      with a small random offset").
    * The prior part of the rates of ``xi_u``, ``eta_i`` is ``a'/b'``, ``c'/d'`` (the
      generative process and Fig. 3); the appendix prints ``b'``, ``d'`` in their
      conditionals, ``b``, ``d`` in Eqs. 6-7 where Fig. 3 has ``E_q[xi_u]``, ``E_q[eta_i]``,
      and ``a``, ``sum_i theta_uk`` in Eq. 4: typos for the conditionals above.
    * Gibbs adds to each sweep an exact scale move ``(theta_.k, beta_.k) -> (s theta_.k,
      beta_.k / s)`` per component, ``s`` drawn from its generalized inverse Gaussian
      conditional (Liu & Sabatti 2000), which leaves the posterior invariant and removes the
      slow random walk of the plain conditionals along that direction.
    * Scores of a user without training interactions: item popularity (fallback).

    Recommendation scores (``strategy``): ``"mean"`` is Eq. 1 as above; ``"thompson"``
    ranks each user's items by one posterior draw, Thompson sampling (CAVI: ``theta_u`` drawn
    from ``q`` per user, ``beta`` once per call or block of users; Gibbs: one of the kept
    draws picked at random per user).

    Identifiability: permuting the K components leaves the model unchanged, so diagnostics
    (``posterior``, :meth:`diagnostics`) use permutation-invariant quantities: rates
    ``theta_u . beta_i`` at tracked pairs, the total rate, sums of the factors, the mean
    activity and popularity, the log-likelihood.

    Parameters
    ----------
    rank : int
        Number of components K.
    method : {"gibbs", "cavi"}
        Gibbs sampling (default: the more accurate on validation data, see Notes) or the
        paper's coordinate-ascent variational inference (about 8 times faster on the embedded
        data).
    a, a_prime, b_prime, c, c_prime, d_prime : float
        Prior hyperparameters (the paper's defaults 0.3, 0.3, 1, 0.3, 0.3, 1).
    counts : bool
        ``False`` (default): every rated pair is one interaction, ``r_ui = 1`` ("who rated
        what"), whatever the rating.  ``True``: implicit data's stored counts (plays,
        clicks) are ``r_ui``; needs an implicit ``Ratings``.
    n_iter : int
        CAVI: most iterations.
    tol : float
        CAVI: stop when ``|L_t - L_{t-1}| / |L_{t-1}| < tol``.
    n_samples : int
        Gibbs: retained draws per chain.  CAVI: draws per chain from the variational
        posterior in ``posterior``.
    burn_in, thin, n_chains : int
        Gibbs: discarded sweeps per chain, keep every ``thin``-th sweep, number of chains
        (CAVI: chains of independent variational draws in ``posterior``).
    n_predictive_draws : int
        Gibbs: factor draws kept over all chains (evenly spaced) for scoring and Thompson
        sampling; also the number of factor draws in ``posterior`` when ``keep_factors`` is
        false.
    keep_factors : bool
        Put ``theta``, ``beta``, ``xi``, ``eta`` of every draw in ``posterior`` (memory:
        draws x (n_users + n_items) x (K + 1) floats).  Otherwise they are in the group
        ``factor_draws`` for ``n_predictive_draws`` draws.
    n_tracked : int
        Pairs whose rate ``theta_u . beta_i`` is traced (from ``eval_set`` when given, else
        training pairs).
    init_scale : float
        CAVI: relative jitter of the initial variational parameters (it only has to break
        the symmetry between the K components).
    n_jobs : int
        Gibbs: processes for the chains (same numbers as ``n_jobs=1``).
    verbose : bool
        Progress bar.
    random_state : None, int or numpy Generator

    Attributes
    ----------
    elbo_ : ndarray
        CAVI: ELBO after each iteration (entry 0: the initial state).
    theta_shape_, theta_rate_, beta_shape_, beta_rate_ : ndarray
        CAVI: parameters of ``q(theta)`` (n_users, K) and ``q(beta)`` (n_items, K).
    xi_shape_, xi_rate_, eta_shape_, eta_rate_ : ndarray
        CAVI: parameters of ``q(xi)`` and ``q(eta)``.
    theta_draws_, beta_draws_, xi_draws_, eta_draws_ : ndarray
        Gibbs: the kept draws (S, n_users, K), (S, n_items, K), (S, n_users), (S, n_items).
    traces_ : dict
        Gibbs: per-draw permutation-invariant quantities, shape (chain, draw, ...).
    tracked_ : ndarray
        (n, 2) user and item indices of the traced pairs.
    posterior : xarray.DataTree
        ArviZ posterior (dims ``chain``, ``draw``, ``user``, ``item``, ``latent``, ``pair``).

    Notes
    -----
    Defaults: chosen by NDCG@10 of the posterior-mean ranking (Eq. 1) on a validation split
    (20% of the training rows, seed 1) of the embedded MovieLens data's 80/20 split; the test
    split is never used to choose (``python -m experiments.bench_hpf --parts 4``).  Grid,
    stage 1 (one seed): CAVI at ranks 10, 20, 50, 100 and Gibbs at ranks 20, 50 over
    ``a = c`` in {0.1, 0.3, 1}, ``a' = c'`` in {0.3, 1, 3}, ``b'`` in {0.1, 1, 10}
    (``d' = 1``).  Stage 2 (two or three seeds): CAVI ``n_iter`` {50, 200} x ``init_scale``
    {0.01, 1} at each rank's best prior; Gibbs (two chains) ``burn_in + n_samples`` {100 +
    100, 200 + 200, 400 + 200} at ranks 20, 50, 100, ranks 10, 20, 30 x ``a = c`` {0.2, 0.3,
    0.5}, and 100 kept draws for the score.  Rule: the cheapest setting within 1% of the
    best, the paper's priors on ties.

    Winner: ``method="gibbs"``, rank 20, the paper's priors (``a = c = a' = c' = 0.3``,
    ``b' = d' = 1``), 2 chains of 100 + 100 sweeps, 20 kept draws: validation NDCG@10 0.164
    (the best, 200 + 200 sweeps, 0.165).  CAVI's best is 0.153 (rank 50, ``a' = c' = 1``,
    200 iterations), so Gibbs is about 8% better and is the default; at the shared rank and
    priors CAVI scores 0.150 with 50 iterations and ``init_scale`` 0.01 (its defaults).
    Findings: ``b'`` (equivalently ``b' d'``) from 0.1 to 10 changes nothing beyond seed noise;
    ``a = c = 0.1`` is worse everywhere; ``a = c = 1`` helps only CAVI at rank 10; larger
    ranks (50, 100) and longer chains do not help Gibbs.  Test NDCG@10 of the defaults (seeds
    0, 1, 2): Gibbs 0.255, 0.252, 0.255 (about 14 s a fit on the 80k training rows); CAVI
    0.227, 0.220, 0.224 (about 2 s); MostPopular 0.158.
    """

    _checks = {"rank": Integer(), "method": Choice("cavi", "gibbs"), "a": Real(),
               "a_prime": Real(), "b_prime": Real(), "c": Real(), "c_prime": Real(),
               "d_prime": Real(), "counts": Boolean(), "n_iter": Integer(),
               "tol": Real(low=0.0, closed="left"), "n_samples": Integer(),
               "burn_in": Integer(low=0), "thin": Integer(), "n_chains": Integer(),
               "n_predictive_draws": Integer(), "keep_factors": Boolean(),
               "n_tracked": Integer(low=0), "init_scale": Real(low=0.0, closed="left"),
               "n_jobs": Integer(), "verbose": Boolean(), "random_state": RandomState()}
    _test_params = {"rank": 2, "n_iter": 5, "n_samples": 4, "burn_in": 5, "n_chains": 1,
                    "n_predictive_draws": 4, "n_tracked": 3, "verbose": False}

    def __init__(self, rank: int = 20, method: str = "gibbs", a: float = 0.3,
                 a_prime: float = 0.3, b_prime: float = 1.0, c: float = 0.3,
                 c_prime: float = 0.3, d_prime: float = 1.0, counts: bool = False,
                 n_iter: int = 50, tol: float = 1e-5, n_samples: int = 100, burn_in: int = 100,
                 thin: int = 1, n_chains: int = 2, n_predictive_draws: int = 20,
                 keep_factors: bool = False, n_tracked: int = 20, init_scale: float = 0.01,
                 n_jobs: int = 1, verbose: bool = False, random_state=None):
        self.rank = rank
        self.method = method
        self.a = a
        self.a_prime = a_prime
        self.b_prime = b_prime
        self.c = c
        self.c_prime = c_prime
        self.d_prime = d_prime
        self.counts = counts
        self.n_iter = n_iter
        self.tol = tol
        self.n_samples = n_samples
        self.burn_in = burn_in
        self.thin = thin
        self.n_chains = n_chains
        self.n_predictive_draws = n_predictive_draws
        self.keep_factors = keep_factors
        self.n_tracked = n_tracked
        self.init_scale = init_scale
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, eval_set) -> dict:
        p = self._validated()
        y = interaction_counts(ratings, p["counts"])
        if not (y > 0).any():
            raise ValueError("no interaction with a positive count: nothing to learn from")
        data = build_data(ratings, y)
        prior = HPFPrior(p["rank"], p["a"], p["a_prime"], p["b_prime"], p["c"],
                         p["c_prime"], p["d_prime"])
        for name, what, rate in (("a_prime / b_prime", "activity xi", p["a_prime"] / p["b_prime"]),
                                 ("c_prime / d_prime", "popularity eta",
                                  p["c_prime"] / p["d_prime"])):
            # the prior rates of xi and eta: inf or 0 would make every draw degenerate
            if not np.isfinite(rate) or rate < np.finfo(float).tiny:
                raise ValueError(f"{name} = {rate:g}, the prior rate of the {what}, must be a "
                                 "finite positive float; the hyperparameters are too extreme")
        # separate streams: the tracked pairs (which depend on eval_set) never shift the fit
        fit_rng, track_rng, post_rng = check_random_state(p["random_state"]).spawn(3)
        tracked = self._tracked_pairs(ratings, eval_set, p["n_tracked"], track_rng)
        out = {"prior_": {"a": prior.a, "a_prime": prior.a_prime, "b_prime": prior.b_prime,
                          "c": prior.c, "c_prime": prior.c_prime, "d_prime": prior.d_prime},
               "rank_": prior.rank, "method_": p["method"], "tracked_": tracked,
               "settings_": {k: p[k] for k in ("n_chains", "n_samples", "keep_factors",
                                               "n_predictive_draws")}}
        if p["method"] == "cavi":
            out.update(self._fit_cavi(data, prior, p, fit_rng))
            out["posterior_seed_"] = int(post_rng.integers(2**63 - 1))
        else:
            out.update(self._fit_gibbs(data, prior, p, tracked, fit_rng))
        return out

    @staticmethod
    def _tracked_pairs(ratings, eval_set, n, rng) -> np.ndarray:
        """Up to ``n`` (user, item) index pairs: known held-out pairs, else training pairs."""
        if eval_set is not None:
            known = np.flatnonzero((eval_set.users >= 0) & (eval_set.items >= 0))
            if len(known):
                pick = np.sort(known[rng.choice(len(known), min(n, len(known)),
                                                replace=False)])
                return np.column_stack([eval_set.users[pick], eval_set.items[pick]])
        pick = np.sort(rng.choice(len(ratings), min(n, len(ratings)), replace=False))
        return np.column_stack([ratings.users[pick], ratings.items[pick]]).astype(np.int64)

    def _fit_cavi(self, data, prior, p, rng) -> dict:
        with progress_bar(p["n_iter"], "HPF CAVI", enabled=p["verbose"]) as bar:
            state, history, converged = _cavi.run(data, prior, p["n_iter"], p["tol"], rng,
                                                  p["init_scale"], bar)
        return {"theta_shape_": state.gs, "theta_rate_": state.gr,
                "xi_shape_": np.full(data.n_users, state.ks), "xi_rate_": state.kr,
                "beta_shape_": state.ls, "beta_rate_": state.lr,
                "eta_shape_": np.full(data.n_items, state.ts), "eta_rate_": state.tr,
                "elbo_": history, "converged_": bool(converged),
                "n_iter_": len(history) - 1}

    def _fit_gibbs(self, data, prior, p, tracked, rng) -> dict:
        from ....inference.chains import RunSettings, run_chains
        n_chains, draws = p["n_chains"], p["n_samples"]
        per_chain = -(-p["n_predictive_draws"] // n_chains)
        sampler = HPFGibbs(data, prior, tracked, _bank_schedule(draws, per_chain),
                           p["keep_factors"])
        settings = RunSettings(draws, p["burn_in"], p["thin"])
        results = run_chains(sampler, n_chains, settings, random_state=rng,
                             n_jobs=p["n_jobs"], progress=p["verbose"],
                             description="HPF Gibbs")
        traces = {k: np.stack([r.traces[k] for r in results]) for k in results[0].traces}
        # each field laid out (n, S, ...): the posterior-mean scores read the draws side by
        # side without a copy (side_by_side)
        (theta, beta, xi, eta), chain_of = stack_chain_draws(results, "bank", draw_axis=1)
        return {"theta_draws_": theta, "beta_draws_": beta, "xi_draws_": xi,
                "eta_draws_": eta, "draw_chain_": chain_of, "traces_": traces}

    # ------------------------------------------------------------------ posterior
    def _q_draw(self, rng, users):
        """One draw of ``theta`` (for ``users``) and ``beta`` (every item) from q."""
        theta = rng.gamma(self.theta_shape_[users], 1.0 / self.theta_rate_[users])
        beta = rng.gamma(self.beta_shape_, 1.0 / self.beta_rate_)
        return theta, beta

    @property
    def posterior(self):
        """ArviZ ``DataTree``: group ``posterior`` with dims ``chain``, ``draw`` and the
        permutation-invariant quantities (``rate`` at the tracked ``pair``s, ``total_rate``,
        ``theta_sum``, ``beta_sum``, ``xi_mean``, ``eta_mean``, Gibbs: ``log_lik``), plus
        ``theta`` (user, latent), ``beta`` (item, latent), ``xi`` (user), ``eta`` (item) of
        every draw with ``keep_factors``; otherwise those are in the group ``factor_draws``.
        For CAVI the draws come from the variational posterior (seeded at fit time)."""
        self._check_fitted()
        cached = vars(self).get("_posterior")
        if cached is None:
            cached = self._build_posterior()
            self._posterior = cached
        return cached

    def _cavi_posterior(self, n_chains: int, n_draws: int, n_keep: int) -> tuple[dict, dict]:
        """Draws from q, one at a time (memory of ``n_keep`` factor draws): the traced
        quantities of every draw and the factors of the first ``n_keep``."""
        rng = np.random.default_rng(self.posterior_seed_)
        u, i = self.tracked_[:, 0], self.tracked_[:, 1]
        n = n_chains * n_draws
        post = {"rate": np.empty((n, len(u)))}
        post.update({k: np.empty(n) for k in SCALARS if k != "log_lik"})
        params = {"theta": (self.theta_shape_, self.theta_rate_),
                  "beta": (self.beta_shape_, self.beta_rate_),
                  "xi": (self.xi_shape_, self.xi_rate_), "eta": (self.eta_shape_, self.eta_rate_)}
        kept = {k: np.empty((n_keep,) + shp.shape) for k, (shp, _) in params.items()}
        for s in range(n):  # loop over draws only
            d = {k: rng.gamma(shp, 1.0 / rte) for k, (shp, rte) in params.items()}
            post["rate"][s] = np.einsum("nk,nk->n", d["theta"][u], d["beta"][i])
            post["total_rate"][s] = d["theta"].sum(0) @ d["beta"].sum(0)
            post["theta_sum"][s] = d["theta"].sum()
            post["beta_sum"][s] = d["beta"].sum()
            post["xi_mean"][s] = d["xi"].mean()
            post["eta_mean"][s] = d["eta"].mean()
            if s < n_keep:
                for k, v in d.items():
                    kept[k][s] = v
        return post, kept

    def _build_posterior(self):
        import arviz as az
        train = self.train_
        st = self.settings_
        coords = {"user": train.user_ids, "item": train.item_ids,
                  "latent": np.arange(self.rank_), "pair": np.arange(len(self.tracked_))}
        dims = {"theta": ["user", "latent"], "beta": ["item", "latent"], "xi": ["user"],
                "eta": ["item"], "rate": ["pair"]}
        groups = {}
        n_chains = st["n_chains"]
        if self.method_ == "cavi":
            n_draws = st["n_samples"]
            n_keep = n_chains * n_draws if st["keep_factors"] else min(
                st["n_predictive_draws"], n_chains * n_draws)
            post, factors = self._cavi_posterior(n_chains, n_draws, n_keep)
            post = {k: v.reshape((n_chains, n_draws) + v.shape[1:]) for k, v in post.items()}
            chains_of_factors = n_chains if st["keep_factors"] else 1
        else:
            post = dict(self.traces_)
            factors = {"theta": self.theta_draws_, "beta": self.beta_draws_,
                       "xi": self.xi_draws_, "eta": self.eta_draws_}
            counts = np.bincount(self.draw_chain_, minlength=n_chains)
            chains_of_factors = n_chains if np.all(counts == counts[0]) else 1
        factors = {k: v.reshape((chains_of_factors, -1) + v.shape[1:])
                   for k, v in factors.items()}
        if st["keep_factors"]:
            post.update(factors)
        else:
            groups["factor_draws"] = factors
        groups["posterior"] = post
        dt = az.from_dict(groups, dims=dims, coords=coords)
        dt["posterior"].attrs.update({"inference": f"bayesrec HPF {self.method_}"})
        return dt

    def diagnostics(self, var_names=None):
        """Mean, sd, bulk/tail ESS, MCSE and r_hat of the permutation-invariant quantities."""
        from ....inference.arviz_io import diagnostics_table
        post = self.posterior["posterior"]
        names = var_names or [v for v in (*SCALARS, "rate") if v in post.data_vars]
        return diagnostics_table(self.posterior, names)

    # ------------------------------------------------------------------ scoring
    def _check_options(self, strategy: str = "mean", random_state=None) -> None:
        check_choice("strategy", strategy, _STRATEGIES)
        if random_state is not None and not isinstance(random_state, np.random.Generator):
            check_random_state(random_state)

    def _score_users(self, users, strategy: str = "mean", random_state=None) -> np.ndarray:
        self._check_options(strategy, random_state)
        users = np.asarray(users, dtype=np.int64)
        if self.method_ == "cavi":
            if strategy == "thompson":
                theta, beta = self._q_draw(check_random_state(random_state), users)
                return theta @ beta.T
            return (self.theta_shape_[users] / self.theta_rate_[users]) @ (
                self.beta_shape_ / self.beta_rate_).T
        if strategy == "thompson":
            # one kept draw per user, so different users' lists come from independent picks
            pick = check_random_state(random_state).integers(len(self.theta_draws_),
                                                             size=len(users))
            out = np.empty((len(users), self.beta_draws_.shape[1]))
            for s in np.unique(pick):  # loop over the kept draws only
                rows = np.flatnonzero(pick == s)
                out[rows] = self.theta_draws_[s, users[rows]] @ self.beta_draws_[s].T
            return out
        # average of theta_u . beta_i over the kept draws, as one product of width S*K
        n_draws = len(self.theta_draws_)
        tu = np.moveaxis(self.theta_draws_[:, users], 0, 1).reshape(len(users), -1)
        return (tu @ side_by_side(self, "beta_draws_").T) / n_draws

    def _item_embeddings(self) -> np.ndarray:
        """CAVI: ``E_q[beta_i]``; Gibbs: the kept draws of ``beta_i`` side by side (their
        cosine is label-switching safe)."""
        if self.method_ == "cavi":
            return self.beta_shape_ / self.beta_rate_
        return side_by_side(self, "beta_draws_")

    def recommend(self, user, k: int = 10, exclude_seen: bool = True, strategy: str = "mean",
                  random_state=None):
        """Top-k items for a user (original id): ``strategy="mean"`` ranks by the posterior
        mean rate, ``"thompson"`` by one posterior draw (from ``random_state``).  A user
        without training interactions gets item popularity."""
        return super().recommend(user, k, exclude_seen, strategy=strategy,
                                 random_state=random_state)
