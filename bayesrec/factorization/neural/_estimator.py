"""Neural recommenders as posterior inference: embedding MF, MLP and residual models.

The three models of the course's Keras chapter, rebuilt on PyMC / PyTensor.  For user ``u``,
item ``i`` (``mu`` = training mean, a constant; ``g`` = activation)::

    "dot":       r_hat = mu + u_u . v_i + b_u + c_i                      (embedding MF)
    "mlp":       r_hat = mu + w2 . g(W1^T [u_u, v_i] + b1) + b2          (Dense(H) -> g -> Dense(1))
    "residual":  r_hat = mu + u_u . v_i + b_u + c_i + w2 . g(W1^T [u_u, v_i] + b1) + b2

Every weight has a Gaussian prior and the ratings a Gaussian likelihood (the PyMC model is
:func:`models.neural.neural_model`)::

    u_u, v_i ~ N(0, factor_sd^2 I),  b_u, c_i ~ N(0, bias_sd^2),  W1, b1, w2, b2 ~ N(0, weight_sd^2)
    r_ui ~ N(r_hat_ui, sigma^2),     sigma = noise (fixed) or sigma ~ HalfNormal(noise_prior_sd)

The course's L2 penalty ``reg * |w|^2`` added to the MSE loss is this prior with
``prior_sd = sigma / sqrt(N * reg)`` (N training ratings); see
:func:`~bayesrec.factorization.neural._map.prior_sd_from_l2` and its inverse.

Two fits (``method``), both on mini-batches:

* ``"map"``: the posterior mode by SGD with momentum (the course's ``SGD(lr, momentum)``) or
  Adam on the mini-batch negative log posterior (:mod:`._map`); one PyTensor function
  per model does a whole step, called once per mini-batch.
* ``"advi"``: PyMC mean-field ADVI with ``pm.Minibatch`` (:mod:`._advi`), a Gaussian
  approximation of the posterior.  ``predict(..., return_std=True)``,
  :meth:`NeuralRecommender.predict_interval` and :attr:`NeuralRecommender.posterior` come from
  it.  Mean-field VI is under-dispersed: intervals cover held-out ratings less often than
  nominal (measured in ``tests/test_neural_advi.py`` and ``experiments/neural.py``).

References: the course's Keras chapter (MF, deep MF, residual); He et al. 2017, *Neural
Collaborative Filtering*; Salakhutdinov & Mnih 2007 (PMF); Kucukelbir et al. 2017 (ADVI).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..._validation import check_bool, check_positive, check_probability, resolve_global_mean
from ...base import RatingModel
from ...data import Ratings
from ...exceptions import ConvergenceError
from ...progress import progress_bar
from ...rng import check_random_state
from ._graph import (
    ACTIVATIONS,
    ARCHITECTURES,
    PRIOR_OF,
    forward_numpy,
    init_params,
    with_fallback_rows,
)

METHODS = ("map", "advi")
_DEFAULTS = {  # (method, has an MLP branch) -> defaults of the None hyperparameters
    ("map", False): {"n_iter": 10, "batch_size": 128},
    ("map", True): {"n_iter": 10, "batch_size": 128},
    ("advi", False): {"n_iter": 20, "batch_size": 512},
    # PyMC's ADVI graph carries a sample axis, so the MLP's GEMMs become batched matmuls that
    # the Numba backend runs without BLAS, superlinear in the batch (measured: 9 ms per step
    # at 128, 64 ms at 512): small batches, fewer epochs
    ("advi", True): {"n_iter": 5, "batch_size": 128},
}
_DEFAULT_LR = {("map", "adam"): 1e-3, ("map", "momentum"): 0.05, ("advi", "adam"): 1e-2}


def _check_sd(name: str, value, dtype: str) -> float:
    """A standard deviation ``> 0`` whose precision term ``0.5 / sd^2`` is a finite, non-zero
    number of the graph's ``dtype`` (1e300 overflowed ``sd^2``, 1e-300 divided by zero)."""
    sd = check_positive(name, value)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        precision = np.float64(0.5) / np.float64(sd) ** 2
    if not 0 < precision < np.finfo(dtype).max or np.float64(sd) ** 2 == 0:
        raise ValueError(f"{name} must have 0.5 / {name}^2 within {dtype} range, got {value!r}")
    return sd


