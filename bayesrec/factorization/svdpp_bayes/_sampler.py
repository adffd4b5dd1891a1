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

from ..bpmf._sampler import HeldOutBookkeeping, _digest, mean_ratings
from ._sweep import SVDppData, SVDppPrior, init_state, sweep

BANK_FIELDS = ("pu", "pv", "alpha", "mu_u", "lam_u", "mu_v", "lam_v", "tau_b", "tau_c")


class SVDppSampler(HeldOutBookkeeping):
    """Picklable sampler: ``init``, ``step``, ``record``, ``new_accumulator``, ``accumulate``."""

    bank_fields = BANK_FIELDS

    def __init__(self, data: SVDppData, prior: SVDppPrior, eval_users=None, eval_items=None,
                 eval_ratings=None, rating_scale=None, n_tracked: int = 100,
                 bank_draws=None, init_scale: float = 0.1):
        self._setup(data, prior, eval_users, eval_items, eval_ratings, rating_scale,
                    n_tracked, bank_draws, init_scale)

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

    # the state carries a dict ``extra`` for per-draw scratch values
    def _cache_eval(self, state, pred) -> None:
        state.extra["eval"] = pred

    def _cached_eval(self, state):
        return state.extra.pop("eval", None)

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
        return self._record_eval(state, rec)
