"""Posterior predictive computations of BPMF from a bank of S parameter draws.

For draw ``s`` the rating at a known pair is ``N(m_s, 1/alpha_s)`` with
``m_s = mu + u_i . v_j + b_i + c_j``.  An unknown user (no training ratings) is integrated
over its prior given the draw's hyperparameters, ``u ~ N(mu_U, Sigma_U = Lambda_U^-1)``,
``b ~ N(0, 1/tau_b)``, which gives a Gaussian component with::

    m_s = mu + mu_U . v_j + c_j,     w_s = v_j^T Sigma_U v_j + 1/tau_b

(unknown item symmetric; both unknown: ``m_s = mu + mu_U . mu_V`` and
``w_s = tr(Sigma_U Sigma_V) + mu_U^T Sigma_V mu_U + mu_V^T Sigma_U mu_V + 1/tau_b + 1/tau_c``,
the exact variance of a product of independent Gaussians).  The posterior predictive of the
rating is the mixture ``(1/S) sum_s N(m_s, w_s + 1/alpha_s)``:

* mean ``E = mean_s m_s``;
* epistemic variance of the mean rating ``Var_s(m_s) + mean_s w_s``;
* predictive variance adds ``mean_s 1/alpha_s``;
* intervals are exact quantiles of the Gaussian mixture (vectorized bisection on its CDF).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr
from scipy.stats import norm


class Bank:
    """Stacked parameter draws: ``xu`` (S, n_users, D), ``xv`` (S, n_items, D), hypers (S, ...)."""

    def __init__(self, fields: tuple[np.ndarray, ...], rank: int, biases: bool, offset: float):
        """``fields``: the stacked draws of each of ``BANK_FIELDS``, in that order."""
        from ._sampler import BANK_FIELDS
        for name, col in zip(BANK_FIELDS, fields, strict=True):
            setattr(self, name, np.asarray(col, dtype=np.float64))
        self.rank, self.biases, self.offset = rank, biases, offset
        self.sig_u = np.linalg.inv(self.lam_u)
        self.sig_v = np.linalg.inv(self.lam_v)

    @property
    def n_draws(self) -> int:
        return len(self.alpha)

    def components(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-draw means ``m`` and extra variances ``w`` (S, n) at index pairs (-1 = unknown)."""
        k, s_n, n = self.rank, self.n_draws, len(users)
        m = np.full((s_n, n), self.offset)
        w = np.zeros((s_n, n))
        ku, ki = users >= 0, items >= 0
        both = ku & ki
        if both.any():
            u, i = users[both], items[both]
            for s in range(s_n):  # loop over the S kept draws only
                xu, xv = self.xu[s, u], self.xv[s, i]
                p = np.einsum("nk,nk->n", xu[:, :k], xv[:, :k])
                if self.biases:
                    p += xu[:, k] + xv[:, k]
                m[s, both] += p
        only_i = ~ku & ki   # unknown user, known item
        if only_i.any():
            v = self.xv[:, items[only_i]]                       # (S, n, D)
            m[:, only_i] += np.einsum("sk,snk->sn", self.mu_u, v[..., :k])
            w[:, only_i] += np.einsum("snk,skl,snl->sn", v[..., :k], self.sig_u, v[..., :k])
            if self.biases:
                m[:, only_i] += v[..., k]
                w[:, only_i] += (1.0 / self.tau_b)[:, None]
        only_u = ku & ~ki
        if only_u.any():
            x = self.xu[:, users[only_u]]
            m[:, only_u] += np.einsum("sk,snk->sn", self.mu_v, x[..., :k])
            w[:, only_u] += np.einsum("snk,skl,snl->sn", x[..., :k], self.sig_v, x[..., :k])
            if self.biases:
                m[:, only_u] += x[..., k]
                w[:, only_u] += (1.0 / self.tau_c)[:, None]
        none = ~ku & ~ki
        if none.any():
            mm = np.einsum("sk,sk->s", self.mu_u, self.mu_v)
            ww = (np.einsum("skl,slk->s", self.sig_u, self.sig_v)
                  + np.einsum("sk,skl,sl->s", self.mu_u, self.sig_v, self.mu_u)
                  + np.einsum("sk,skl,sl->s", self.mu_v, self.sig_u, self.mu_v))
            if self.biases:
                ww = ww + 1.0 / self.tau_b + 1.0 / self.tau_c
            m[:, none] += mm[:, None]
            w[:, none] += ww[:, None]
        return m, w

    def mean_std(self, users, items, noise: bool = False, chunk: int = 8192):
        """Posterior mean and sd of the mean rating (``noise=True``: of the rating itself)."""
        mean = np.empty(len(users))
        sd = np.empty(len(users))
        inv_alpha = float(np.mean(1.0 / self.alpha))
        for s in range(0, len(users), chunk):
            m, w = self.components(users[s:s + chunk], items[s:s + chunk])
            mean[s:s + chunk] = m.mean(axis=0)
            var = m.var(axis=0) + w.mean(axis=0) + (inv_alpha if noise else 0.0)
            sd[s:s + chunk] = np.sqrt(var)
        return mean, sd

    def interval(self, users, items, prob: float, chunk: int = 4096, tol: float = 1e-6):
        """Central ``prob`` interval of the predictive mixture (noise included)."""
        lo_q, hi_q = 0.5 - prob / 2, 0.5 + prob / 2
        out = np.empty((len(users), 2))
        for s in range(0, len(users), chunk):
            m, w = self.components(users[s:s + chunk], items[s:s + chunk])
            sd = np.sqrt(w + (1.0 / self.alpha)[:, None])
            for col, q in ((0, lo_q), (1, hi_q)):
                z = norm.ppf(q)
                a = (m - 10 * sd).min(axis=0) + min(z, 0) * sd.max(axis=0)
                b = (m + 10 * sd).max(axis=0) + max(z, 0) * sd.max(axis=0)
                while np.max(b - a) > tol:   # bisection on the mixture CDF, all cells at once
                    c = 0.5 * (a + b)
                    cdf = ndtr((c[None, :] - m) / sd).mean(axis=0)
                    below = cdf < q
                    a = np.where(below, c, a)
                    b = np.where(below, b, c)
                out[s:s + chunk, col] = 0.5 * (a + b)
        return out

    def score_block(self, users: np.ndarray, draw: int | None = None) -> np.ndarray:
        """Mean-rating scores of all items for known users: posterior mean, or one draw."""
        k = self.rank
        draws = range(self.n_draws) if draw is None else [draw]
        total = 0.0
        for s in draws:
            xu, xv = self.xu[s, users], self.xv[s]
            sc = xu[:, :k] @ xv[:, :k].T
            if self.biases:
                sc += xu[:, k:k + 1] + xv[None, :, k]
            total = total + sc
        return self.offset + total / len(draws)

    def score_moments(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd over draws of every item's mean rating for known users."""
        k = self.rank
        s1 = 0.0
        s2 = 0.0
        for s in range(self.n_draws):
            xu, xv = self.xu[s, users], self.xv[s]
            sc = xu[:, :k] @ xv[:, :k].T
            if self.biases:
                sc += xu[:, k:k + 1] + xv[None, :, k]
            s1 = s1 + sc
            s2 = s2 + sc * sc
        mean = s1 / self.n_draws
        var = np.maximum(s2 / self.n_draws - mean ** 2, 0.0)
        return self.offset + mean, np.sqrt(var)
