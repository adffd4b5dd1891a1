"""The conjugate Normal-Wishart update and Wishart draws by the Bartlett decomposition.

Model (Bishop 2006, sec. 2.3.6; Salakhutdinov & Mnih 2008, eq. 11-14)::

    Lambda ~ Wishart(W0, nu0)                       E[Lambda] = nu0 * W0
    mu | Lambda ~ N(mu0, (beta0 * Lambda)^-1)
    x_n | mu, Lambda ~ N(mu, Lambda^-1),  n = 1..N

Posterior (closed form)::

    beta_N = beta0 + N,   nu_N = nu0 + N
    mu_N   = (beta0 * mu0 + N * xbar) / beta_N
    W_N^-1 = W0^-1 + S + beta0 * N / beta_N * (xbar - mu0)(xbar - mu0)^T,
    S      = sum_n (x_n - xbar)(x_n - xbar)^T

Wishart draws use Bartlett's decomposition: with ``L = chol(W)`` and ``A`` lower triangular,
``A_ii = sqrt(chi2(nu - i))`` (i = 0..K-1) and ``A_ij ~ N(0, 1)`` below the diagonal,
``L A A^T L^T ~ Wishart(W, nu)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import ConvergenceError


def wishart_bartlett(scale: np.ndarray, df: float, rng: np.random.Generator,
                     scale_chol: np.ndarray | None = None) -> np.ndarray:
    """One draw from ``Wishart(scale, df)`` (mean ``df * scale``) by the Bartlett decomposition.

    Parameters
    ----------
    scale : (K, K) symmetric positive definite
    df : float, ``df > K - 1``
    rng : numpy Generator
    scale_chol : optional lower Cholesky factor of ``scale`` (saves a factorization)
    """
    scale = np.asarray(scale, dtype=np.float64)
    k = scale.shape[0]
    if df <= k - 1:
        raise ValueError(f"Wishart degrees of freedom must exceed K - 1 = {k - 1}, got {df}")
    chol = np.linalg.cholesky(scale) if scale_chol is None else scale_chol
    a = np.zeros((k, k))
    a[np.diag_indices(k)] = np.sqrt(rng.chisquare(df - np.arange(k)))
    low = np.tril_indices(k, -1)
    a[low] = rng.standard_normal(len(low[0]))
    la = chol @ a
    return la @ la.T


@dataclass(frozen=True)
class NormalWishart:
    """A Normal-Wishart distribution over ``(mu, Lambda)``: parameters ``mu0, beta0, nu0, W0``."""

    mu0: np.ndarray
    beta0: float
    nu0: float
    W0: np.ndarray

    @classmethod
    def default(cls, k: int, beta0: float = 2.0, nu0: float | None = None) -> NormalWishart:
        """The paper's hyperprior: ``mu0 = 0, beta0 = 2, nu0 = K, W0 = I``."""
        return cls(np.zeros(k), float(beta0), float(k if nu0 is None else nu0), np.eye(k))

    def __post_init__(self):
        k = len(self.mu0)
        if self.W0.shape != (k, k):
            raise ValueError(f"W0 must be ({k}, {k}), got {self.W0.shape}")
        for name, value in (("mu0", self.mu0), ("W0", self.W0)):
            if not np.isfinite(value).all():  # cholesky accepts a nan W0 without complaint
                raise ValueError(f"{name} must be finite (it has nan or inf entries)")
        if not self.beta0 > 0:
            raise ValueError(f"beta0 must be > 0, got {self.beta0}")
        if not self.nu0 > k - 1:
            raise ValueError(f"nu0 must exceed K - 1 = {k - 1}, got {self.nu0}")
        try:
            np.linalg.cholesky(self.W0)
        except np.linalg.LinAlgError as exc:
            raise ValueError("W0 must be symmetric positive definite") from exc

    @property
    def dim(self) -> int:
        return len(self.mu0)

    def posterior(self, x: np.ndarray) -> NormalWishart:
        """The conjugate posterior given rows ``x`` of shape (N, K) (closed form above)."""
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0]
        if n == 0:
            return self
        xbar = x.mean(axis=0)
        xc = x - xbar
        s = np.einsum("nk,nl->kl", xc, xc)   # not BLAS gemm: threaded gemm stalls under load
        return self.posterior_from_stats(n, xbar, s)

    def posterior_from_stats(self, n: int, xbar: np.ndarray, s: np.ndarray) -> NormalWishart:
        """The conjugate posterior from ``n`` rows' mean ``xbar`` and centred scatter
        ``s = sum (x - xbar)(x - xbar)^T`` (for callers with a faster scatter kernel)."""
        if n == 0:
            return self
        if not (np.isfinite(xbar).all() and np.isfinite(s).all()):
            # rows that overflowed float64 (an extreme init_scale or prior scale): the update
            # would build a non-finite W_n, which is the sampler's failure, not a bad W0
            raise ConvergenceError(
                "Normal-Wishart update: the rows' mean or scatter is not finite (the factors "
                "overflowed float64); reduce init_scale or the prior scales")
        beta_n = self.beta0 + n
        mu_n = (self.beta0 * self.mu0 + n * xbar) / beta_n
        d = (xbar - self.mu0)[:, None]
        w_inv = np.linalg.inv(self.W0) + s + (self.beta0 * n / beta_n) * (d @ d.T)
        w_n = np.linalg.inv(0.5 * (w_inv + w_inv.T))
        return NormalWishart(mu_n, beta_n, self.nu0 + n, 0.5 * (w_n + w_n.T))

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One draw ``(mu, Lambda)``.

        ``Lambda ~ Wishart(W, nu)``, ``mu ~ N(mu0, (beta Lambda)^-1)``.
        """
        lam = wishart_bartlett(self.W0, self.nu0, rng)
        chol = np.linalg.cholesky(self.beta0 * lam)
        # mu = mu0 + L^-T z has covariance (L L^T)^-1 = (beta Lambda)^-1
        mu = self.mu0 + np.linalg.solve(chol.T, rng.standard_normal(self.dim))
        return mu, lam

    def logpdf(self, mu: np.ndarray, lam: np.ndarray) -> float:
        """Log density of ``(mu, Lambda)`` (used by the tests against scipy)."""
        from scipy import stats
        return float(stats.wishart(df=self.nu0, scale=self.W0).logpdf(lam)
                     + stats.multivariate_normal(self.mu0, np.linalg.inv(self.beta0 * lam))
                     .logpdf(mu))
