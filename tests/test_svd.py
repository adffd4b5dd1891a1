"""TruncatedSVD: agreement with a dense numpy SVD, W = U S^1/2, hard-impute EM, recovery."""

import numpy as np
import pytest

from bayesrec.data import synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import TruncatedSVD
from bayesrec.factorization.svd import baseline_biases


@pytest.fixture(scope="module")
def small():
    ratings, _ = synthetic_ratings(60, 40, 700, rank=2, noise=0.5, rng=9)
    return ratings


def dense_residuals(r, mu, b, c):
    D = np.zeros(r.shape)
    M = np.zeros(r.shape, bool)
    D[r.users, r.items] = r.ratings - mu - b[r.users] - c[r.items]
    M[r.users, r.items] = True
    return D, M


def test_baseline_closed_forms(small):
    r = small
    mu = r.ratings.mean()
    reg = 3.0
    _, b, c = baseline_biases(r, "baseline", reg)
    for j in (0, 7):
        rows = r.items == j
        assert c[j] == pytest.approx(np.sum(r.ratings[rows] - mu) / (rows.sum() + reg))
    for u in (0, 11):
        rows = r.users == u
        assert b[u] == pytest.approx(np.sum(r.ratings[rows] - mu - c[r.items[rows]])
                                     / (rows.sum() + reg))
    _, b, c = baseline_biases(r, "user", reg)
    assert b[3] == pytest.approx(r.ratings[r.users == 3].mean() - mu) and not c.any()
    _, b, c = baseline_biases(r, "global", reg)
    assert not b.any() and not c.any()


@pytest.mark.parametrize("center", ["baseline", "global", "item"])
def test_equals_dense_svd_of_imputed_matrix(small, center):
    K = 4
    m = TruncatedSVD(rank=K, center=center, reg_bias=2.0, random_state=0).fit(small)
    D, _ = dense_residuals(small, m.global_mean_, m.user_bias_, m.item_bias_)
    U, s, Vt = np.linalg.svd(D, full_matrices=False)
    np.testing.assert_allclose(m.singular_values_, s[:K], rtol=1e-9)
    low_rank = (U[:, :K] * s[:K]) @ Vt[:K]
    np.testing.assert_allclose(m.user_factors_ @ m.item_factors_.T, low_rank, atol=1e-9)
    # W = U S^1/2 and V = S^1/2 V^T: both Gram matrices equal diag(S)
    np.testing.assert_allclose(m.user_factors_.T @ m.user_factors_, np.diag(s[:K]), atol=1e-9)
    np.testing.assert_allclose(m.item_factors_.T @ m.item_factors_, np.diag(s[:K]), atol=1e-9)
    # predictions = baseline + low-rank part (imputed matrix reconstruction)
    pred = m._predict_indices(np.array([0, 5]), np.array([3, 9]))
    expected = m.global_mean_ + m.user_bias_[[0, 5]] + m.item_bias_[[3, 9]] + low_rank[[0, 5],
                                                                                        [3, 9]]
    np.testing.assert_allclose(pred, expected, atol=1e-9)


def test_hard_impute_matches_dense_reference(small):
    K, n_iters = 3, 4
    m = TruncatedSVD(rank=K, n_iter=n_iters, random_state=0).fit(small)
    D, M = dense_residuals(small, m.global_mean_, m.user_bias_, m.item_bias_)
    L = np.zeros_like(D)
    for _ in range(n_iters + 1):
        U, s, Vt = np.linalg.svd(np.where(M, D, L), full_matrices=False)
        L = (U[:, :K] * s[:K]) @ Vt[:K]
    np.testing.assert_allclose(m.user_factors_ @ m.item_factors_.T, L, atol=1e-8)
    assert len(m.history_) == n_iters + 1


def test_recovers_held_out_truth_with_em():
    ratings, truth = synthetic_ratings(400, 250, 30_000, rank=3, noise=0.3, rng=1)
    train, test = random_split(ratings, 0.2, rng=2)
    plain = TruncatedSVD(rank=3, random_state=0).fit(train, test)
    em = TruncatedSVD(rank=3, n_iter=30, random_state=0).fit(train, test)
    mean = truth.mean(test.users, test.items)
    err = [np.sqrt(np.mean((m.predict_ratings(test) - mean) ** 2)) for m in (plain, em)]
    assert err[1] < 0.8 * truth.noise        # EM recovers the truth to within the noise
    assert err[1] < 0.5 * err[0]             # zero-imputation shrinks: plain SVD is far worse
    assert em.history_["test_rmse"].iloc[-1] < 1.2 * truth.noise


def test_validation_and_determinism(small):
    with pytest.raises(ValueError, match="rank"):
        TruncatedSVD(rank=40).fit(small)
    with pytest.raises(ValueError, match="center"):
        TruncatedSVD(center="median").fit(small)
    with pytest.raises(ValueError):
        TruncatedSVD(n_iter=-1).fit(small)
    a = TruncatedSVD(rank=3, random_state=1).fit(small)
    b = TruncatedSVD(rank=3, random_state=1).fit(small)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
