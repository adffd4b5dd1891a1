"""Bayesian probabilistic matrix factorization by a hand-written, vectorized Gibbs sampler.

Salakhutdinov & Mnih, "Bayesian Probabilistic Matrix Factorization using Markov Chain Monte
Carlo", ICML 2008.  Model (``mu`` = training mean, a fixed offset as in the paper's code)::

    r_ui | .  ~ N(mu + b_u + c_i + u_u . v_i, 1/alpha)
    u_u ~ N(mu_U, Lambda_U^-1),   v_i ~ N(mu_V, Lambda_V^-1)
    (mu_U, Lambda_U), (mu_V, Lambda_V) ~ NormalWishart(mu0 = 0, beta0 = 2, nu0 = K, W0 = I)
    b_u ~ N(0, 1/tau_b),  c_i ~ N(0, 1/tau_c),  tau_b, tau_c ~ Gamma(a, b)   (biases=True)
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

from ..._validation import (
    Anything,
    Boolean,
    Choice,
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
from ._predict import Bank
from ._sampler import BPMFSampler, bank_schedule
from ._sweep import BPMFPrior, SweepData, check_noise_precision

_SCALARS = ["alpha", "U_norm", "V_norm", "mu_U_norm", "mu_V_norm", "tau_b", "tau_c",
            "train_rmse", "test_rmse"]


def _float_array(name: str, value) -> np.ndarray:
    """A hyperparameter array as float64; a string or an object inside is named."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {value!r}") from None


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
        Observation precision: fixed (paper: 2, the default) or sampled under
        ``Gamma(*alpha_prior)``.  The fixed value is the default because it is the more
        accurate one on the embedded data (``random_split(movielens_small(), 0.2, rng=0)``,
        K = 10, default chains): test RMSE 0.8363 with ``alpha=2`` (seeds 0 and 1) against
        0.8433 / 0.8405 with ``alpha="sample"`` (which settles near 2.3: a smaller noise
        variance lets the factors fit the training ratings more closely).
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
    n_jobs : None, -1 or int
        Chains run at once as ``joblib`` tasks (loky worker processes, or a Dask / Ray
        cluster inside ``joblib.parallel_config(backend=...)``); same numbers as ``n_jobs=1``.
    checkpoint_dir, checkpoint_every :
        Save each chain every ``checkpoint_every`` sweeps; a rerun with the same directory
        resumes exactly (see :mod:`bayesrec.inference.chains`).
    init_scale : float
        Standard deviation of the random initial factors.
    verbose : bool
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
    Prediction equation: ``E[r_ui] = mu + E[b_u + c_i + u_u . v_i | data]``, a Monte Carlo mean
    over the bank.  Users or items without training ratings are integrated over their prior
    given each draw's hyperparameters (see :mod:`._predict`); ``predict`` thus falls back
    to the prior predictive, never an error.
    """

    _checks = {"rank": Integer(), "n_samples": Integer(), "burn_in": Integer(low=0),
               "thin": Integer(), "n_chains": Integer(), "alpha": Anything(),
               "biases": Boolean(), "hyperprior": Boolean(), "beta0": Real(),
               "nu0": OptionalCheck(Real()), "factor_precision": Real(),
               "keep_factors": Boolean(), "n_predictive_draws": Integer(),
               "n_tracked": Integer(), "n_jobs": Anything(), "checkpoint_every": Integer(),
               "checkpoint_dir": OptionalCheck(Directory()),
               "init_scale": Real(), "backend": Choice("numba", "numpy"),
               "verbose": Boolean(), "random_state": RandomState()}
    _test_params = {"rank": 2, "n_samples": 4, "burn_in": 2, "n_chains": 1,
                    "n_predictive_draws": 4, "n_tracked": 5, "verbose": False}
    _strategies = ("mean", "thompson", "lower_bound")

    def __init__(self, rank: int = 10, n_samples: int = 200, burn_in: int = 100, thin: int = 1,
                 n_chains: int = 2, alpha=2.0, biases: bool = True,
                 hyperprior: bool = True, beta0: float = 2.0, nu0: float | None = None,
                 W0=None, mu0=None, factor_precision: float = 1.0,
                 bias_prior=(1.0, 1.0), alpha_prior=(1.0, 1.0), keep_factors: bool = False,
                 n_predictive_draws: int = 50, n_tracked: int = 100, n_jobs: int = 1,
                 checkpoint_dir=None, checkpoint_every: int = 50, init_scale: float = 0.5,
                 backend: str = "numba", verbose: bool = True, random_state=None):
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
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _prior(self) -> BPMFPrior:
        k = check_positive("rank", self.rank, integer=True)
        nw = None
        if self.hyperprior:
            mu0 = np.zeros(k) if self.mu0 is None else _float_array("mu0", self.mu0)
            w0 = np.eye(k) if self.W0 is None else _float_array("W0", self.W0)
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
            alpha = check_noise_precision(self.alpha)
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
    def _fit(self, ratings: Ratings, eval_set) -> dict:
        prior = self._prior()
        p = self._validated()
        n_samples, n_chains = p["n_samples"], p["n_chains"]
        n_jobs = check_n_jobs(self.n_jobs)
        n_bank = n_samples if p["keep_factors"] else -(-p["n_predictive_draws"] // n_chains)
        data = SweepData(ratings)
        ev = {}
        if eval_set is not None:
            ev = dict(eval_users=eval_set.users, eval_items=eval_set.items,
                      eval_ratings=eval_set.ratings)
        sampler = BPMFSampler(data, prior, rating_scale=ratings.rating_scale,
                              n_tracked=p["n_tracked"],
                              bank_draws=bank_schedule(n_samples, n_bank),
                              init_scale=p["init_scale"], backend=p["backend"], **ev)
        settings = RunSettings(n_samples, p["burn_in"], p["thin"],
                               None if self.checkpoint_dir is None else str(self.checkpoint_dir),
                               p["checkpoint_every"])
        results = run_chains(sampler, n_chains, settings, self.random_state,
                             n_jobs=n_jobs, progress=p["verbose"],
                             description="BPMF Gibbs")
        fields, chain_of = stack_chain_draws(results, "bank", dtype=np.float64)
        out = {"prior_": prior, "offset_": data.offset,
               "n_sweeps_": sum(r.n_sweeps for r in results),
               "traces_": {k: np.stack([r.traces[k] for r in results])
                           for k in results[0].traces},
               "final_states_": [r.state for r in results],
               "bank_": Bank(fields, prior.rank, prior.biases, data.offset),
               "_bank_chains_": chain_of}
        if ev:
            n = sum(r.accumulator["n"] for r in results)
            s1 = sum(r.accumulator["sum"] for r in results)
            s2 = sum(r.accumulator["sumsq"] for r in results)
            mean = s1 / n
            out.update(
                eval_mean_=eval_set.clip(mean),
                eval_std_=np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0)),
                eval_noise_var_=sum(r.accumulator["inv_alpha"] for r in results) / n,
                running_test_rmse_=np.stack([r.accumulator["running_rmse"] for r in results]),
                eval_ratings_=np.asarray(eval_set.ratings),
                eval_tracked_=sampler.tracked)
        return out

    # ------------------------------------------------------------------ posterior
    @property
    def posterior(self):
        """ArviZ DataTree (dims ``chain, draw, ...``) of the rotation-invariant traces, plus
        ``U``, ``V`` (``user``/``item`` x ``latent``) and biases when ``keep_factors``."""
        self._check_fitted()
        if vars(self).get("_posterior") is None:
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

    def _check_options(self, strategy: str = "mean", prob: float = 0.9, random_state=None):
        check_choice("strategy", strategy, self._strategies)
        check_probability("prob", prob)
        if random_state is not None and not isinstance(random_state, np.random.Generator):
            check_random_state(random_state)

    def _score_users(self, users, strategy: str = "mean", prob: float = 0.9,
                     random_state=None):
        self._check_options(strategy, prob, random_state)
        if strategy == "thompson":
            rng = check_random_state(random_state)
            return self.bank_.score_block(users, draw=int(rng.integers(self.bank_.n_draws)))
        if strategy == "lower_bound":
            from scipy.stats import norm
            mean, sd = self.bank_.score_moments(users)
            return mean - norm.ppf(prob) * sd
        return self.bank_.score_block(users)

    def predict(self, users, items, return_std: bool = False, noise: bool = False):
        """Posterior-mean rating at original ids; ``return_std=True`` also returns its
        posterior sd (of the mean rating; ``noise=True``: of the rating, adding ``1/alpha``)."""
        return_std = check_bool("return_std", return_std)  # "False" is a true string
        if check_bool("noise", noise) and not return_std:
            raise ValueError("noise=True changes only the returned sd: pass return_std=True")
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
        return super().recommend(user, k, exclude_seen, strategy=strategy, prob=prob,
                                 random_state=random_state)
