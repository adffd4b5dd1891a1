"""The BPMF sampler object handed to the chain driver (:mod:`bayesrec.inference.chains`).

Per retained draw it records only rotation-invariant quantities (the factors themselves are
identified only up to a joint rotation ``U R, V R``: the prior with ``mu0 = 0, W0 = I`` is
rotation invariant, so raw factor entries have meaningless r_hat):

``alpha``, ``U_norm = ||U||_F``, ``V_norm``, ``mu_U_norm = ||mu_U||``, ``mu_V_norm``,
``tau_b``, ``tau_c`` (biases), ``train_rmse`` (of that draw), and with an evaluation set
``test_rmse`` (of that draw) and ``test_pred`` (that draw's mean rating on up to
``n_tracked`` evaluation cells).

Its accumulator keeps, without storing every draw, running sums over the evaluation set
(posterior-mean prediction, its second moment, ``E[1/alpha]``, and the running test RMSE after
every draw) and a *bank* of full parameter draws at evenly spaced draw indices (every draw
when ``keep_factors``) used for predictions at arbitrary pairs.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from ._sweep import BPMFPrior, SweepData, init_state, sweep

BANK_FIELDS = ("xu", "xv", "alpha", "mu_u", "lam_u", "mu_v", "lam_v", "tau_b", "tau_c")


def bank_schedule(n_samples: int, n_bank: int) -> np.ndarray:
    """Evenly spaced retained-draw indices (at most ``n_bank`` of them, the last draw included)."""
    n_bank = max(1, min(int(n_bank), n_samples))
    return np.unique(np.round(np.linspace(n_samples - 1, 0, n_bank)).astype(int))


def mean_ratings(xu, xv, users, items, rank, biases, offset, chunk=1 << 20):
    """``offset + u.v (+ b + c)`` for one draw at index pairs (chunked gathers)."""
    out = np.empty(len(users))
    for s in range(0, len(users), chunk):
        u, i = users[s:s + chunk], items[s:s + chunk]
        p = np.einsum("nk,nk->n", xu[u, :rank], xv[i, :rank])
        if biases:
            p += xu[u, rank] + xv[i, rank]
        out[s:s + chunk] = p + offset
    return out


def _digest(*arrays) -> str:
    """Short SHA-256 of arrays (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


class HeldOutBookkeeping:
    """What every rating sampler with an evaluation set shares (BPMF, Bayesian SVD++).

    A subclass sets ``bank_fields`` (the state attributes copied into the predictive bank) and
    implements ``_eval_means(state)`` (the draw's mean rating at the evaluation cells); this
    class keeps the evaluation cells, the tracked subset, the running sums of the posterior
    predictive mean and variance over the evaluation set, and the bank of draws.
    """

    bank_fields: tuple = BANK_FIELDS

    def _setup(self, data, prior, eval_users, eval_items, eval_ratings, rating_scale,
               n_tracked: int, bank_draws, init_scale: float) -> None:
        self.data = data
        self.prior = prior
        self.rating_scale = rating_scale
        self.init_scale = init_scale
        self.bank_draws = np.asarray([] if bank_draws is None else bank_draws, dtype=int)
        self.has_eval = eval_users is not None
        if self.has_eval:
            self.eval_users = np.asarray(eval_users, dtype=np.int64)
            self.eval_items = np.asarray(eval_items, dtype=np.int64)
            self.eval_ratings = np.asarray(eval_ratings, dtype=np.float64)
            self.eval_known = (self.eval_users >= 0) & (self.eval_items >= 0)
            n = len(self.eval_users)
            self.tracked = np.unique(np.linspace(0, n - 1, min(n_tracked, n)).astype(int))

    def _eval_means(self, state) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def _clip(self, p):
        return p if self.rating_scale is None else np.clip(p, *self.rating_scale)

    # the evaluation means computed by ``record`` are reused by ``accumulate`` (same state)
    def _cache_eval(self, state, pred) -> None:
        state._eval_cache = pred

    def _cached_eval(self, state):
        return getattr(state, "_eval_cache", None)

    def _record_eval(self, state, rec: dict) -> dict:
        """Add ``test_rmse`` and ``test_pred`` (tracked cells) to a draw's record."""
        if self.has_eval:
            pred = self._eval_means(state)
            self._cache_eval(state, pred)
            rec["test_rmse"] = float(np.sqrt(np.mean((self._clip(pred)
                                                      - self.eval_ratings) ** 2)))
            rec["test_pred"] = pred[self.tracked]
        return rec

    def new_accumulator(self, n_draws: int) -> dict:
        acc = {"n": 0, "bank": []}
        if self.has_eval:
            n = len(self.eval_users)
            acc.update(sum=np.zeros(n), sumsq=np.zeros(n), inv_alpha=0.0,
                       running_rmse=np.full(n_draws, np.nan))
        return acc

    def accumulate(self, acc: dict, state, draw: int) -> None:
        acc["n"] += 1
        if self.has_eval:
            pred = self._cached_eval(state)
            if pred is None:
                pred = self._eval_means(state)
            acc["sum"] += pred
            acc["sumsq"] += pred * pred
            acc["inv_alpha"] += 1.0 / state.alpha
            mean = self._clip(acc["sum"] / acc["n"])
            acc["running_rmse"][draw] = np.sqrt(np.mean((mean - self.eval_ratings) ** 2))
        if draw in self.bank_draws:
            acc["bank"].append(tuple(np.copy(getattr(state, f)) for f in self.bank_fields))


class BPMFSampler(HeldOutBookkeeping):
    """Picklable sampler: ``init``, ``step``, ``record``, ``new_accumulator``, ``accumulate``."""

    def __init__(self, data: SweepData, prior: BPMFPrior, eval_users=None, eval_items=None,
                 eval_ratings=None, rating_scale=None, n_tracked: int = 100,
                 bank_draws: np.ndarray | None = None, init_scale: float = 0.1,
                 backend: str = "numba"):
        self._setup(data, prior, eval_users, eval_items, eval_ratings, rating_scale,
                    n_tracked, bank_draws, init_scale)
        self.backend = backend

    # -- driver protocol ---------------------------------------------------------------
    def fingerprint(self) -> dict:
        """One entry per thing that changes the numbers (checkpoint key; see
        :mod:`bayesrec.inference.chains`): the training data, every prior hyperparameter, the
        initialisation, the kernels, the predictive bank schedule and the evaluation cells."""
        d, p = self.data, self.prior
        out = {
            "data": _digest(d.pattern_u.indptr, d.pattern_u.indices, d.values_u,
                            np.array([d.offset, d.n_users, d.n_items], float)),
            "init_scale": repr(float(self.init_scale)),
            "backend": self.backend,
            "bank_draws": _digest(self.bank_draws),
            "rating_scale": repr(None if self.rating_scale is None
                                 else tuple(float(x) for x in self.rating_scale)),
            "evaluation_set": "none",
            "tracked_cells": "none",
        }
        for f in dataclasses.fields(p):
            if f.name != "nw":
                out[f.name] = repr(getattr(p, f.name))
        if p.nw is None:
            out["normal_wishart"] = "none"
        else:
            for name in ("mu0", "beta0", "nu0", "W0"):
                out[name] = _digest(np.asarray(getattr(p.nw, name), float))
        if self.has_eval:
            out["evaluation_set"] = _digest(self.eval_users, self.eval_items, self.eval_ratings)
            out["tracked_cells"] = _digest(self.tracked)
        return out

    def init(self, rng):
        return init_state(self.data, self.prior, rng, self.init_scale)

    def step(self, state, rng):
        return sweep(state, self.data, self.prior, rng, backend=self.backend)

    def _eval_means(self, state) -> np.ndarray:
        pred = np.full(len(self.eval_users), self.data.offset)
        k = self.eval_known
        pred[k] = mean_ratings(state.xu, state.xv, self.eval_users[k], self.eval_items[k],
                               self.prior.rank, self.prior.biases, self.data.offset)
        return pred

    def record(self, state) -> dict:
        k = self.prior.rank
        rec = {
            "alpha": state.alpha,
            "U_norm": float(np.linalg.norm(state.xu[:, :k])),
            "V_norm": float(np.linalg.norm(state.xv[:, :k])),
            "mu_U_norm": float(np.linalg.norm(state.mu_u)),
            "mu_V_norm": float(np.linalg.norm(state.mu_v)),
            "train_rmse": float(np.sqrt(state.sse / self.data.n_ratings)),
            "jitter_total": state.n_jitter,
        }
        if self.prior.biases:
            rec["tau_b"] = state.tau_b
            rec["tau_c"] = state.tau_c
        return self._record_eval(state, rec)
