"""The univariate slice sampler (``bayesrec.inference.slice``) leaves its target invariant.

Invariance test: start ``N`` independent runs at exact draws of the target (scipy / numpy),
apply ``slice_sample`` (default ``n_iter = 2``: the second iteration's slice level depends on
the point accepted by the first) three times each, and compare the end points with the
target.  The end points are iid, so no autocorrelation enters the standard errors.

* ``log X`` for ``X ~ Gamma(2)`` (skewed; narrow initial width, so stepping out does the
  work): KS test and z tests of the mean and variance against their closed forms (digamma,
  trigamma).  Power (``N = 5000``): the sd of the sample variance is about 0.02 of the
  variance here, so the z test (threshold 4.5) catches a 10% error in the variance (5% in
  the scale); the mean test a shift of 0.065 sd.
* an asymmetric two-component normal mixture (weights 0.3 / 0.7, modes 4 apart) with an
  initial width of 3, so that stepping out often stops in the gap between the modes: this is
  where the interval's random placement and symmetric stepping out matter (for a unimodal
  target any interval that covers the slice gives an exact draw).  z test of the mass right
  of 0 (sd 0.0065): catches a 4% relative error in a mode's mass; KS test.
"""

import math

import numpy as np
from scipy import special, stats

from bayesrec.inference.slice import slice_sample

N = 5000
Z = 4.5


def _run(logf, start, width, rng):
    out = np.empty(len(start))
    for n, y in enumerate(start):
        for _ in range(3):
            y = slice_sample(logf, y, rng, width=width)
        out[n] = y
    return out


def test_slice_sampler_leaves_a_skewed_target_invariant():
    a = 2.0
    rng = np.random.default_rng(1)
    y = _run(lambda t: a * t - np.exp(t), np.log(rng.gamma(a, 1.0, N)), 0.15, rng)
    mean, var = special.digamma(a), special.polygamma(1, a)
    mu4 = special.polygamma(3, a) + 3 * var ** 2          # fourth central moment
    z_mean = (y.mean() - mean) / np.sqrt(var / N)
    z_var = (y.var(ddof=1) - var) / np.sqrt((mu4 - var ** 2) / N)
    assert abs(z_mean) < Z, z_mean
    assert abs(z_var) < Z, z_var
    assert stats.kstest(y, stats.loggamma(a).cdf).pvalue > 1e-4


def test_slice_sampler_leaves_a_bimodal_target_invariant():
    w, m, s = np.array([0.3, 0.7]), np.array([-2.0, 2.0]), np.array([0.4, 0.8])

    c0, c1 = np.log(w / s)

    def logf(t):      # scalar math: this runs about 10^5 times
        a0 = c0 - 0.5 * ((t + 2.0) / 0.4) ** 2
        a1 = c1 - 0.5 * ((t - 2.0) / 0.8) ** 2
        hi = max(a0, a1)
        return hi + math.log1p(math.exp(min(a0, a1) - hi))

    def cdf(t):
        return sum(wk * stats.norm(mk, sk).cdf(t) for wk, mk, sk in zip(w, m, s))

    rng = np.random.default_rng(2)
    comp = rng.uniform(size=N) < w[1]
    start = np.where(comp, rng.normal(m[1], s[1], N), rng.normal(m[0], s[0], N))
    y = _run(logf, start, 3.0, rng)
    right = 1.0 - cdf(0.0)
    z = (np.mean(y > 0) - right) / np.sqrt(right * (1 - right) / N)
    assert abs(z) < Z, z
    assert stats.kstest(y, cdf).pvalue > 1e-4
