"""Dirichlet-multinomial posterior: SBC of the exact draws, exact laws of the sparse draws.

* :meth:`DirichletRows.sample_dense` is an exact posterior draw, so it gets simulation-based
  calibration (Talts et al. 2018): ``theta_i ~ Dirichlet(eps 1_V)``, counts ``c_i ~
  Multinomial(n_i, theta_i)`` with ``n_i`` uniform on 0..24, ``L = 99`` posterior draws per row,
  ranks of ``theta_i0``, ``theta_i1 + theta_i2`` and ``log(theta_i3 / theta_i4)`` uniform.
  Power (planted in the draws, 5 other seeds): with 20,000 rows a 5% inflation of the posterior
  variance of ``theta_i0`` gives a dispersion z of -4.7 to -8.1 (threshold 4.5: detected in
  5 of 5); the prior concentration off by 0.1 per entry (``eps + 0.1``) gives dispersion
  z of 5.3 to 8.7 and chi-square p < 1e-7.
* :meth:`DirichletRows.sample_sparse` is exact only in the laws its docstring promises (the
  prior mass is spread by its mean): with the Gamma construction ``g_j ~ Gamma(c_j)``,
  ``G0 ~ Gamma(eps V)``, ``V leak = G0 / (sum g + G0) ~ Beta(eps V, n)`` and, for an observed
  entry, ``theta_j - leak = g_j / (sum g + G0) ~ Beta(c_j, n + eps V - c_j)``.  Both are
  checked on 50,000 iid draws (many identical rows in one call) by a KS test and by z-tests
  of the mean and of the variance (SE from the draws): a 5% variance error (planted in these
  draws) gives variance z of 7.2-7.3 on the prior mass and 5.0-8.0 on the observed entries.
* The posterior mean and the evidence against closed forms written here (Polya urn).
"""

import numpy as np
import pytest
from _sbc import failures, ranks
from scipy import stats

from bayesrec.inference.dirichlet import DirichletRows

V, EPS = 5, 0.7
N_ROWS, L = 20_000, 99


def test_sbc_dense_draws():
    rng = np.random.default_rng(30)
    theta = rng.dirichlet(EPS * np.ones(V), N_ROWS)
    n = rng.integers(0, 25, N_ROWS)
    counts = np.stack([rng.multinomial(n[i], theta[i]) for i in range(N_ROWS)])
    post = DirichletRows(counts, EPS)
    draws = post.sample_dense(L, np.random.default_rng(31))           # (L, rows, V)

    def funcs(t):
        return {"theta0": t[..., 0], "theta1+2": t[..., 1] + t[..., 2],
                "log theta3/theta4": np.log(t[..., 3]) - np.log(t[..., 4])}

    truth = funcs(theta)
    d = funcs(draws)
    bad = failures({k: ranks(truth[k], d[k].T) for k in truth}, L, n_bins=20)
    assert not bad, bad


def _check_beta_law(x, a, b, what):
    """KS + z-tests of mean and variance of iid draws ``x`` against ``Beta(a, b)``."""
    assert stats.kstest(x, stats.beta(a, b).cdf).pvalue > 1e-4, what
    m, v = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    n = x.size
    z_mean = (x.mean() - m) / np.sqrt(v / n)
    dev2 = (x - m) ** 2
    z_var = (dev2.mean() - v) / (dev2.std() / np.sqrt(n))
    assert abs(z_mean) < 4.5 and abs(z_var) < 4.5, (what, z_mean, z_var)


@pytest.mark.parametrize("eps", [0.3, 1.0])
def test_sparse_draws_follow_their_exact_laws(eps):
    n_rep, v = 50_000, 40
    row = np.zeros(v)
    row[[2, 7, 30]] = [3, 1, 6]
    counts = np.tile(row, (n_rep, 1))
    draw = DirichletRows(counts, eps).sample_sparse(np.random.default_rng(32))
    dense = draw.toarray()
    leak = dense[:, 0]                                  # an unobserved entry: the leak
    np.testing.assert_allclose(dense.sum(1), 1.0, atol=1e-12)
    n = row.sum()
    _check_beta_law(v * leak, eps * v, n, "prior mass")
    for j in (2, 7, 30):
        _check_beta_law(dense[:, j] - leak, row[j], n + eps * v - row[j], f"entry {j}")
    # unobserved entries are all equal to the leak
    np.testing.assert_allclose(dense[:, [1, 3, 39]], np.repeat(leak[:, None], 3, 1),
                               atol=1e-15)


def test_mean_and_evidence_closed_forms():
    rng = np.random.default_rng(33)
    counts = rng.integers(0, 4, (6, V)) * (rng.random((6, V)) < 0.6)
    counts[2] = 0                                            # an empty row
    eps = 0.45
    post = DirichletRows(counts, eps)
    n = counts.sum(1, keepdims=True)
    np.testing.assert_allclose(post.mean().toarray(), (counts + eps) / (n + eps * V),
                               atol=1e-14)
    # evidence of the sequence: Polya urn, draw by draw (order does not matter)
    ref = 0.0
    for c in counts:
        seen = np.zeros(V)
        for j in np.repeat(np.arange(V), c):
            ref += np.log((seen[j] + eps) / (seen.sum() + eps * V))
            seen[j] += 1
    assert post.log_evidence() == pytest.approx(ref, abs=1e-10)
    # and the dense draws' first two moments per entry (z-tests, 40,000 draws)
    draws = post.sample_dense(40_000, np.random.default_rng(34))
    a = counts + eps
    a0 = a.sum(1, keepdims=True)
    m, var = a / a0, a * (a0 - a) / (a0 ** 2 * (a0 + 1))
    z = (draws.mean(0) - m) / np.sqrt(var / 40_000)
    dev2 = (draws - m) ** 2
    zv = (dev2.mean(0) - var) / (dev2.std(0) / np.sqrt(40_000))
    assert np.abs(z).max() < 4.5 and np.abs(zv).max() < 4.5, (z, zv)


def test_sparse_mean_products_match_the_dense_matrix():
    """``pi A``, ``A v``, rows and entries of the sparse + rank-one posterior mean against the
    dense matrix ``(c_ij + eps) / (n_i + eps V)`` written out here (an empty row included)."""
    rng = np.random.default_rng(35)
    counts = rng.integers(0, 5, (7, 9)) * (rng.random((7, 9)) < 0.4)
    counts[4] = 0
    eps = 0.3
    a = (counts + eps) / (counts.sum(1, keepdims=True) + eps * 9)
    mean = DirichletRows(counts, eps).mean()
    v = rng.normal(size=9)
    pi = rng.dirichlet(np.ones(7), size=3)
    np.testing.assert_allclose(mean.matvec(v), a @ v, atol=1e-14)
    np.testing.assert_allclose(mean.vecmat(pi[0]), pi[0] @ a, atol=1e-14)
    np.testing.assert_allclose(mean.vecmat(pi), pi @ a, atol=1e-14)
    np.testing.assert_allclose(mean.rows([4, 0]), a[[4, 0]], atol=1e-14)
    i, j = rng.integers(0, 7, 20), rng.integers(0, 9, 20)
    np.testing.assert_allclose(mean.entries(i, j), a[i, j], atol=1e-14)
