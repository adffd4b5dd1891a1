"""The Bayesian SVD++ sampler object handed to the chain driver (:mod:`bayesrec.inference.chains`).

Per retained draw it records only rotation-invariant quantities (a joint rotation of every
user-side factor by ``R`` and every item-side factor by ``R`` leaves the likelihood and the
Normal-Wishart priors with ``mu0 = 0, W0 = I`` unchanged, so raw factor entries have
meaningless r_hat):

``alpha``, Frobenius norms ``U_norm``, ``V_norm`` (own rows), ``P_norm``, ``Q_norm`` (the
totals ``p_u``, ``q_i`` that predict), ``Y_norm``, ``Z_norm`` (bag factors), ``tau_b``,
``tau_c``, ``train_rmse``; with an evaluation set ``test_rmse`` and ``test_pred`` (the draw's
mean rating on up to ``n_tracked`` evaluation cells).

The accumulator keeps running sums over the evaluation set and a *bank* of draws of the
totals and hyperparameters at evenly spaced draw indices: the same layout as BPMF's bank
(``xu = P``, ``xv = Q``), so BPMF's posterior-predictive code serves both models.
"""

from __future__ import annotations

import numpy as np

from ..bpmf._sampler import _digest, mean_ratings
from ._sweep import SVDppData, SVDppPrior, init_state, sweep

BANK_FIELDS = ("pu", "pv", "alpha", "mu_u", "lam_u", "mu_v", "lam_v", "tau_b", "tau_c")


class SVDppSampler:
    """Picklable sampler: ``init``, ``step``, ``record``, ``new_accumulator``, ``accumulate``."""

    def __init__(self, data: SVDppData, prior: SVDppPrior, eval_users=None, eval_items=None,
                 eval_ratings=None, rating_scale=None, n_tracked: int = 100,
                 bank_draws=None, init_scale: float = 0.1):
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

    # -- driver protocol ---------------------------------------------------------------
    def fingerprint(self) -> dict:
        """One entry per thing that changes the numbers (the checkpoint key, see
        :mod:`bayesrec.inference.chains`): data, bags, priors, init, bank, evaluation cells."""
        d, p = self.data, self.prior
        bags = []
        for bag in (d.bag_u, d.bag_v):
            bags += [bag.csr.indptr, bag.csr.indices, bag.csr.data, bag.group,
                     bag.linear.astype(np.int8)]
        out = {
            "data": _digest(d.ratings.pattern_u.indptr, d.ratings.pattern_u.indices,
                            d.ratings.values_u, np.array([d.offset], float)),
            "bags": _digest(*bags),
            "own_prior": repr(p.own),
            "bag_prior": repr((p.bag_nw.beta0, p.bag_nw.nu0, p.linear_a, p.linear_b)),
            "init_scale": repr(float(self.init_scale)),
            "bank_draws": _digest(self.bank_draws),
            "rating_scale": repr(None if self.rating_scale is None
                                 else tuple(float(x) for x in self.rating_scale)),
            "evaluation_set": "none",
            "tracked_cells": "none",
        }
        if self.has_eval:
            out["evaluation_set"] = _digest(self.eval_users, self.eval_items, self.eval_ratings)
            out["tracked_cells"] = _digest(self.tracked)
        return out

    def init(self, rng):
        return init_state(self.data, self.prior, rng, self.init_scale)

    def step(self, state, rng):
        return sweep(state, self.data, self.prior, rng)

    def _eval_means(self, state) -> np.ndarray:
        """The draw's mean rating at the evaluation cells; a user or item without training
        ratings takes its prior mean given the draw (``p_u = mu_U``, ``b_u = 0``; items
        likewise), as the predictive bank does."""
        k = self.prior.rank
        pred = np.full(len(self.eval_users), self.data.offset)
        known = self.eval_known
        pred[known] = mean_ratings(state.pu, state.pv, self.eval_users[known],
                                   self.eval_items[known], k, True, self.data.offset)
        ku, ki = self.eval_users >= 0, self.eval_items >= 0
        only_u = ku & ~ki
        pu = state.pu[self.eval_users[only_u]]
        pred[only_u] += pu[:, :k] @ state.mu_v + pu[:, k]
        only_i = ~ku & ki
        pv = state.pv[self.eval_items[only_i]]
        pred[only_i] += pv[:, :k] @ state.mu_u + pv[:, k]
        pred[~ku & ~ki] += float(state.mu_u @ state.mu_v)
        return pred

    def _clip(self, p):
        return p if self.rating_scale is None else np.clip(p, *self.rating_scale)

    def record(self, state) -> dict:
        k = self.prior.rank
        rec = {
            "alpha": state.alpha,
            "U_norm": float(np.linalg.norm(state.xu[:, :k])),
            "V_norm": float(np.linalg.norm(state.xv[:, :k])),
            "P_norm": float(np.linalg.norm(state.pu[:, :k])),
            "Q_norm": float(np.linalg.norm(state.pv[:, :k])),
            "Y_norm": float(np.linalg.norm(state.yu[:, :k])),
            "Z_norm": float(np.linalg.norm(state.yv[:, :k])),
            "tau_b": state.tau_b,
            "tau_c": state.tau_c,
            "train_rmse": float(np.sqrt(state.sse / self.data.n_ratings)),
            "jitter_total": state.n_jitter,
        }
        if self.has_eval:
            pred = self._eval_means(state)
            state.extra["eval"] = pred  # reused by accumulate (same state object)
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
            pred = state.extra.pop("eval", None)
            if pred is None:
                pred = self._eval_means(state)
            acc["sum"] += pred
            acc["sumsq"] += pred * pred
            acc["inv_alpha"] += 1.0 / state.alpha
            mean = self._clip(acc["sum"] / acc["n"])
            acc["running_rmse"][draw] = np.sqrt(np.mean((mean - self.eval_ratings) ** 2))
        if draw in self.bank_draws:
            acc["bank"].append(tuple(np.copy(getattr(state, f)) for f in BANK_FIELDS))
