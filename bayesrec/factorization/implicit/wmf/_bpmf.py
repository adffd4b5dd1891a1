"""Bayesian weighted matrix factorization of implicit feedback, sampled by Gibbs.

The Hu-Koren-Volinsky model (ICDM 2008) read as a likelihood over ALL cells, with BPMF's
Normal-Wishart hyperpriors (Salakhutdinov & Mnih, ICML 2008)::

    p_ui = 1[y_ui > 0],   c_ui = 1 + confidence * y_ui,   a_u = (n_u / mean n)^-gamma
    p_ui | u_u, v_i ~ N(u_u . v_i, 1 / (alpha a_u c_ui))
    u_u ~ N(mu_U, Lambda_U^-1),   v_i ~ N(mu_V, Lambda_V^-1)
    (mu_U, Lambda_U), (mu_V, Lambda_V) ~ NormalWishart(mu0 = 0, beta0, nu0 = K, W0 = I)
    alpha fixed (default 15), or alpha ~ Gamma(a, b) (alpha="sample")

``a_u`` are fixed activity weights (``n_u``: the user's interactions, ``gamma =
activity_exponent``; 0 gives Hu et al.'s model): each cell of a heavy user is less precise, so
the few hundred heaviest users do not set the item factors alone.
Gibbs sweep and its cost: :mod:`._sweep` (the dense matrix is never formed).  Its MAP with
the hyperparameters fixed at ``Lambda = reg I`` is :class:`ImplicitALS`.

Ranking score of item ``i`` for user ``u``: the posterior of ``s_ui = u_u . v_i``, the
expected preference, over a *bank* of retained draws:

* ``strategy="mean"``: ``E[s_ui | y]``;
* ``"thompson"``: ``s_ui`` at one posterior draw per user (picked with ``random_state``):
  Thompson sampling, which shows items whose score is uncertain more often;
* ``"lower_bound"``: ``E[s_ui] - Phi^-1(prob) sd[s_ui]``: uncertainty-averse.

Diagnostics.  The factors are identified only up to ``U A, V A^-T``; the posterior keeps the
rotation-invariant ``U V^T`` on tracked cells (``score``: held-out pairs of ``eval_set`` or
random training pairs), the weighted training loss, ``alpha``, and the norms ``||U||_F``,
``||V||_F``, ``||mu_U||``, ``||mu_V||`` (which mix slowly without the scale and GL(K) moves).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ...._validation import (
    Anything,
    Boolean,
    Choice,
    Directory,
    Integer,
    OptionalCheck,
    RandomState,
    Real,
    check_choice,
    check_probability,
)
from ....base import Recommender
from ....data import Ratings
from ....inference.chains import RunSettings, run_chains
from ....inference.draw_bank import side_by_side, stack_chain_draws
from ....inference.normal_wishart import NormalWishart
from ....rng import check_random_state
from ...bpmf._sampler import bank_schedule
from ._als import fallback_outside_likelihood, gram_embeddings
from ._data import WMFData
from ._sweep import init_state, make_prior, sweep

STRATEGIES = ("mean", "thompson", "lower_bound")
SAMPLERS = ("blocked", "coordinate")
_SCALARS = ["train_loss", "alpha", "U_norm", "V_norm", "mu_U_norm", "mu_V_norm"]


class WMFSampler:
    """Picklable sampler for :func:`bayesrec.inference.chains.run_chains`."""

    def __init__(self, data: WMFData, prior, cells: tuple[np.ndarray, np.ndarray],
                 bank_draws: np.ndarray, init_scale: float, alpha0: float,
                 sampler: str = "coordinate"):
        self.data, self.prior, self.sampler = data, prior, sampler
        self.cell_users, self.cell_items = cells
        self.bank_draws = np.asarray(bank_draws, dtype=int)
        self.init_scale, self.alpha0 = init_scale, alpha0

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        d = self.data
        for a in (d.user_indptr, d.user_indices, d.user_w, self.bank_draws, self.cell_users,
                  self.cell_items):
            h.update(np.ascontiguousarray(a).tobytes())
        if d.user_scale is not None:
            h.update(np.ascontiguousarray(d.user_scale).tobytes())
        h.update(repr((self.prior, self.init_scale, self.alpha0, self.sampler)).encode())
        return h.hexdigest()

    def init(self, rng):
        return init_state(self.data, self.prior, rng, self.init_scale, self.alpha0)

    def step(self, state, rng):
        return sweep(state, self.data, self.prior, rng, sampler=self.sampler)

    def record(self, state) -> dict:
        return {"train_loss": state.sse / self.data.n_cells, "alpha": state.alpha,
                "U_norm": float(np.linalg.norm(state.xu)),
                "V_norm": float(np.linalg.norm(state.xv)),
                "mu_U_norm": float(np.linalg.norm(state.mu_u)),
                "mu_V_norm": float(np.linalg.norm(state.mu_v)),
                "score": np.einsum("nk,nk->n", state.xu[self.cell_users],
                                   state.xv[self.cell_items]),
                "jitter_total": state.n_jitter}

    def new_accumulator(self, n_draws: int) -> dict:
        return {"bank_u": [], "bank_v": []}

    def accumulate(self, acc: dict, state, draw: int) -> None:
        if draw in self.bank_draws:
            acc["bank_u"].append(state.xu.copy())
            acc["bank_v"].append(state.xv.copy())


class ImplicitBPMF(Recommender):
    """Bayesian weighted MF of implicit feedback (Hu et al. 2008 + BPMF), Gibbs sampled.

    Parameters
    ----------
    rank : int
        Latent dimension K.
    confidence : float
        ``c_ui = 1 + confidence * y_ui`` (explicit ratings: ``y = 1`` per rated pair).
    activity_exponent : float in [0, 2]
        ``gamma`` of the activity weights ``a_u = (n_u / mean n)^-gamma`` (0: none).
    alpha : float or "sample"
        Likelihood precision: fixed (default 15) or sampled.  Fixed at 1 (Hu et al.'s
        weights as they are) the likelihood is far too weak for the ~1% dense MovieLens
        matrix: the posterior is prior-dominated and ranks barely above popularity; sampled,
        ``alpha`` settles near ``1 / mean(a c (p - u.v)^2)`` (50-100 on MovieLens), where the
        learned ``Lambda / alpha`` (the ALS-equivalent penalty) is about 1, far below the
        penalty that ranks best.  A fixed ``alpha`` of 10-20 is a tempered likelihood: the
        factors are shrunk more and the posterior mean ranks better
        (``docs/implicit_bpmf_tuning.md``).
    alpha_prior : (shape, rate)
        Gamma prior of ``alpha`` when sampled.
    beta0, nu0, w0 :
        Normal-Wishart hyperparameters (``mu0 = 0``, ``W0 = w0 I``; ``nu0=None`` means K).
    n_samples, burn_in, thin, n_chains :
        Retained draws per chain, discarded sweeps, thinning, independent chains.
    n_predictive_draws : int
        Draws kept over all chains (the bank) for ranking (the posterior mean of the score is
        their average: 20 draws ranked measurably worse than 50): memory
        ``n_predictive_draws * (n_users + n_items) * K`` floats.
    n_tracked : int
        Cells whose score ``u . v`` is traced in ``posterior`` (diagnostics).
    init_scale : float
        Standard deviation of the random initial factors.
    n_jobs : int
        Processes for the chains (same numbers as ``n_jobs=1``; spawned workers need the
        ``if __name__ == "__main__":`` guard in scripts).
    checkpoint_dir, checkpoint_every :
        Resume-exact checkpoints (:mod:`bayesrec.inference.chains`).
    verbose : bool
        Show a progress bar.
    random_state : int or Generator
    default_strategy : {"mean", "thompson", "lower_bound"}
        Ranking used when ``recommend`` gets no ``strategy``.
    sampler : {"coordinate", "blocked"}
        How the factor steps move: ``"blocked"`` draws each row of U and V from its full
        Gaussian conditional (a Cholesky factor per row: O(nnz K^2 + n K^3) per sweep);
        ``"coordinate"`` draws one coordinate of a row at a time given the others
        (single-site Gibbs, :mod:`._coordinate`: O(nnz K + n K^2) per sweep, so a large rank
        stays affordable; the default).  Both leave the same posterior invariant; the
        single-site chain moves less per sweep.

    Notes
    -----
    Defaults (``rank=48, confidence=2, activity_exponent=0.6, alpha=15``, the single-site
    sampler, 2 chains of 50 + 200 sweeps, 50 draws in the bank) were chosen on three
    validation splits of the embedded MovieLens training rows (20% each, seeds 1-3, mean
    NDCG@10, relevance rating >= 4); the test split was never used.  There they score 0.1858
    averaged over chain seeds 0-2, against EASE's 0.1829.  Every setting tried, with its
    score, and what did not help (larger ranks, other ``alpha``, popularity-weighted cells,
    CoFactor, item-item terms, time-local popularity, ...) is in ``docs/implicit_bpmf_tuning.md``.
    With the blocked sampler the rank had stopped at 24 (a sweep there costs 1.4x an
    implicit-ALS iteration, 8x at rank 64); the single-site sampler made rank 48 affordable.

    Attributes
    ----------
    bank_user_factors_, bank_item_factors_ : ndarray (S, n_users, K), (S, n_items, K)
        Retained draws used for ranking.
    traces_ : dict of (chain, draw, ...) arrays; ``posterior`` builds the ArviZ DataTree.
    n_sweeps_ : int
    """

    _checks = {"rank": Integer(low=1), "confidence": Real(low=0.0, closed="left"),
               "activity_exponent": Real(0.0, 2.0, closed="both"), "alpha": Anything(),
               "alpha_prior": Anything(), "beta0": Real(low=0.0),
               "nu0": OptionalCheck(Real(low=0.0)), "w0": Real(low=0.0),
               "n_samples": Integer(low=1),
               "burn_in": Integer(low=0), "thin": Integer(low=1), "n_chains": Integer(low=1),
               "n_predictive_draws": Integer(low=1), "n_tracked": Integer(low=1),
               "init_scale": Real(low=0.0), "n_jobs": Integer(low=1),
               "checkpoint_dir": OptionalCheck(Directory()), "checkpoint_every": Integer(low=1),
               "verbose": Boolean(), "random_state": RandomState(),
               "default_strategy": Choice(*STRATEGIES), "sampler": Choice(*SAMPLERS)}
    _test_params = {"rank": 3, "n_samples": 4, "burn_in": 2, "n_chains": 1,
                    "n_predictive_draws": 2, "verbose": False}

    def __init__(self, rank: int = 48, confidence: float = 2.0,
                 activity_exponent: float = 0.6, alpha=15.0, alpha_prior=(1.0, 1.0),
                 beta0: float = 2.0, nu0: float | None = None, w0: float = 1.0,
                 n_samples: int = 200, burn_in: int = 50, thin: int = 1, n_chains: int = 2,
                 n_predictive_draws: int = 50, n_tracked: int = 100, init_scale: float = 0.1,
                 n_jobs: int = 1, checkpoint_dir=None, checkpoint_every: int = 50,
                 verbose: bool = True, random_state=None, default_strategy: str = "mean",
                 sampler: str = "coordinate"):
        self.rank = rank
        self.confidence = confidence
        self.activity_exponent = activity_exponent
        self.alpha = alpha
        self.alpha_prior = alpha_prior
        self.beta0 = beta0
        self.nu0 = nu0
        self.w0 = w0
        self.n_samples = n_samples
        self.burn_in = burn_in
        self.thin = thin
        self.n_chains = n_chains
        self.n_predictive_draws = n_predictive_draws
        self.n_tracked = n_tracked
        self.init_scale = init_scale
        self.n_jobs = n_jobs
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.verbose = verbose
        self.random_state = random_state
        self.default_strategy = default_strategy
        self.sampler = sampler

    # ------------------------------------------------------------------ fitting
    def _prior(self, p: dict):
        k = p["rank"]
        nu0 = float(k if p["nu0"] is None else p["nu0"])
        nw = NormalWishart(np.zeros(k), p["beta0"], nu0, p["w0"] * np.eye(k))
        if isinstance(p["alpha"], str):
            if p["alpha"] != "sample":
                raise ValueError(f"alpha must be a positive number or 'sample', got "
                                 f"{p['alpha']!r}")
            alpha = None
        else:
            # a noise precision beyond 1e8 on 0/1 preferences leaves no prior in the row
            # precisions and overflows their Cholesky factors: refuse it up front
            alpha = Real(0.0, 1e8, closed="right")("alpha", p["alpha"])
        try:
            a, b = (Real()("alpha_prior shape", p["alpha_prior"][0]),
                    Real()("alpha_prior rate", p["alpha_prior"][1]))
            if len(p["alpha_prior"]) != 2:
                raise TypeError
        except (TypeError, IndexError):
            raise ValueError(f"alpha_prior must be (shape, rate), got {p['alpha_prior']!r}") \
                from None
        return make_prior(k, nw, 1.0, alpha, (a, b))

    def _fit(self, ratings: Ratings, eval_set=None) -> dict:
        p = self._validated()
        prior = self._prior(p)
        data = WMFData.from_ratings(ratings, p["confidence"], p["activity_exponent"])
        if data.n_positive == 0:
            raise ValueError("no positive interaction to learn from (every count is 0)")
        n_samples, n_chains = p["n_samples"], p["n_chains"]
        n_bank = -(-p["n_predictive_draws"] // n_chains)
        cells = self._tracked_cells(ratings, data, eval_set, p)
        sampler = WMFSampler(data, prior, cells, bank_schedule(n_samples, n_bank),
                             p["init_scale"], 1.0, p["sampler"])
        settings = RunSettings(n_samples, p["burn_in"], p["thin"],
                               None if p["checkpoint_dir"] is None else str(p["checkpoint_dir"]),
                               p["checkpoint_every"])
        results = run_chains(sampler, n_chains, settings, p["random_state"],
                             n_jobs=p["n_jobs"], progress=p["verbose"],
                             description="ImplicitBPMF Gibbs")
        traces = {k: np.stack([r.traces[k] for r in results]) for k in results[0].traces}
        bank_u, _ = stack_chain_draws(results, "bank_u")
        # the item draws laid out (n_items, S, K): the posterior-mean scores read them as one
        # (n_items, S K) matrix without a copy (side_by_side)
        bank_v, _ = stack_chain_draws(results, "bank_v", draw_axis=1)
        return {"bank_user_factors_": bank_u, "bank_item_factors_": bank_v,
                "traces_": traces, "tracked_users_": cells[0], "tracked_items_": cells[1],
                "n_sweeps_": int(sum(r.n_sweeps for r in results)),
                "n_cells_": data.n_cells}

    @staticmethod
    def _tracked_cells(ratings, data, eval_set, p):
        """Up to ``n_tracked`` known (user, item) cells: held-out pairs, else random pairs."""
        n = p["n_tracked"]
        if eval_set is not None:
            known = (eval_set.users >= 0) & (eval_set.items >= 0)
            u, i = eval_set.users[known], eval_set.items[known]
            if len(u):
                pick = np.unique(np.linspace(0, len(u) - 1, min(n, len(u))).astype(int))
                return u[pick].astype(np.int64), i[pick].astype(np.int64)
        rng = np.random.default_rng(0)  # fixed: which cells are traced is not inference
        u = data.active_users[rng.integers(0, data.n_active, n)]
        i = rng.integers(0, data.n_items, n)
        return u.astype(np.int64), i.astype(np.int64)

    # ------------------------------------------------------------------ posterior
    @property
    def posterior(self):
        """ArviZ DataTree (dims ``chain, draw, ...``) of the rotation-invariant traces:
        ``train_loss`` (weighted loss per cell), ``alpha``, the norms, and ``score`` (``u . v``
        on the tracked cells, dim ``cell``); ``sample_stats`` holds ``jitter_total``."""
        self._check_fitted()
        cache = vars(self).get("_posterior_cache")
        if cache is None:
            from ....inference.arviz_io import to_datatree
            tr = dict(self.traces_)
            stats = {"jitter_total": tr.pop("jitter_total")}
            cache = to_datatree(tr, {"score": ["cell"]},
                                {"cell": np.arange(len(self.tracked_users_))}, stats,
                                attrs={"sampler": "bayesrec ImplicitBPMF Gibbs"})
            vars(self)["_posterior_cache"] = cache
        return cache

    def diagnostics(self, var_names=None) -> pd.DataFrame:
        """Mean, sd, ESS, MCSE and r_hat of the rotation-invariant scalars (and ``score``)."""
        from ....inference.arviz_io import diagnostics_table
        return diagnostics_table(self.posterior, var_names or _SCALARS)

    # ------------------------------------------------------------------ ranking
    def _check_options(self, strategy: str | None = None, prob: float = 0.9,
                       random_state=None) -> None:
        check_choice("strategy", self.default_strategy if strategy is None else strategy,
                     STRATEGIES)
        check_probability("prob", prob)
        check_random_state(random_state)

    def _score_users(self, users, strategy: str | None = None, prob: float = 0.9,
                     random_state=None) -> np.ndarray:
        # users whose counts are all 0 are outside the likelihood (zero rows in every draw)
        return fallback_outside_likelihood(
            self, self.bank_user_factors_[0, users],
            self._posterior_scores(users, strategy, prob, random_state))

    def _posterior_scores(self, users, strategy, prob, random_state) -> np.ndarray:
        self._check_options(strategy, prob, random_state)
        strategy = self.default_strategy if strategy is None else strategy
        bu, bv = self.bank_user_factors_, self.bank_item_factors_
        s_n = len(bu)
        if strategy == "thompson":
            rng = check_random_state(random_state)
            pick = rng.integers(0, s_n, len(users))
            out = np.empty((len(users), bv.shape[1]))
            for s in np.unique(pick):          # loop over the bank's draws only
                rows = np.flatnonzero(pick == s)
                out[rows] = bu[s, users[rows]] @ bv[s].T
            return out
        if strategy == "mean":
            # mean_s U_s V_s^T as one product of the draws side by side
            left = np.concatenate(list(bu[:, users]), axis=1)          # (n, S K)
            return left @ side_by_side(self, "bank_item_factors_").T / s_n
        from scipy.special import ndtri
        total = np.zeros((len(users), bv.shape[1]))
        total_sq = np.zeros_like(total)
        for s in range(s_n):
            sc = bu[s, users] @ bv[s].T
            total += sc
            total_sq += sc * sc
        mean = total / s_n
        sd = np.sqrt(np.maximum(total_sq / s_n - mean ** 2, 0.0))
        return mean - ndtri(prob) * sd

    def _item_embeddings(self) -> np.ndarray:
        # per draw V_s chol(U_s^T U_s): inner products v_i^T U_s^T U_s v_j, the items' score
        # columns over users, invariant to U A, V A^-T; side by side = summed over draws
        bu, bv = self.bank_user_factors_, self.bank_item_factors_
        return np.concatenate([gram_embeddings(bu[s], bv[s]) for s in range(len(bu))], axis=1)
