"""Bayesian probabilistic matrix factorization by a hand-written, vectorized Gibbs sampler.

Salakhutdinov & Mnih, "Bayesian Probabilistic Matrix Factorization using Markov Chain Monte
Carlo", ICML 2008.  Model (``mu`` = training mean, a fixed offset as in the paper's code)::

    r_ij | .  ~ N(mu + b_i + c_j + u_i . v_j, 1/alpha)
    u_i ~ N(mu_U, Lambda_U^-1),   v_j ~ N(mu_V, Lambda_V^-1)
    (mu_U, Lambda_U), (mu_V, Lambda_V) ~ NormalWishart(mu0 = 0, beta0 = 2, nu0 = K, W0 = I)
    b_i ~ N(0, 1/tau_b),  c_j ~ N(0, 1/tau_c),  tau_b, tau_c ~ Gamma(a, b)   (biases=True)
    alpha = 2 (paper) or alpha ~ Gamma(a_alpha, b_alpha) with alpha="sample"

``biases=False`` is the paper's model exactly.  ``hyperprior=False`` fixes ``mu_U = mu_V = 0``,
``Lambda_U = Lambda_V = factor_precision * I``: plain PMF (Salakhutdinov & Mnih, NIPS 2007),
sampled instead of optimized.  The sweep is in :mod:`._sweep`; the chain driver in
:mod:`bayesrec.inference.chains`.

Identifiability: ``(U R, V R)`` has the same likelihood and (with ``mu0 = 0, W0 = I``) the
same prior density for any rotation ``R``, so raw factor entries are not identified and their
r_hat is meaningless.  Diagnostics (``posterior``, :meth:`BPMF.diagnostics`) are computed on
rotation-invariant quantities: ``||U||_F``, ``||V||_F``, ``alpha``, ``||mu_U||``, ``||mu_V||``,
bias precisions, train RMSE per draw and held-out predictions / test RMSE per draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...base import RatingModel, check_positive, check_probability
from ...data import Ratings
from ...inference.chains import RunSettings, run_chains
from ...inference.normal_wishart import NormalWishart
from ...rng import check_random_state
from ._predict import Bank
from ._sampler import BPMFSampler, bank_schedule
from ._sweep import BPMFPrior, SweepData

_SCALARS = ["alpha", "U_norm", "V_norm", "mu_U_norm", "mu_V_norm", "tau_b", "tau_c",
            "train_rmse", "test_rmse"]


class BPMF(RatingModel):
    """Bayesian PMF fitted by Gibbs sampling.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    n_samples : int
        Retained draws per chain (after burn-in and thinning).
    burn_in : int
        Sweeps discarded at the start of each chain.
    thin : int
        Keep every ``thin``-th sweep after burn-in.
    n_chains : int
        Independent chains (streams spawned from ``random_state``).
    alpha : float or "sample"
        Observation precision: fixed (paper: 2) or sampled under ``Gamma(*alpha_prior)``.
    biases : bool
        Add user and item biases with Gamma-hyperprior precisions.
    hyperprior : bool
        Normal-Wishart hyperpriors (BPMF); ``False`` gives plain PMF with ``factor_precision``.
    beta0, nu0, W0, mu0 :
        Normal-Wishart hyperparameters (defaults 2, K, I, 0 as in the paper).
    factor_precision : float
        ``lambda`` of the factor prior ``N(0, I/lambda)`` when ``hyperprior=False``.
    bias_prior, alpha_prior : (shape, rate)
        Gamma priors of the bias precisions and of ``alpha`` (when sampled).
    keep_factors : bool
        Store every retained draw of U, V (and biases) in ``posterior`` (memory: draws x
        (n_users + n_items) x K floats).  Default: only ``n_predictive_draws`` evenly spaced
        draws are kept (the *bank*) for predictions at arbitrary pairs, and running sums over
        the evaluation set.
    n_predictive_draws : int
        Size of the bank over all chains (ignored with ``keep_factors``).
    n_tracked : int
        Number of evaluation cells whose per-draw predictions go into ``posterior``.
    n_jobs : int
        Processes for the chains (same numbers as ``n_jobs=1``).  Workers are *spawned*
        (not forked: numba / BLAS threads are not fork-safe), so a script using
        ``n_jobs > 1`` needs the usual ``if __name__ == "__main__":`` guard.
    checkpoint_dir, checkpoint_every :
        Save each chain every ``checkpoint_every`` sweeps; a rerun with the same directory
        resumes exactly (see :mod:`bayesrec.inference.chains`).
    init_scale : float
        Standard deviation of the random initial factors.
    progress : bool
        Show a progress bar.
    random_state : int or Generator

    Attributes
    ----------
    posterior : xarray.DataTree
        ArviZ object, dims ``(chain, draw, ...)``, coords ``user``, ``item``, ``latent``.
    eval_mean_, eval_std_ : ndarray
        Posterior mean (clipped) and sd of the mean rating on the evaluation set, from all draws.
    running_test_rmse_ : (chain, draw) ndarray
        Test RMSE of each chain's running posterior mean.

    Notes
    -----
    Prediction equation: ``E[r_ij] = mu + E[b_i + c_j + u_i . v_j | data]``, a Monte Carlo mean
    over the bank.  Users or items without training ratings are integrated over their prior
    given each draw's hyperparameters (see :mod:`._predict`); ``predict`` thus falls back
    to the prior predictive, never an error.
    """

    def __init__(self, rank: int = 10, n_samples: int = 200, burn_in: int = 100, thin: int = 1,
                 n_chains: int = 2, alpha=2.0, biases: bool = True,
                 hyperprior: bool = True, beta0: float = 2.0, nu0: float | None = None,
                 W0=None, mu0=None, factor_precision: float = 1.0,
                 bias_prior=(1.0, 1.0), alpha_prior=(1.0, 1.0), keep_factors: bool = False,
                 n_predictive_draws: int = 50, n_tracked: int = 100, n_jobs: int = 1,
                 checkpoint_dir=None, checkpoint_every: int = 50, init_scale: float = 0.5,
                 backend: str = "numba", progress: bool = True, random_state=None):
        self.rank = rank
        self.n_samples = n_samples
        self.burn_in = burn_in
        self.thin = thin
        self.n_chains = n_chains
        self.alpha = alpha
        self.biases = biases
        self.hyperprior = hyperprior
        self.beta0 = beta0
        self.nu0 = nu0
        self.W0 = W0
        self.mu0 = mu0
        self.factor_precision = factor_precision
        self.bias_prior = bias_prior
        self.alpha_prior = alpha_prior
        self.keep_factors = keep_factors
        self.n_predictive_draws = n_predictive_draws
        self.n_tracked = n_tracked
        self.n_jobs = n_jobs
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.init_scale = init_scale
        self.backend = backend
        self.progress = progress
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _prior(self) -> BPMFPrior:
        k = check_positive("rank", self.rank, integer=True)
        nw = None
        if self.hyperprior:
            mu0 = np.zeros(k) if self.mu0 is None else np.asarray(self.mu0, float)
            w0 = np.eye(k) if self.W0 is None else np.asarray(self.W0, float)
            if mu0.shape != (k,):
                raise ValueError(f"mu0 must have shape ({k},), got {mu0.shape}")
            if w0.shape != (k, k):
                raise ValueError(f"W0 must have shape ({k}, {k}), got {w0.shape}")
            # a nan / inf hyperparameter would only surface deep in the sampler (nan draws,
            # or a slice sampler that never finds its slice): refuse it here
            for name, value in (("mu0", mu0), ("W0", w0)):
                if not np.isfinite(value).all():
                    raise ValueError(f"{name} must be finite (it has nan or inf entries)")
            if not np.allclose(w0, w0.T, rtol=1e-10, atol=0.0):
                raise ValueError("W0 must be symmetric")
            if np.linalg.eigvalsh(w0).min() <= 0:
                raise ValueError("W0 must be positive definite")
            nu0 = k if self.nu0 is None else check_positive("nu0", self.nu0)
            nw = NormalWishart(mu0, check_positive("beta0", self.beta0), float(nu0), w0)
        if isinstance(self.alpha, str):
            if self.alpha != "sample":
                raise ValueError(f"alpha must be a positive number or 'sample', got "
                                 f"{self.alpha!r}")
            alpha = None
        else:
            alpha = check_positive("alpha", self.alpha)
        for name, pr in (("bias_prior", self.bias_prior), ("alpha_prior", self.alpha_prior)):
            if not isinstance(pr, (tuple, list, np.ndarray)) or len(pr) != 2:
                raise ValueError(f"{name} must be (shape, rate), got {pr!r}")
            check_positive(f"{name} shape", pr[0])
            check_positive(f"{name} rate", pr[1])
        if not isinstance(self.biases, (bool, np.bool_)):
            raise ValueError(f"biases must be True or False, got {self.biases!r}")
        if self.backend not in ("numba", "numpy"):
            raise ValueError(f"backend must be 'numba' or 'numpy', got {self.backend!r}")
        return BPMFPrior(k, nw, check_positive("factor_precision", self.factor_precision),
                         bool(self.biases), float(self.bias_prior[0]), float(self.bias_prior[1]),
                         alpha, float(self.alpha_prior[0]), float(self.alpha_prior[1]))

    # ------------------------------------------------------------------ fitting
    def fit(self, ratings: Ratings, test: Ratings | None = None):
        """Sample the posterior given ``ratings``; optional held-out ``test`` ratings are
        predicted at every retained draw (running mean, per-draw test RMSE)."""
        if test is not None and not isinstance(test, Ratings):
            raise TypeError(f"test must be a bayesrec.data.Ratings, got {type(test).__name__}")
        self._test = test
        try:
            return super().fit(ratings)
        finally:
            del self._test

    def _fit(self, ratings: Ratings) -> None:
        prior = self._prior()
        n_samples = check_positive("n_samples", self.n_samples, integer=True)
        burn_in = check_positive("burn_in", self.burn_in, integer=True, allow_zero=True)
        thin = check_positive("thin", self.thin, integer=True)
        n_chains = check_positive("n_chains", self.n_chains, integer=True)
        n_jobs = check_positive("n_jobs", self.n_jobs, integer=True)
        every = check_positive("checkpoint_every", self.checkpoint_every, integer=True)
        n_bank = n_samples if self.keep_factors else -(-check_positive(
            "n_predictive_draws", self.n_predictive_draws, integer=True) // n_chains)
        data = SweepData(ratings)
        ev = {}
        test = self._test
        if test is not None and len(test):
            if test.user_ids is ratings.user_ids and test.item_ids is ratings.item_ids:
                eu, ei = test.users.astype(np.int64), test.items.astype(np.int64)
            else:
                eu = ratings.user_index(test.user_ids[test.users])
                ei = ratings.item_index(test.item_ids[test.items])
            ev = dict(eval_users=eu, eval_items=ei, eval_ratings=test.ratings)
        sampler = BPMFSampler(data, prior, rating_scale=ratings.rating_scale,
                              n_tracked=check_positive("n_tracked", self.n_tracked, integer=True),
                              bank_draws=bank_schedule(n_samples, n_bank),
                              init_scale=check_positive("init_scale", self.init_scale),
                              backend=self.backend, **ev)
        settings = RunSettings(n_samples, burn_in, thin,
                               None if self.checkpoint_dir is None else str(self.checkpoint_dir),
                               every)
        results = run_chains(sampler, n_chains, settings, self.random_state, n_jobs=n_jobs,
                             progress=self.progress, description="BPMF Gibbs")
        self.prior_ = prior
        self.offset_ = data.offset
        self.n_sweeps_ = sum(r.n_sweeps for r in results)
        self.traces_ = {k: np.stack([r.traces[k] for r in results]) for k in results[0].traces}
        self.final_states_ = [r.state for r in results]
        draws = [d for r in results for d in r.accumulator["bank"]]
        self.bank_ = Bank(draws, prior.rank, prior.biases, data.offset)
        self._bank_chains = np.repeat(np.arange(n_chains),
                                      [len(r.accumulator["bank"]) for r in results])
        self._posterior = None
        if ev:
            n = sum(r.accumulator["n"] for r in results)
            s1 = sum(r.accumulator["sum"] for r in results)
            s2 = sum(r.accumulator["sumsq"] for r in results)
            mean = s1 / n
            self.eval_mean_ = self._clip(mean)
            self.eval_std_ = np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
            self.eval_noise_var_ = sum(r.accumulator["inv_alpha"] for r in results) / n
            self.running_test_rmse_ = np.stack([r.accumulator["running_rmse"] for r in results])
            self.eval_ratings_ = np.asarray(test.ratings)
            self.eval_tracked_ = sampler.tracked

    # ------------------------------------------------------------------ posterior
    @property
    def posterior(self):
        """ArviZ DataTree (dims ``chain, draw, ...``) of the rotation-invariant traces, plus
        ``U``, ``V`` (``user``/``item`` x ``latent``) and biases when ``keep_factors``."""
        self._check_fitted()
        if self._posterior is None:
            from ...inference.arviz_io import to_datatree
            tr = dict(self.traces_)
            stats = {"jitter_total": tr.pop("jitter_total")}
            dims = {"test_pred": ["eval_cell"]}
            coords = {"user": self.train_.user_ids, "item": self.train_.item_ids,
                      "latent": np.arange(self.prior_.rank)}
            if "test_pred" in tr:
                coords["eval_cell"] = self.eval_tracked_
            if self.keep_factors:
                k = self.prior_.rank
                n_chains = tr["alpha"].shape[0]
                xu = self.bank_.xu.reshape(n_chains, -1, *self.bank_.xu.shape[1:])
                xv = self.bank_.xv.reshape(n_chains, -1, *self.bank_.xv.shape[1:])
                tr["U"], tr["V"] = xu[..., :k], xv[..., :k]
                dims.update(U=["user", "latent"], V=["item", "latent"])
                if self.prior_.biases:
                    tr["b"], tr["c"] = xu[..., k], xv[..., k]
                    dims.update(b=["user"], c=["item"])
            self._posterior = to_datatree(tr, dims, coords, stats,
                                          attrs={"sampler": "bayesrec BPMF Gibbs"})
        return self._posterior

    def diagnostics(self, var_names=None) -> pd.DataFrame:
        """ArviZ summary (mean, sd, ESS, MCSE, r_hat) of the rotation-invariant scalars."""
        from ...inference.arviz_io import diagnostics_table
        names = var_names or [v for v in _SCALARS if v in self.traces_]
        return diagnostics_table(self.posterior, names)

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, users, items):
        return self.bank_.mean_std(np.asarray(users), np.asarray(items))[0]

    def _score_users(self, users):
        strategy, rng, prob = getattr(self, "_strategy", ("mean", None, None))
        if strategy == "thompson":
            return self.bank_.score_block(users, draw=int(rng.integers(self.bank_.n_draws)))
        if strategy == "lower_bound":
            from scipy.stats import norm
            mean, sd = self.bank_.score_moments(users)
            return mean - norm.ppf(prob) * sd
        return self.bank_.score_block(users)

    def predict(self, users, items, return_std: bool = False, noise: bool = False):
        """Posterior-mean rating at original ids; ``return_std=True`` also returns its
        posterior sd (of the mean rating; ``noise=True``: of the rating, adding ``1/alpha``)."""
        if not return_std:
            return super().predict(users, items)
        u, i = self._indices(users, items)
        mean, sd = self.bank_.mean_std(u, i, noise=noise)
        return self._clip(mean), sd

    def predict_interval(self, users, items, prob: float = 0.9) -> np.ndarray:
        """Central ``prob`` posterior predictive interval of the rating (noise included),
        shape (n, 2), clipped to the rating scale."""
        prob = check_probability("prob", prob)
        u, i = self._indices(users, items)
        return self._clip(self.bank_.interval(u, i, prob))

    def recommend(self, user, k: int = 10, exclude_seen: bool = True, strategy: str = "mean",
                  prob: float = 0.9, random_state=None) -> pd.DataFrame:
        """Top-k items for a user.

        ``strategy``: ``"mean"`` (posterior mean rating), ``"thompson"`` (one posterior draw
        from the bank, picked with ``random_state``: Thompson sampling) or ``"lower_bound"``
        (mean minus ``Phi^-1(prob)`` posterior sds: a pessimistic, uncertainty-averse rank).
        An unknown user gets the prior-predictive mean ranking.
        """
        if strategy not in ("mean", "thompson", "lower_bound"):
            raise ValueError(f"strategy must be 'mean', 'thompson' or 'lower_bound', got "
                             f"{strategy!r}")
        prob = check_probability("prob", prob)
        self._strategy = (strategy, check_random_state(random_state), prob)
        try:
            return super().recommend(user, k, exclude_seen)
        finally:
            del self._strategy
