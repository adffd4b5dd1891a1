"""Bayesian SVD++ by a hand-written, vectorized Gibbs sampler.

Model (SVD++: Koren, KDD 2008; fully Bayesian as in libFM's MCMC, Rendle 2013, and "flipped"
as in Rendle, Zhang & Koren 2019, "On the Difficulty of Evaluating Baselines")::

    r_ui ~ N(mu + b_u + c_i + w_u + w_i + p_u . q_i, 1/alpha)
    p_u = u_u + |N(u)|^-1/2 sum_{j in N(u)} y_j + sum_f x_uf g_f        (user side)
    q_i = v_i + |N(i)|^-1/2 sum_{w in N(i)} z_w + sum_f a_if h_f        (item side)
    w_u = sum_f x_uf gamma_f,   w_i = sum_f a_if beta_f                  (linear side terms)

``mu`` is the training mean (a fixed offset, as in BPMF).  ``N(u)``: the items ``u`` rated in
training, plus the optional extra ``implicit`` pairs (e.g. items rated later with unknown
values: the Netflix-prize protocol; off by default).  ``N(i)``: the users who rated ``i``
(``flipped=True``; ``False`` gives classic SVD++).  ``x_uf`` / ``a_if``: optional user / item
features (e.g. :func:`genre_features` from ``movies.csv``), each with a factor and a linear
weight.

Priors::

    u_u ~ N(mu_U, Lambda_U^-1),  v_i ~ N(mu_V, Lambda_V^-1)
    y_j ~ N(mu_Y, Lambda_Y^-1),  z_w ~ N(mu_Z, Lambda_Z^-1),  g_f, h_f likewise per group
    every (mu, Lambda) ~ NormalWishart(mu0 = 0, beta0, nu0 = K, W0 = I)
    b_u ~ N(0, 1/tau_b), c_i ~ N(0, 1/tau_c), gamma_f ~ N(0, 1/tau_gamma), beta_f likewise,
    every tau ~ Gamma(a, b);   alpha fixed (default 1.5) or ~ Gamma(a_alpha, b_alpha)

Why Normal-Wishart per group rather than libFM's Normal-Gamma per dimension: (1) it is
rotation invariant (with ``mu0 = 0, W0 = I``), so the posterior of every prediction is
unchanged by the factors' rotation ambiguity and diagnostics on predictions and norms are
meaningful; a per-coordinate prior singles out axes that the likelihood does not;
(2) it lets factors be correlated (learned ``Lambda``), which per-coordinate precisions
cannot; (3) it is BPMF's conjugate block, reused unchanged (``K x K`` algebra per group and
sweep, negligible).  The Gibbs sweep is in :mod:`._sweep` (tested against a brute-force
dense computation of every conditional, a Geweke test and the PyMC twin
``models/bayesian_svdpp.py``): the bag factors are drawn with the own rows integrated out,
and exact moves with the Normal-Wishart blocks integrated out (:mod:`._moves`: the split
between own factor and bag offset, a global scale and GL(K) move, translations) cross the
likelihood's flat directions that single-block Gibbs steps cross only slowly.

Identifiability: as in BPMF, raw factor entries are not identified; ``posterior`` and
:meth:`BayesianSVDpp.diagnostics` use predictions, norms, ``alpha`` and precisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..._validation import (
    Anything,
    Boolean,
    Directory,
    Integer,
    OptionalCheck,
    RandomState,
    Real,
    check_bool,
    check_choice,
    check_positive,
    check_probability,
)
from ...base import RatingModel
from ...data import Ratings
from ...inference.chains import RunSettings, run_chains
from ...inference.draw_bank import stack_chain_draws
from ...inference.normal_wishart import NormalWishart
from ...parallel import check_n_jobs
from ...rng import check_random_state
from ..bpmf._predict import Bank
from ..bpmf._sampler import bank_schedule
from ..bpmf._sweep import BPMFPrior, SweepData, check_noise_precision
from ._design import build_bags
from ._sampler import BANK_FIELDS, SVDppSampler
from ._sweep import SVDppData, SVDppPrior

_SCALARS = ["alpha", "train_rmse", "test_rmse", "P_norm", "Q_norm", "U_norm", "V_norm",
            "Y_norm", "Z_norm", "tau_b", "tau_c"]


class BayesianSVDpp(RatingModel):
    """Bayesian SVD++ (implicit feedback, optional side features) by Gibbs sampling.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    flipped : bool
        Give items the bag of their raters too (``z_w`` terms); ``False``: classic SVD++.
    item_features, user_features : DataFrame or None
        Side features indexed by the original item / user ids (numeric columns; every id
        with training ratings needs a row).  E.g. ``genre_features(movies)``.
    implicit : Ratings, DataFrame (columns ``user``, ``item``) or None
        Extra implicit interactions added to ``N(u)`` (their values, if any, are ignored).
        Off by default: using the held-out pairs here is the Netflix-prize protocol and must
        be an explicit choice.
    n_chains, burn_in, n_samples, thin : int
        Chains, discarded sweeps per chain, retained draws per chain, thinning.
    alpha : float or "sample"
        Observation precision: fixed (default 1.5) or ``"sample"``: drawn under
        ``Gamma(*alpha_prior)``.  The default is the winner of a validation search on the
        embedded MovieLens data (20% of the training rows of ``random_split(..., 0.2,
        rng=0)``, split with seed 1; rank 10, 1 chain x (50 + 200) sweeps, seeds 0 and 1,
        validation RMSE): alpha 0.75 / 1.0 / 1.25 / **1.5** / 2.0 / 2.5 / 3.0 / sampled gave
        0.8287 / 0.8197 / 0.8161 / **0.8155** / 0.8214 / 0.8312 / 0.8445 / 0.8265.  Sampled,
        alpha climbs to about 2.3 (the training residuals) and every draw fits the training
        ratings more closely than held-out ones warrant; a fixed noise precision below that
        keeps the factors shrunk, as BPMF's fixed ``alpha = 2`` does (Salakhutdinov & Mnih
        2008).
    beta0, nu0 : Normal-Wishart hyperparameters of every factor group (``nu0=None``: K).
    bias_prior, linear_prior, alpha_prior : (shape, rate)
        Gamma priors of the bias precisions, the linear feature-weight precisions, alpha.
    n_predictive_draws : int
        Parameter draws kept (over all chains) for predictions at arbitrary pairs.
    n_tracked : int
        Evaluation cells whose per-draw predictions go into ``posterior``.
    init_scale : float
        Standard deviation of the random initial factors.
    n_jobs : int
        Processes for the chains (same numbers as ``n_jobs=1``).
    checkpoint_dir, checkpoint_every :
        Save each chain every ``checkpoint_every`` sweeps; a rerun resumes exactly.
    verbose : bool
        Show a progress bar.
    random_state : int or Generator

    Attributes
    ----------
    posterior_ : xarray.DataTree
        Rotation-invariant traces (chain, draw): ``alpha``, norms, precisions, train/test
        RMSE per draw, ``test_pred`` (dims ``eval_cell``).
    eval_mean_, eval_std_ : ndarray
        Posterior mean (clipped) and sd of the mean rating on ``eval_set``.
    running_test_rmse_ : (chain, draw) ndarray
        Test RMSE of each chain's running posterior mean.

    Notes
    -----
    Prediction: ``E[r_ui] = mu + E[b_u + c_i + w_u + w_i + p_u . q_i | data]``, a Monte Carlo
    mean over the kept draws.  An unknown user (item) is integrated over its prior given
    each draw's hyperparameters (``p_u ~ N(mu_U, Lambda_U^-1)``, ``b_u ~ N(0, 1/tau_b)``),
    exactly as in :class:`~bayesrec.factorization.BPMF`.
    """

    _checks = {"rank": Integer(), "flipped": Boolean(), "n_chains": Integer(),
               "burn_in": Integer(low=0), "n_samples": Integer(), "thin": Integer(),
               "beta0": Real(), "nu0": OptionalCheck(Real()), "n_predictive_draws": Integer(),
               "n_tracked": Integer(), "init_scale": Real(), "n_jobs": Anything(),
               "checkpoint_every": Integer(), "verbose": Boolean(),
               "checkpoint_dir": OptionalCheck(Directory()),
               "random_state": RandomState()}
    _test_params = {"rank": 2, "burn_in": 2, "n_samples": 4, "n_chains": 1,
                    "n_predictive_draws": 4, "n_tracked": 5, "verbose": False}
    _strategies = ("mean", "thompson", "lower_bound")

    def __init__(self, rank: int = 10, flipped: bool = True, item_features=None,
                 user_features=None, implicit=None, n_chains: int = 2, burn_in: int = 50,
                 n_samples: int = 150, thin: int = 1, alpha=1.5, beta0: float = 2.0,
                 nu0: float | None = None, bias_prior=(1.0, 1.0), linear_prior=(1.0, 1.0),
                 alpha_prior=(1.0, 1.0), n_predictive_draws: int = 50, n_tracked: int = 100,
                 init_scale: float = 0.1, n_jobs: int = 1, checkpoint_dir=None,
                 checkpoint_every: int = 50, verbose: bool = True, random_state=None):
        self.rank = rank
        self.flipped = flipped
        self.item_features = item_features
        self.user_features = user_features
        self.implicit = implicit
        self.n_chains = n_chains
        self.burn_in = burn_in
        self.n_samples = n_samples
        self.thin = thin
        self.alpha = alpha
        self.beta0 = beta0
        self.nu0 = nu0
        self.bias_prior = bias_prior
        self.linear_prior = linear_prior
        self.alpha_prior = alpha_prior
        self.n_predictive_draws = n_predictive_draws
        self.n_tracked = n_tracked
        self.init_scale = init_scale
        self.n_jobs = n_jobs
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _prior(self) -> SVDppPrior:
        k = check_positive("rank", self.rank, integer=True)
        nu0 = float(k if self.nu0 is None else check_positive("nu0", self.nu0))
        if nu0 <= k - 1:
            raise ValueError(f"nu0 must exceed rank - 1 = {k - 1}, got {self.nu0!r}")
        nw = NormalWishart(np.zeros(k), check_positive("beta0", self.beta0), nu0, np.eye(k))
        if isinstance(self.alpha, str):
            if self.alpha != "sample":
                raise ValueError(f"alpha must be 'sample' or a positive number, got "
                                 f"{self.alpha!r}")
            alpha = None
        else:
            alpha = check_noise_precision(self.alpha)
        pr = {}
        for name in ("bias_prior", "linear_prior", "alpha_prior"):
            val = getattr(self, name)
            if not isinstance(val, (tuple, list)) or len(val) != 2:
                raise ValueError(f"{name} must be (shape, rate), got {val!r}")
            pr[name] = (check_positive(f"{name} shape", val[0]),
                        check_positive(f"{name} rate", val[1]))
        own = BPMFPrior(k, nw, 1.0, True, *pr["bias_prior"], alpha, *pr["alpha_prior"],
                        rescale=False)
        return SVDppPrior(own, nw, *pr["linear_prior"])

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, eval_set) -> dict:
        """Sample the posterior given ``ratings``; the optional held-out ``eval_set`` is
        predicted at every retained draw (running mean, per-draw test RMSE), never learned
        from."""
        prior = self._prior()
        p = self._validated()
        n_samples, n_chains = p["n_samples"], p["n_chains"]
        n_jobs = check_n_jobs(self.n_jobs)
        n_bank = -(-p["n_predictive_draws"] // n_chains)
        bag_u, bag_v = build_bags(ratings, bool(self.flipped), self.item_features,
                                  self.user_features, self.implicit)
        data = SVDppData(SweepData(ratings), bag_u, bag_v)
        ev = None if eval_set is None else (eval_set.users, eval_set.items, eval_set.ratings)
        ev_kw = {} if ev is None else dict(eval_users=ev[0], eval_items=ev[1],
                                           eval_ratings=ev[2])
        sampler = SVDppSampler(data, prior, rating_scale=ratings.rating_scale,
                               n_tracked=p["n_tracked"],
                               bank_draws=bank_schedule(n_samples, n_bank),
                               init_scale=p["init_scale"], **ev_kw)
        settings = RunSettings(n_samples, p["burn_in"], p["thin"],
                               None if self.checkpoint_dir is None else str(self.checkpoint_dir),
                               p["checkpoint_every"])
        results = run_chains(sampler, n_chains, settings, self.random_state, n_jobs=n_jobs,
                             progress=p["verbose"], description="Bayesian SVD++ Gibbs")
        traces = {k: np.stack([r.traces[k] for r in results]) for k in results[0].traces}
        fields, chain_of = stack_chain_draws(results, "bank", dtype=np.float64)
        out = {f"bank_{name}_": field for name, field in zip(BANK_FIELDS, fields)}
        out["bank_chain_"] = chain_of
        out["global_mean_"] = data.offset
        out["n_sweeps_"] = int(sum(r.n_sweeps for r in results))
        out["bag_groups_"] = np.array([f"user:{n}" for n in bag_u.names]
                                      + [f"item:{n}" for n in bag_v.names])
        if ev is not None:
            n = sum(r.accumulator["n"] for r in results)
            s1 = sum(r.accumulator["sum"] for r in results)
            s2 = sum(r.accumulator["sumsq"] for r in results)
            mean = s1 / n
            scale = ratings.rating_scale
            out["eval_mean_"] = mean if scale is None else np.clip(mean, *scale)
            out["eval_std_"] = np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
            out["eval_noise_var_"] = sum(r.accumulator["inv_alpha"] for r in results) / n
            out["running_test_rmse_"] = np.stack([r.accumulator["running_rmse"]
                                                  for r in results])
            out["eval_ratings_"] = ev[2]
        out["posterior_"] = self._datatree(traces, ratings, prior.rank,
                                           sampler.tracked if ev is not None else None)
        return out

    @staticmethod
    def _datatree(traces: dict, ratings: Ratings, rank: int, tracked):
        from ...inference.arviz_io import to_datatree
        tr = dict(traces)
        stats = {"jitter_total": tr.pop("jitter_total")}
        coords = {"latent": np.arange(rank)}
        dims = {}
        if "test_pred" in tr:
            coords["eval_cell"] = tracked
            dims["test_pred"] = ["eval_cell"]
        return to_datatree(tr, dims, coords, stats,
                           attrs={"sampler": "bayesrec Bayesian SVD++ Gibbs"})

    # ------------------------------------------------------------------ posterior
    @property
    def posterior(self):
        """ArviZ DataTree (dims ``chain, draw, ...``) of the rotation-invariant traces."""
        self._check_fitted()
        return self.posterior_

    def diagnostics(self, var_names=None) -> pd.DataFrame:
        """ArviZ summary (mean, sd, ESS, MCSE, r_hat) of the rotation-invariant scalars."""
        from ...inference.arviz_io import diagnostics_table
        post = self.posterior["posterior"]
        names = var_names or [v for v in _SCALARS if v in post.data_vars]
        if self.alpha != "sample" and var_names is None:
            names = [v for v in names if v != "alpha"]
        return diagnostics_table(self.posterior, names)

    def _bank(self) -> Bank:
        """BPMF's predictive bank over the kept draws of the totals ``P``, ``Q``."""
        bank = Bank.__new__(Bank)
        for field, name in zip(("xu", "xv", "alpha", "mu_u", "lam_u", "mu_v", "lam_v",
                                "tau_b", "tau_c"), BANK_FIELDS):
            setattr(bank, field, getattr(self, f"bank_{name}_"))
        bank.rank, bank.biases, bank.offset = self.bank_pu_.shape[2] - 1, True, self.global_mean_
        bank.sig_u = np.linalg.inv(bank.lam_u)
        bank.sig_v = np.linalg.inv(bank.lam_v)
        return bank

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, users, items):
        return self._bank().mean_std(np.asarray(users), np.asarray(items))[0]

    def _check_options(self, strategy: str = "mean", prob: float = 0.9, random_state=None):
        check_choice("strategy", strategy, self._strategies)
        check_probability("prob", prob)
        if random_state is not None and not isinstance(random_state, np.random.Generator):
            check_random_state(random_state)

    def _score_users(self, users, strategy: str = "mean", prob: float = 0.9,
                     random_state=None):
        self._check_options(strategy, prob, random_state)
        bank = self._bank()
        users = np.asarray(users, dtype=np.int64)
        if strategy == "thompson":
            rng = check_random_state(random_state)
            return bank.score_block(users, draw=int(rng.integers(bank.n_draws)))
        if strategy == "lower_bound":
            mean, sd = bank.score_moments(users)
            return mean - norm.ppf(prob) * sd
        return bank.score_block(users)

    def predict(self, users, items, return_std: bool = False, noise: bool = False):
        """Posterior-mean rating at original ids; ``return_std=True`` also returns its
        posterior sd (of the mean rating; ``noise=True``: of the rating, adding ``1/alpha``)."""
        return_std = check_bool("return_std", return_std)  # "False" is a true string
        if check_bool("noise", noise) and not return_std:
            raise ValueError("noise=True changes only the returned sd: pass return_std=True")
        if not return_std:
            return super().predict(users, items)
        u, i = self._indices(users, items)
        mean, sd = self._bank().mean_std(u, i, noise=noise)
        return self._clip(mean), sd

    def predict_interval(self, users, items, prob: float = 0.9) -> np.ndarray:
        """Central ``prob`` posterior predictive interval of the rating (noise included),
        shape (n, 2), clipped to the rating scale."""
        prob = check_probability("prob", prob)
        u, i = self._indices(users, items)
        return self._clip(self._bank().interval(u, i, prob))

    def recommend(self, user, k: int = 10, exclude_seen: bool = True, strategy: str = "mean",
                  prob: float = 0.9, random_state=None) -> pd.DataFrame:
        """Top-k items for a user.

        ``strategy``: ``"mean"`` (posterior mean rating), ``"thompson"`` (one posterior draw,
        picked with ``random_state``: Thompson sampling) or ``"lower_bound"`` (mean minus
        ``Phi^-1(prob)`` posterior sds).  An unknown user gets the prior-predictive mean
        ranking.
        """
        return super().recommend(user, k, exclude_seen, strategy=strategy, prob=prob,
                                 random_state=random_state)
