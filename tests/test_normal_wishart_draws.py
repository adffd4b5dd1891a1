"""Second moments of the Normal-Wishart draws against closed forms (variance errors).

For ``Lambda ~ Wishart(W, nu)`` (Bartlett draws of the library):
``E[Lambda_ij] = nu W_ij`` and ``Var[Lambda_ij] = nu (W_ij^2 + W_ii W_jj)`` (Anderson 2003,
thm. 7.3.2 moments).  For ``mu | Lambda ~ N(mu0, (beta Lambda)^-1)``: the whitened draw
``sqrt(beta) chol(Lambda)^T (mu - mu0)`` has identity covariance.  Sample means and sample
variances are compared by z-tests whose standard errors come from the draws themselves.

Power (measured by planting the error into the draws below, asserted): with 40,000 draws a
5% variance error of the Bartlett off-diagonal normal gives a variance z of 5.4 on the
affected entry, and a 5% error in the covariance of mu a whitened variance z above 5.
"""

import numpy as np

from bayesrec.inference.normal_wishart import NormalWishart, wishart_bartlett

N = 40_000
Z = 4.5


def _z_mean_var(x, mean, var):
    """z of the sample mean and of the sample variance (about the known mean)."""
    n = len(x)
    z_mean = (x.mean(0) - mean) / np.sqrt(var / n)
    dev2 = (x - mean) ** 2
    z_var = (dev2.mean(0) - var) / (dev2.std(0) / np.sqrt(n))
    return z_mean, z_var


def test_wishart_entries_have_the_closed_form_mean_and_variance():
    w = np.array([[1.3, 0.4, -0.2], [0.4, 0.7, 0.1], [-0.2, 0.1, 0.9]])
    df = 5.5
    rng = np.random.default_rng(40)
    draws = np.stack([wishart_bartlett(w, df, rng) for _ in range(N)]).reshape(N, -1)
    d = np.diag(w)
    mean = (df * w).ravel()
    var = (df * (w ** 2 + np.outer(d, d))).ravel()
    z_mean, z_var = _z_mean_var(draws, mean, var)
    assert np.abs(z_mean).max() < Z and np.abs(z_var).max() < Z, (z_mean, z_var)
    # power: a 5% variance error of the Bartlett off-diagonal normal, planted in Lambda_21
    eye = np.stack([wishart_bartlett(np.eye(2), df, rng) for _ in range(N)])
    # W = I: Lambda_21 = A_21 A_11 has variance df; Lambda_11 = A_11^2 variance 2 df
    z_mean, z_var = _z_mean_var(eye.reshape(N, -1), (df * np.eye(2)).ravel(),
                                np.array([2 * df, df, df, 2 * df]))
    assert np.abs(z_mean).max() < Z and np.abs(z_var).max() < Z, (z_mean, z_var)
    bad = eye[:, 1, 0] * np.sqrt(1.05)
    _, zb = _z_mean_var(bad[:, None], 0.0, np.array([df]))
    assert abs(zb[0]) > 5.0, zb


def test_normal_wishart_mu_given_lambda_has_identity_whitened_covariance():
    rng = np.random.default_rng(41)
    w = np.array([[1.3, 0.4], [0.4, 0.7]])
    beta = 2.5
    nw = NormalWishart(np.array([0.5, -1.0]), beta, 4.5, w)
    white = np.empty((N, 2))
    lams = np.empty((N, 2, 2))
    for s in range(N):
        mu, lam = nw.sample(rng)
        white[s] = np.linalg.cholesky(beta * lam).T @ (mu - nw.mu0)
        lams[s] = lam
    z_mean, z_var = _z_mean_var(white, np.zeros(2), np.ones(2))
    assert np.abs(z_mean).max() < Z and np.abs(z_var).max() < Z, (z_mean, z_var)
    corr = np.mean(white[:, 0] * white[:, 1])
    assert abs(corr) < Z / np.sqrt(N)
    # the Lambda drawn alongside is Wishart(W, nu): mean nu W
    z_lam, _ = _z_mean_var(lams.reshape(N, -1), (4.5 * w).ravel(),
                           (4.5 * (w ** 2 + np.outer(np.diag(w), np.diag(w)))).ravel())
    assert np.abs(z_lam).max() < Z, z_lam
    # power: a 5% covariance error of mu
    _, zb = _z_mean_var(white * np.sqrt(1.05), np.zeros(2), np.ones(2))
    assert np.abs(zb).min() > 5.0, zb