class NeuralRecommender(RatingModel):
    """Embedding MF ("dot"), MLP ("mlp") or their sum ("residual"), fitted by MAP or ADVI.

    Parameters
    ----------
    architecture : {"dot", "mlp", "residual"}
    rank : int
        Embedding size K.
    hidden : int
        Width H of the hidden layer (mlp / residual).
    activation : {"relu", "tanh", "sigmoid", "softplus", "linear"}
    method : {"map", "advi"}
    optimizer : {"adam", "momentum"}
        MAP optimizer (ADVI always uses Adam, PyMC's ``pm.adam``).
    lr : float, optional
        Step size; default 1e-3 (MAP Adam), 0.05 (MAP momentum), 1e-2 (ADVI).  The MAP
        objective is the per-rating negative log posterior, ``(MSE + L2) / (2 sigma^2)`` for
        fixed sigma, so SGD's ``lr`` corresponds to Keras' ``lr / (2 sigma^2)``.
    momentum : float
        Momentum of ``optimizer="momentum"``.
    n_iter : int, optional
        Epochs: passes over the training ratings (ADVI: ``n_iter * ceil(N / batch_size)``
        iterations); default 10 (MAP), 20 (ADVI "dot"), 5 (ADVI "mlp", "residual").
    batch_size : int, optional
        Ratings per step; default 128 (MAP, as the course; ADVI "mlp" and "residual") and
        512 (ADVI "dot").
    factor_sd, bias_sd, weight_sd : float
        Prior standard deviations of the embeddings, of the user/item biases and of the dense
        layers' weights and biases.
    noise : float or None
        Fixed noise sd sigma; ``None`` learns it (prior ``HalfNormal(noise_prior_sd)``).
    noise_prior_sd : float
    global_mean : float, optional
        The constant ``mu`` (default: training mean).
    init_scale : float
        Sd of the random starting embeddings (and starting ADVI means).
    init_posterior_sd : float
        ADVI: starting sd of every factor of ``q``.
    n_draws : int
        ADVI: posterior draws behind predictions of the MLP models, intervals and
        :attr:`posterior`.
    dtype : {"float32", "float64"}
        Precision of the MAP training graph (float32 as Keras / PyTorch).
    random_state : int or numpy.random.Generator, optional
    verbose : bool
        Progress bar over epochs.

    Attributes
    ----------
    weights_ : dict of ndarray
        MAP estimate, or the ADVI posterior means (unconstrained ``sigma_log__`` dropped).
    posterior_sd_ : dict of ndarray
        ADVI only: the sds of ``q``, same keys as ``weights_``.
    noise_ : float
        sigma (fixed, MAP estimate, or ADVI posterior mean of sigma).
    global_mean_ : float
    history_ : DataFrame
        Per epoch: ``loss`` (mini-batch average of the per-rating negative log posterior, MAP,
        or of -ELBO / N, ADVI), ``train_rmse`` (MAP: running mini-batch RMSE as Keras
        reports it; ADVI: absent), ``test_rmse`` and ``test_mse`` (when ``fit`` got an
        ``eval_set``; plug-in prediction at the current weights / means), ``seconds`` (cumulative
        training time, excluding evaluation).
    compile_seconds_ : float
        MAP: time to build and compile the step function (the first call adds Numba JIT).

    Notes
    -----
    Unknown users or items (or ones without training rows) take their prior: zero embedding
    and bias in MAP predictions; draws from ``N(0, factor_sd^2)`` / ``N(0, bias_sd^2)`` under
    ADVI.  Under ADVI the "dot" moments are exact (closed form under the mean-field ``q``);
    the MLP architectures' predictions are Monte Carlo means over ``n_draws`` weight draws
    (about 16 s for 20,000 pairs at H = 400 here), so :meth:`recommend` over many users is
    slow for them.  The MAP loop limits BLAS to one thread: the mini-batch GEMMs are tiny, and
    multi-threaded OpenBLAS busy-waits, which was 10x slower on 2 loaded cores.
    """

    _test_params = {"rank": 2, "n_iter": 1, "batch_size": 256}
    _test_slow = True  # compiles a PyTensor graph

    def __init__(self, architecture: str = "dot", rank: int = 10, hidden: int = 400,
                 activation: str = "relu", method: str = "map", optimizer: str = "adam",
                 lr: float | None = None, momentum: float = 0.9, n_iter: int | None = None,
                 batch_size: int | None = None, factor_sd: float = 0.25, bias_sd: float = 0.5,
                 weight_sd: float = 0.03, noise: float | None = None,
                 noise_prior_sd: float = 1.0, global_mean: float | None = None,
                 init_scale: float = 0.1, init_posterior_sd: float = 0.05, n_draws: int = 100,
                 dtype: str = "float32", random_state=None, verbose: bool = False):
        self.architecture = architecture
        self.rank = rank
        self.hidden = hidden
        self.activation = activation
        self.method = method
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.factor_sd = factor_sd
        self.bias_sd = bias_sd
        self.weight_sd = weight_sd
        self.noise = noise
        self.noise_prior_sd = noise_prior_sd
        self.global_mean = global_mean
        self.init_scale = init_scale
        self.init_posterior_sd = init_posterior_sd
        self.n_draws = n_draws
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> dict:
        from ._optim import OPTIMIZERS  # imports pytensor: only when fitting

        def choice(name, options):
            value = getattr(self, name)
            if value not in options:
                raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
            return value

        cfg = {"architecture": choice("architecture", ARCHITECTURES),
               "activation": choice("activation", ACTIVATIONS),
               "method": choice("method", METHODS),
               "optimizer": choice("optimizer", OPTIMIZERS),
               "dtype": choice("dtype", ("float32", "float64")),
               "rank": check_positive("rank", self.rank, integer=True),
               "hidden": check_positive("hidden", self.hidden, integer=True)}
        method = cfg["method"]
        if method == "advi" and cfg["optimizer"] != "adam":
            raise ValueError("method='advi' uses Adam (pm.adam); optimizer must be 'adam'")
        defaults = _DEFAULTS[(method, cfg["architecture"] != "dot")]
        for name in ("n_iter", "batch_size"):
            value = getattr(self, name)
            cfg[name] = (defaults[name] if value is None
                         else check_positive(name, value, integer=True))
        cfg["lr"] = (_DEFAULT_LR[(method, cfg["optimizer"])] if self.lr is None
                     else check_positive("lr", self.lr))
        cfg["momentum"] = check_positive("momentum", self.momentum, allow_zero=True)
        if cfg["momentum"] >= 1:
            raise ValueError(f"momentum must be < 1, got {self.momentum!r}")
        cfg["prior_sds"] = {name: _check_sd(name, getattr(self, name), cfg["dtype"])
                            for name in ("factor_sd", "bias_sd", "weight_sd")}
        cfg["noise"] = None if self.noise is None else _check_sd("noise", self.noise,
                                                                 cfg["dtype"])
        cfg["noise_prior_sd"] = _check_sd("noise_prior_sd", self.noise_prior_sd, cfg["dtype"])
        cfg["verbose"] = check_bool("verbose", self.verbose)
        cfg["init_scale"] = check_positive("init_scale", self.init_scale)
        cfg["init_posterior_sd"] = check_positive("init_posterior_sd", self.init_posterior_sd)
        cfg["n_draws"] = check_positive("n_draws", self.n_draws, integer=True)
        return cfg

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, eval_set) -> dict:
        cfg = self._check_params()
        mu = resolve_global_mean(self.global_mean, ratings)
        rng = check_random_state(self.random_state)
        init = init_params(cfg["architecture"], ratings.n_users, ratings.n_items, cfg["rank"],
                           cfg["hidden"], cfg["init_scale"], rng)
        out = {"_cfg_": cfg, "global_mean_": mu, "_draw_seed_": int(rng.integers(2 ** 31))}
        if cfg["method"] == "map":
            out.update(self._fit_map(ratings, cfg, mu, init, rng, eval_set))
        else:
            out.update(self._fit_advi(ratings, cfg, mu, init, rng, eval_set))
        return out

    def _evaluate(self, eval_set, weights: dict, cfg: dict, mu: float) -> dict:
        if eval_set is None:
            return {}
        p = with_fallback_rows(weights)
        pred = eval_set.clip(mu + forward_numpy(p, eval_set.users, eval_set.items,
                                                cfg["architecture"], cfg["activation"]))
        mse = float(np.mean((pred - eval_set.ratings) ** 2))
        return {"test_mse": mse, "test_rmse": float(np.sqrt(mse))}

    def _fit_map(self, ratings: Ratings, cfg: dict, mu: float, init: dict, rng,
                 eval_set) -> dict:
        from ._map import MapStep

        if cfg["noise"] is None:
            init["log_sigma"] = np.log(np.std(ratings.ratings) + 1e-3)
        step = MapStep(init, len(ratings), cfg["architecture"], cfg["activation"],
                       cfg["prior_sds"], cfg["noise"], cfg["noise_prior_sd"], cfg["optimizer"],
                       cfg["lr"], cfg["momentum"], cfg["dtype"])
        users = ratings.users.astype(np.int32)
        items = ratings.items.astype(np.int32)
        y = (ratings.ratings - mu).astype(cfg["dtype"])
        n, B = len(ratings), cfg["batch_size"]
        rows, elapsed = [], 0.0
        with progress_bar(cfg["n_iter"], f"{cfg['architecture']} MAP",
                          enabled=self.verbose) as bar, threadpool_limits(1, "blas"):
            for epoch in range(1, cfg["n_iter"] + 1):
                t0 = time.perf_counter()
                perm = rng.permutation(n)
                us, its, ys = users[perm], items[perm], y[perm]
                loss_sum = sq_sum = 0.0
                for s in range(0, n, B):
                    loss, mse = step(us[s:s + B], its[s:s + B], ys[s:s + B])
                    m = min(B, n - s)
                    loss_sum += float(loss) * m
                    sq_sum += float(mse) * m
                elapsed += time.perf_counter() - t0
                if not np.isfinite(loss_sum):
                    raise ConvergenceError(
                        f"MAP objective diverged at epoch {epoch}; lower lr (now {cfg['lr']})")
                row = {"epoch": epoch, "loss": loss_sum / n, "train_rmse": np.sqrt(sq_sum / n),
                       "seconds": elapsed}
                row.update(self._evaluate(eval_set, step.values(), cfg, mu))
                rows.append(row)
                bar.update(**{k: row[k] for k in ("loss", "test_rmse") if k in row})
        weights = step.values()
        log_sigma = weights.pop("log_sigma", None)
        return {"compile_seconds_": step.compile_seconds,
                "noise_": cfg["noise"] if log_sigma is None else float(np.exp(log_sigma)),
                "weights_": weights, "history_": pd.DataFrame(rows).set_index("epoch")}

    def _fit_advi(self, ratings: Ratings, cfg: dict, mu: float, init: dict, rng,
                  eval_set) -> dict:
        from ._advi import fit_advi

        n = len(ratings)
        B = min(cfg["batch_size"], n)
        per_epoch = -(-n // B)
        rows = []
        state = {"t": 0.0, "t_last": time.perf_counter()}

        with progress_bar(cfg["n_iter"], f"{cfg['architecture']} ADVI",
                          enabled=self.verbose) as bar:
            def callback(it, losses, means):
                if it % per_epoch:
                    return
                now = time.perf_counter()
                state["t"] += now - state["t_last"]
                row = {"epoch": it // per_epoch,
                       # PyMC scales -ELBO to the mini-batch (divides by N / B)
                       "loss": float(np.mean(losses[it - per_epoch:it])) / B,
                       "seconds": state["t"]}
                row.update(self._evaluate(eval_set, means(), cfg, mu))
                rows.append(row)
                bar.update(**{k: row[k] for k in ("loss", "test_rmse") if k in row})
                state["t_last"] = time.perf_counter()

            means, sds, losses, seconds = fit_advi(
                ratings, architecture=cfg["architecture"], rank=cfg["rank"],
                hidden=cfg["hidden"], activation=cfg["activation"], prior_sds=cfg["prior_sds"],
                noise=cfg["noise"], noise_prior_sd=cfg["noise_prior_sd"],
                global_mean=mu, batch_size=B, n_iter=cfg["n_iter"] * per_epoch,
                lr=cfg["lr"], init=init, init_posterior_sd=cfg["init_posterior_sd"],
                seed=int(rng.integers(2 ** 30)), callback=callback)
        out = {"advi_seconds_": seconds, "elbo_trace_": -losses}
        if cfg["noise"] is None:
            m, s = float(means.pop("sigma_log__")), float(sds.pop("sigma_log__"))
            out["_log_sigma_"] = (m, s)
            out["noise_"] = float(np.exp(m + 0.5 * s * s))
        else:
            out["_log_sigma_"] = None
            out["noise_"] = cfg["noise"]
        out.update(weights_=means, posterior_sd_=sds,
                   history_=pd.DataFrame(rows).set_index("epoch") if rows else pd.DataFrame())
        return out

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self._cfg_["method"] == "advi":
            return self._predictive_moments(users, items)[0]
        p = with_fallback_rows(self.weights_)
        return self.global_mean_ + forward_numpy(p, users, items, self._cfg_["architecture"],
                                                 self._cfg_["activation"])

    def _item_embeddings(self) -> np.ndarray:
        """The item embeddings ``v_i`` (MAP estimate or ADVI posterior means)."""
        return np.asarray(self.weights_["V"][: self.train_.n_items], np.float64)

    def _require_advi(self, what: str) -> None:
        self._check_fitted()
        if self._cfg_["method"] != "advi":
            raise ValueError(f"{what} needs a posterior: fit with method='advi' (a MAP fit "
                             "is a point estimate)")

    def _param_draws(self, n_draws: int, rng: np.random.Generator):
        """Yield ``n_draws`` weight sets from ``q`` (fallback rows drawn from the prior)."""
        cfg = self._cfg_
        sd_fill = {name: cfg["prior_sds"][PRIOR_OF[name]] for name in ("U", "V", "b", "c")}
        mean = with_fallback_rows(self.weights_)
        sd = with_fallback_rows(self.posterior_sd_, sd_fill)
        for _ in range(n_draws):
            draw = {k: mean[k] + sd[k] * rng.standard_normal(np.shape(mean[k])) for k in mean}
            if self._log_sigma_ is None:
                sigma = cfg["noise"]
            else:
                m, s = self._log_sigma_
                sigma = float(np.exp(m + s * rng.standard_normal()))
            yield draw, sigma

    def _noise_second_moment(self) -> float:
        """E_q[sigma^2]."""
        if self._log_sigma_ is None:
            return self._cfg_["noise"] ** 2
        m, s = self._log_sigma_
        return float(np.exp(2 * m + 2 * s * s))

    def _predictive_moments(self, users, items,
                            noise: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and sd of ``r_hat`` (``noise=True``: of the rating), unclipped.

        "dot": exact under the mean-field ``q`` (u_u, v_i independent)::

            E = mu + m_u . m_v + m_b + m_c
            Var = sum_k (m_uk^2 s_vk^2 + s_uk^2 m_vk^2 + s_uk^2 s_vk^2) + s_b^2 + s_c^2
                  [+ E[sigma^2] with noise]

        mlp / residual: Monte Carlo over ``n_draws`` draws of ``q``.
        """
        cfg = self._cfg_
        if cfg["architecture"] == "dot":
            sd_fill = {name: cfg["prior_sds"][PRIOR_OF[name]] for name in ("U", "V", "b", "c")}
            m = with_fallback_rows(self.weights_)
            s = with_fallback_rows(self.posterior_sd_, sd_fill)
            mean = self.global_mean_ + forward_numpy(m, users, items, "dot", cfg["activation"])
            mu_, mv_, su2, sv2 = m["U"][users], m["V"][items], s["U"][users] ** 2, \
                s["V"][items] ** 2
            var = ((mu_ ** 2 * sv2 + su2 * mv_ ** 2 + su2 * sv2).sum(axis=1)
                   + s["b"][users] ** 2 + s["c"][items] ** 2)
            return mean, np.sqrt(var + (self._noise_second_moment() if noise else 0.0))
        draws = self._draws(users, items, cfg["n_draws"], noise=False,
                            rng=np.random.default_rng(self._draw_seed_))
        var = draws.var(axis=0) + (self._noise_second_moment() if noise else 0.0)
        return draws.mean(axis=0), np.sqrt(var)

    def _draws(self, users, items, n_draws, noise, rng) -> np.ndarray:
        out = np.empty((n_draws, len(users)))
        for s, (p, sigma) in enumerate(self._param_draws(n_draws, rng)):
            out[s] = self.global_mean_ + forward_numpy(p, users, items, self._cfg_["architecture"],
                                                       self._cfg_["activation"])
            if noise:
                out[s] += sigma * rng.standard_normal(len(users))
        return out

    def predict(self, users, items, return_std: bool = False, noise: bool = False):
        """Predicted ratings (posterior predictive mean under ADVI), clipped to the scale.

        ``return_std=True`` (ADVI only) also returns the posterior sd of the mean rating
        ``r_hat`` (``noise=True``: of the rating, adding sigma), unclipped: ``(mean, std)``.
        Same contract as :meth:`BPMF.predict <bayesrec.factorization.BPMF.predict>`.
        """
        mean = super().predict(users, items)
        if not return_std:
            return mean
        self._require_advi("return_std")
        u, i = self._indices(users, items)
        return mean, self._predictive_moments(u, i, noise=noise)[1]

    def predictive_draws(self, users, items, n_draws: int | None = None, noise: bool = True,
                         rng=None) -> np.ndarray:
        """Draws ``(n_draws, n)`` of the posterior predictive (ADVI), unclipped.

        ``noise=False`` gives draws of the mean ``r_hat`` only.  ``rng`` defaults to a seed
        fixed at fit time, so repeated calls agree.
        """
        self._require_advi("predictive_draws")
        n_draws = self._cfg_["n_draws"] if n_draws is None else check_positive(
            "n_draws", n_draws, integer=True)
        noise = check_bool("noise", noise)  # "False" is a true string
        rng = np.random.default_rng(self._draw_seed_) if rng is None else check_random_state(rng)
        u, i = self._indices(users, items)
        return self._draws(u, i, n_draws, noise, rng)

    def predict_interval(self, users, items, prob: float = 0.9, noise: bool = True,
                         n_draws: int | None = None, rng=None) -> np.ndarray:
        """Central ``prob`` posterior predictive interval (ADVI), shape ``(n, 2)``.

        Quantiles of :meth:`predictive_draws` (noise included unless ``noise=False``, which
        gives the credible interval of the mean rating), clipped to the rating scale.
        """
        prob = check_probability("prob", prob)
        draws = self.predictive_draws(users, items, n_draws, noise=noise, rng=rng)
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        return self._clip(np.column_stack([lo, hi]))

    @property
    def posterior(self):
        """ADVI posterior draws as an ArviZ ``DataTree`` (1 chain x ``n_draws``), labelled dims.

        Holds ``n_draws`` copies of every weight: memory grows as ``n_draws * (n_users +
        n_items) * K``; for large data take :meth:`predictive_draws` instead.
        """
        self._require_advi("posterior")
        if getattr(self, "_posterior_cache", None) is None:
            import arviz as az

            rng = np.random.default_rng(self._draw_seed_)
            n_u, n_i = self.train_.n_users, self.train_.n_items
            draws = list(self._param_draws(self._cfg_["n_draws"], rng))
            post = {k: np.stack([d[k] for d, _ in draws])[None] for k in self.weights_}
            post["U"], post["V"] = post["U"][:, :, :n_u], post["V"][:, :, :n_i]
            for k in ("b", "c"):
                if k in post:
                    post[k] = post[k][:, :, :(n_u if k == "b" else n_i)]
            post["sigma"] = np.array([[s for _, s in draws]])
            dims = {"U": ["user", "latent"], "V": ["item", "latent"], "b": ["user"],
                    "c": ["item"], "W1": ["input", "hidden"], "b1": ["hidden"],
                    "w2": ["hidden"]}
            self._posterior_cache = az.from_dict(
                {"posterior": post}, dims={k: v for k, v in dims.items() if k in post},
                coords={"user": self.train_.user_ids, "item": self.train_.item_ids})
        return self._posterior_cache

    def plot_history(self, ax=None):
        """The course's curves: train vs test MSE per epoch (and the loss); returns the figure."""
        import matplotlib.pyplot as plt

        self._check_fitted()
        h = self.history_
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        elif not (hasattr(ax, "plot") and hasattr(ax, "figure")):
            raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
        else:
            fig = ax.figure
        if "train_rmse" in h:
            ax.plot(h.index, h["train_rmse"] ** 2, label="train MSE (running)")
        if "test_mse" in h:
            ax.plot(h.index, h["test_mse"], label="test MSE")
        ax.plot(h.index, h["loss"], "--", label="loss (neg. log posterior / N)")
        ax.set(xlabel="epoch", title=f"{self.architecture} ({self.method})")
        ax.legend()
        return fig
