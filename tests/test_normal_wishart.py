"""Normal-Wishart conjugate update and Bartlett Wishart draws against closed forms / scipy."""

import numpy as np
import pytest
from scipy import stats

from bayesrec.inference.normal_wishart import NormalWishart, wishart_bartlett


def _spd(k, rng):
    a = rng.normal(size=(k, k))
    return a @ a.T / k + 0.5 * np.eye(k)


def test_posterior_is_prior_times_likelihood():
    """log p(mu, L | x) - log p(mu, L) - log p(x | mu, L) is the same at every (mu, L)."""
    rng = np.random.default_rng(0)
    k = 3
    prior = NormalWishart(rng.normal(size=k), 1.7, k + 2.5, _spd(k, rng))
    x = rng.normal(size=(25, k)) @ _spd(k, rng) + 1.0
    post = prior.posterior(x)
    assert post.beta0 == pytest.approx(1.7 + 25) and post.nu0 == pytest.approx(k + 2.5 + 25)
    diffs = []
    for _ in range(6):
        lam = stats.wishart(df=k + 3, scale=_spd(k, rng) / k).rvs(random_state=rng)
        mu = rng.normal(size=k)
        loglik = stats.multivariate_normal(mu, np.linalg.inv(lam)).logpdf(x).sum()
        diffs.append(post.logpdf(mu, lam) - prior.logpdf(mu, lam) - loglik)
    assert np.ptp(diffs) < 1e-8 * max(1.0, abs(np.mean(diffs)))


def test_posterior_without_data_is_prior():
    nw = NormalWishart.default(2)
    assert nw.posterior(np.zeros((0, 2))) is nw


def test_bartlett_draws_follow_wishart():
    """a^T L a / a^T W a ~ chi2(df) for any a (KS test), and mean df * W (z-test)."""
    rng = np.random.default_rng(1)
    k, df, n = 3, 5.5, 4000
    w = _spd(k, rng)
    draws = np.stack([wishart_bartlett(w, df, rng) for _ in range(n)])
    for a in (np.eye(k)[0], np.array([1.0, -2.0, 0.5])):
        q = np.einsum("i,nij,j->n", a, draws, a) / (a @ w @ a)
        assert stats.kstest(q, stats.chi2(df).cdf).pvalue > 1e-3
    # Var(L_ij) = df (W_ij^2 + W_ii W_jj)
    sd = np.sqrt(df * (w ** 2 + np.outer(np.diag(w), np.diag(w))) / n)
    assert np.all(np.abs(draws.mean(0) - df * w) < 4 * sd)
    # a wrong scale (W / 2) is caught by the same KS test
    q_bad = draws[:, 0, 0] / (2 * w[0, 0])
    assert stats.kstest(q_bad, stats.chi2(df).cdf).pvalue < 1e-6


def test_sample_mu_given_lambda():
    """beta^(1/2) chol(L)^T (mu - mu0) ~ N(0, I): whitened draws are standard normal."""
    rng = np.random.default_rng(2)
    k = 2
    nw = NormalWishart(np.array([1.0, -1.0]), 3.0, 4.0, _spd(k, rng))
    white = []
    for _ in range(3000):
        mu, lam = nw.sample(rng)
        white.append(np.linalg.cholesky(3.0 * lam).T @ (mu - nw.mu0))
    white = np.array(white)
    for j in range(k):
        assert stats.kstest(white[:, j], "norm").pvalue > 1e-3
    assert abs(np.corrcoef(white.T)[0, 1]) < 0.08


@pytest.mark.parametrize("bad", [dict(beta0=0.0), dict(nu0=0.5), dict(W0=-np.eye(2))])
def test_bad_hyperparameters(bad):
    kw = dict(mu0=np.zeros(2), beta0=2.0, nu0=2.0, W0=np.eye(2)) | bad
    with pytest.raises(ValueError):
        NormalWishart(**kw)
    with pytest.raises(ValueError):
        wishart_bartlett(np.eye(3), 1.5, np.random.default_rng(0))
