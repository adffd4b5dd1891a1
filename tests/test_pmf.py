"""PMF-MAP: the documented log posterior, the MAP conditions, equivalence with ALS, recovery."""

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import minimize

from bayesrec.data import synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import ALS, PMF
from bayesrec.factorization.pmf import pmf_neg_log_posterior

HYPER = dict(alpha=4.0, lambda_u=3.0, lambda_v=5.0, lambda_b=2.0)


@pytest.fixture(scope="module")
def tiny():
    ratings, _ = synthetic_ratings(50, 30, 500, rank=2, noise=0.5, rng=5)
    return ratings


def _unpack(theta, r, K):
    nu, ni = r.n_users, r.n_items
    W = theta[:nu * K].reshape(nu, K)
    V = theta[nu * K:(nu + ni) * K].reshape(ni, K)
    b = theta[(nu + ni) * K:(nu + ni) * K + nu]
    c = theta[(nu + ni) * K + nu:]
    return W, V, b, c


def _energy_and_grad(theta, r, K, mu, alpha, lambda_u, lambda_v, lambda_b):
    """E and its gradient, written independently of the library."""
    W, V, b, c = _unpack(theta, r, K)
    u, i = r.users, r.items
    e = r.ratings - mu - b[u] - c[i] - np.sum(W[u] * V[i], axis=1)
    E = (0.5 * alpha * e @ e + 0.5 * lambda_u * np.sum(W ** 2) + 0.5 * lambda_v * np.sum(V ** 2)
         + 0.5 * lambda_b * (b @ b + c @ c))
    gW = lambda_u * W
    gV = lambda_v * V
    np.add.at(gW, u, -alpha * e[:, None] * V[i])
    np.add.at(gV, i, -alpha * e[:, None] * W[u])
    gb = lambda_b * b - alpha * np.bincount(u, e, r.n_users)
    gc = lambda_b * c - alpha * np.bincount(i, e, r.n_items)
    return E, np.concatenate([gW.ravel(), gV.ravel(), gb, gc])


def test_objective_is_the_negative_log_posterior(tiny):
    """Differences of E equal differences of -log p from scipy.stats densities."""
    r = tiny
    K = 2
    mu = r.global_mean
    rng = np.random.default_rng(0)
    sd = lambda prec: 1 / np.sqrt(prec)  # noqa: E731

    def logpost(W, V, b, c):
        mean = mu + b[r.users] + c[r.items] + np.sum(W[r.users] * V[r.items], axis=1)
        return (stats.norm.logpdf(r.ratings, mean, sd(HYPER["alpha"])).sum()
                + stats.norm.logpdf(W, 0, sd(HYPER["lambda_u"])).sum()
                + stats.norm.logpdf(V, 0, sd(HYPER["lambda_v"])).sum()
                + stats.norm.logpdf(np.r_[b, c], 0, sd(HYPER["lambda_b"])).sum())

    thetas = [(rng.normal(0, .5, (r.n_users, K)), rng.normal(0, .5, (r.n_items, K)),
               rng.normal(0, .3, r.n_users), rng.normal(0, .3, r.n_items)) for _ in range(2)]
    E = [pmf_neg_log_posterior(r, *t, global_mean=mu, **HYPER) for t in thetas]
    lp = [logpost(*t) for t in thetas]
    assert E[0] - E[1] == pytest.approx(-(lp[0] - lp[1]), rel=1e-10)


def test_map_conditions_and_no_better_point_nearby(tiny):
    r = tiny
    K = 2
    m = PMF(rank=K, n_iter=3000, tol=0, random_state=0, **HYPER).fit(r)
    theta = np.concatenate([m.user_factors_.ravel(), m.item_factors_.ravel(), m.user_bias_,
                            m.item_bias_])
    args = (r, K, m.global_mean_, *HYPER.values())
    E, g = _energy_and_grad(theta, *args)
    assert E == pytest.approx(m.neg_log_posterior_, rel=1e-12)
    assert E == pytest.approx(m.neg_log_posterior(), rel=1e-12)
    # gradient of the log posterior vanishes at the MAP
    assert np.max(np.abs(g)) < 1e-6
    # an independent optimizer started there finds nothing better
    res = minimize(_energy_and_grad, theta, args=args, jac=True, method="L-BFGS-B",
                   options=dict(maxiter=500, gtol=1e-10, ftol=1e-15))
    assert res.fun > E - 1e-8 * E
    # the history is monotone
    h = m.history_["neg_log_posterior"].to_numpy()
    assert np.all(np.diff(h) <= 1e-10 * h[:-1])


def test_same_as_als_with_matching_regularization(tiny):
    reg, alpha = 2.0, 3.0
    lam = reg * alpha
    p = PMF(rank=3, alpha=alpha, lambda_u=lam, lambda_v=lam, lambda_b=lam, n_iter=6, tol=0,
            random_state=4).fit(tiny)
    a = ALS(rank=3, reg=reg, n_iter=6, random_state=4).fit(tiny)
    np.testing.assert_allclose(p.user_factors_, a.user_factors_, atol=1e-12)
    np.testing.assert_allclose(p.item_bias_, a.item_bias_, atol=1e-12)
    np.testing.assert_allclose(p.history_["neg_log_posterior"], alpha / 2 * a.history_["loss"],
                               rtol=1e-12)


def test_recovers_held_out_truth_with_true_hyperparameters():
    ratings, truth = synthetic_ratings(400, 250, 30_000, rank=3, noise=0.3, rng=1)
    train, test = random_split(ratings, 0.2, rng=2)
    s_f2 = np.var(np.r_[truth.user_factors.ravel(), truth.item_factors.ravel()])
    m = PMF(rank=3, alpha=1 / truth.noise ** 2, lambda_u=1 / s_f2, lambda_v=1 / s_f2,
            lambda_b=1 / 0.2, tol=1e-4, n_iter=300, random_state=0).fit(train, test)
    pred = m.predict_ratings(test)
    err_truth = np.sqrt(np.mean((pred - truth.mean(test.users, test.items)) ** 2))
    assert err_truth < 0.5 * truth.noise
    assert m.history_["test_rmse"].iloc[-1] < 1.1 * truth.noise
    # stopped by tol: the last relative decrease is the first one below it
    h = m.history_["neg_log_posterior"].to_numpy()
    rel = -np.diff(h) / h[1:]
    assert m.n_iter_ < 300 and rel[-1] <= 1e-4 and np.all(rel[:-1] > 1e-4)


def test_no_biases_deterministic_and_validation(tiny):
    m = PMF(rank=2, biases=False, n_iter=5, random_state=1).fit(tiny)
    assert not m.user_bias_.any() and not m.item_bias_.any()
    m2 = PMF(rank=2, biases=False, n_iter=5, random_state=1).fit(tiny)
    np.testing.assert_array_equal(m.item_factors_, m2.item_factors_)
    assert PMF(rank=2, global_mean=3.0, n_iter=2).fit(tiny).global_mean_ == 3.0
    # flat bias prior (lambda_b = 0) with a user that has no training rows: bias stays 0
    train = tiny.take(tiny.users != 0)
    flat = PMF(rank=2, lambda_b=0.0, n_iter=3, random_state=0).fit(train)
    assert flat.user_bias_[0] == 0.0 and np.all(np.isfinite(flat.user_bias_))
    for bad in (dict(alpha=0), dict(lambda_u=-1), dict(lambda_b=-0.1), dict(rank=0),
                dict(tol=-1), dict(global_mean=float("nan"))):
        with pytest.raises(ValueError):
            PMF(**bad).fit(tiny)
