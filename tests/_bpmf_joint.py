"""Brute-force BPMF joint log density, written independently of the library (scipy only).

Model (see ``bayesrec.factorization.bpmf``)::

    r_ui ~ N(offset + b_u + c_i + u_u . v_i, 1/alpha)
    u_u ~ N(mu_U, Lambda_U^-1),  (mu_U, Lambda_U) ~ NormalWishart(mu0, beta0, nu0, W0)
    v_i ~ N(mu_V, Lambda_V^-1),  (mu_V, Lambda_V) ~ NormalWishart(mu0, beta0, nu0, W0)
    (no hyperprior: u_u, v_i ~ N(0, I / lambda))
    b_u ~ N(0, 1/tau_b), c_i ~ N(0, 1/tau_c), tau_b, tau_c ~ Gamma(a_b, rate b_b)  (biases)
    alpha ~ Gamma(a_alpha, rate b_alpha)                                          (sampled)

Used by the exact per-move tests and the SBC / Geweke simulators as the specification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats


@dataclass
class Spec:
    """The model's fixed hyperparameters, as plain numbers (no library objects)."""

    k: int
    hyperprior: bool = True
    biases: bool = True
    alpha_fixed: float | None = None          # None: alpha sampled
    mu0: np.ndarray | None = None
    beta0: float = 2.0
    nu0: float | None = None
    W0: np.ndarray | None = None
    lam: float = 1.0                          # factor precision without hyperprior
    bias_ab: tuple = (3.0, 2.0)
    alpha_ab: tuple = (4.0, 4.0)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.mu0 is None:
            self.mu0 = np.zeros(self.k)
        if self.nu0 is None:
            self.nu0 = self.k + 2.0
        if self.W0 is None:
            self.W0 = np.eye(self.k)

    def library_prior(self):
        """The same model as the library's ``BPMFPrior`` (built here, used only to run it)."""
        from bayesrec.factorization.bpmf._sweep import BPMFPrior
        from bayesrec.inference.normal_wishart import NormalWishart
        nw = (NormalWishart(np.asarray(self.mu0, float), self.beta0, self.nu0,
                            np.asarray(self.W0, float)) if self.hyperprior else None)
        return BPMFPrior(self.k, nw, self.lam, self.biases, self.bias_ab[0], self.bias_ab[1],
                         self.alpha_fixed, self.alpha_ab[0], self.alpha_ab[1])


def mean_rating(xu, xv, users, items, spec: Spec, offset=0.0):
    k = spec.k
    m = offset + np.einsum("nk,nk->n", xu[users, :k], xv[items, :k])
    if spec.biases:
        m = m + xu[users, k] + xv[items, k]
    return m


def log_joint(st, users, items, r, spec: Spec, offset=0.0) -> float:
    """``log p(theta, r)`` for a state with fields xu, xv, alpha, mu_u, lam_u, mu_v, lam_v,
    tau_b, tau_c (the library's ``State`` or any object with those attributes)."""
    k = spec.k
    m = mean_rating(st.xu, st.xv, users, items, spec, offset)
    out = float(np.sum(stats.norm.logpdf(r, m, 1.0 / np.sqrt(st.alpha))))
    for x, mu, lam in ((st.xu, st.mu_u, st.lam_u), (st.xv, st.mu_v, st.lam_v)):
        lat = x[:, :k]
        if spec.hyperprior:
            cov = np.linalg.inv(lam)
            out += float(np.sum(stats.multivariate_normal(mu, cov).logpdf(lat)))
            out += float(stats.wishart(df=spec.nu0, scale=spec.W0).logpdf(lam))
            out += float(stats.multivariate_normal(spec.mu0, cov / spec.beta0).logpdf(mu))
        else:
            out += float(np.sum(stats.norm.logpdf(lat, 0.0, 1.0 / np.sqrt(spec.lam))))
    if spec.biases:
        a, b = spec.bias_ab
        for x, tau in ((st.xu, st.tau_b), (st.xv, st.tau_c)):
            out += float(np.sum(stats.norm.logpdf(x[:, k], 0.0, 1.0 / np.sqrt(tau))))
            out += float(stats.gamma.logpdf(tau, a, scale=1.0 / b))
    if spec.alpha_fixed is None:
        a, b = spec.alpha_ab
        out += float(stats.gamma.logpdf(st.alpha, a, scale=1.0 / b))
    return out


def sse(st, users, items, r, spec: Spec, offset=0.0) -> float:
    return float(np.sum((r - mean_rating(st.xu, st.xv, users, items, spec, offset)) ** 2))


class Scripted:
    """A stand-in random generator that returns scripted numbers (to read a move's law).

    ``normals``: list of arrays handed out by ``standard_normal`` in order; ``uniforms``: list of
    floats handed out by ``uniform``.  Anything else is an error (the move used an unexpected
    random call).
    """

    def __init__(self, normals=(), uniforms=()):
        self.normals = [np.asarray(z, dtype=float) for z in normals]
        self.uniforms = list(uniforms)

    def standard_normal(self, size=None):
        z = self.normals.pop(0)
        if size is not None:
            assert z.shape == tuple(np.atleast_1d(size)), (z.shape, size)
        return z.copy()

    def uniform(self, low=0.0, high=1.0, size=None):
        assert size is None
        return self.uniforms.pop(0)
