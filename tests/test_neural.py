"""NeuralRecommender, MAP: objective vs the PyMC twin, optimizers, recovery, agreement with PMF.

Compiles (Numba, ~10-20 s each when cold): the float32 "dot" Adam step (shared by the
recovery and PMF tests), the "residual" Adam step and the "dot" momentum step.  The objective
and optimizer checks compile tiny graphs in FAST_COMPILE mode (no Numba).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

from bayesrec.data import synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization.neural import NeuralRecommender
from bayesrec.factorization.neural._graph import forward_numpy, init_params, param_names
from bayesrec.factorization.neural._map import l2_from_prior_sd, objective, prior_sd_from_l2
from bayesrec.factorization.neural._optim import adam_updates, momentum_updates
from bayesrec.metrics import rmse

PRIORS = {"factor_sd": 0.4, "bias_sd": 0.5, "weight_sd": 0.7}


@pytest.fixture(scope="module")
def synth():
    """Ratings from the dot model (K=3), held-out 20%; truth known."""
    r, truth = synthetic_ratings(150, 120, 6000, rank=3, noise=0.3, rng=0, signal=0.6,
                                 with_timestamps=False)
    train, test = random_split(r, 0.2, rng=1)
    return train, test, truth


# ---------------------------------------------------------------- objective = PyMC logp
@pytest.mark.parametrize("architecture", ["dot", "mlp", "residual"])
@pytest.mark.parametrize("noise", [None, 0.8])
def test_objective_matches_pymc_twin(architecture, noise):
    """N * (L(a) - L(b)) equals -(logp(a) - logp(b)) of models.neural (jacobian=False)."""
    from models.neural import neural_model

    rng = np.random.default_rng(3)
    n_u, n_i, n, K, H = 7, 5, 25, 2, 3
    users, items = rng.integers(0, n_u, n), rng.integers(0, n_i, n)
    y = rng.normal(3.5, 1.0, n)
    mu = y.mean()
    model = neural_model(users, items, y, n_u, n_i, architecture=architecture, rank=K,
                         hidden=H, activation="tanh", noise=noise, noise_prior_sd=1.3,
                         **PRIORS)
    logp = model.compile_logp(jacobian=False, mode="FAST_COMPILE")
    values = []
    for _ in range(2):
        p = {k: v + rng.normal(0, 0.3, np.shape(v))
             for k, v in init_params(architecture, n_u, n_i, K, H, 0.5, rng).items()}
        point = dict(p)
        if noise is None:
            p["log_sigma"] = point["sigma_log__"] = rng.normal(-0.2, 0.3)
        L, _ = objective(p, users, items, y - mu, n, architecture, "tanh", PRIORS, noise,
                         1.3, np)
        values.append((L, logp(point)))
    (La, lpa), (Lb, lpb) = values
    assert n * (La - Lb) == pytest.approx(-(lpa - lpb), rel=1e-9)


def test_l2_prior_mapping_roundtrip():
    # Keras: MSE + reg |w|^2  <->  prior sd = sigma / sqrt(N reg)
    assert prior_sd_from_l2(1e-4, 80_000, 0.9) == pytest.approx(0.9 / np.sqrt(8.0))
    assert l2_from_prior_sd(prior_sd_from_l2(3e-5, 1000, 0.7), 1000, 0.7) == pytest.approx(3e-5)


# ---------------------------------------------------------------- optimizers
def _run_updates(make_updates, steps=4):
    """A quadratic loss 0.5 * sum(a * (w - t)^2), updated by the compiled optimizer."""
    a = np.array([1.0, 3.0, 0.5])
    t = np.array([0.3, -1.0, 2.0])
    w = pytensor.shared(np.zeros(3), name="w")
    loss = 0.5 * (a * (w - t) ** 2).sum()
    fn = pytensor.function([], loss, updates=make_updates([w], [pytensor.grad(loss, w)]),
                           mode="FAST_COMPILE")
    out = []
    for _ in range(steps):
        fn()
        out.append(w.get_value().copy())
    return np.array(out), a, t


def test_adam_matches_numpy_reference():
    got, a, t = _run_updates(lambda p, g: adam_updates(p, g, lr=0.1))
    w, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    for k in range(1, 5):
        g = a * (w - t)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.1 * np.sqrt(1 - 0.999 ** k) / (1 - 0.9 ** k) * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(got[k - 1], w, rtol=1e-12)


def test_momentum_matches_numpy_reference():
    got, a, t = _run_updates(lambda p, g: momentum_updates(p, g, lr=0.2, momentum=0.8))
    w, vel = np.zeros(3), np.zeros(3)
    for k in range(4):
        vel = 0.8 * vel - 0.2 * a * (w - t)
        w = w + vel
        np.testing.assert_allclose(got[k], w, rtol=1e-12)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, word", [
    ({"architecture": "cnn"}, "architecture"), ({"method": "nuts"}, "method"),
    ({"optimizer": "rmsprop"}, "optimizer"), ({"activation": "gelu"}, "activation"),
    ({"rank": 0}, "rank"), ({"lr": -1.0}, "lr"), ({"factor_sd": 0.0}, "factor_sd"),
    ({"momentum": 1.5}, "momentum"), ({"batch_size": 2.5}, "batch_size"),
    ({"noise": -0.1}, "noise"), ({"method": "advi", "optimizer": "momentum"}, "optimizer"),
    ({"dtype": "float16"}, "dtype")])
def test_bad_hyperparameters_raise(synth, kwargs, word):
    with pytest.raises(ValueError, match=word):
        NeuralRecommender(**kwargs).fit(synth[0])


# ---------------------------------------------------------------- dot MAP: recovery and PMF
@pytest.fixture(scope="module")
def dot_map(synth):
    train, test, truth = synth
    # priors at the truth's scales; sigma learned
    sf = (0.6 / 3) ** 0.25
    model = NeuralRecommender("dot", rank=3, factor_sd=sf, bias_sd=0.5, n_iter=40,
                              batch_size=256, lr=0.01, random_state=0)
    return model.fit(train, test)


def test_dot_map_recovers_heldout_near_noise_level(synth, dot_map):
    train, test, truth = synth
    pred = dot_map.predict_ratings(test)
    oracle = truth.mean(test.users, test.items)
    baseline = rmse(test.ratings, np.full(len(test), train.global_mean))
    # noise sd is 0.3: the oracle's RMSE; MAP must come near it, far below the baseline
    assert rmse(test.ratings, oracle) == pytest.approx(0.3, abs=0.02)
    assert rmse(test.ratings, pred) < 1.25 * 0.3 < 0.4 * baseline
    assert rmse(oracle, pred) < 0.18
    assert dot_map.noise_ == pytest.approx(0.3, rel=0.15)  # learned sigma
    h = dot_map.history_
    assert list(h.columns) == ["loss", "train_rmse", "seconds", "test_mse", "test_rmse"]
    assert h["loss"].iloc[-1] < h["loss"].iloc[0]
    assert h["test_rmse"].iloc[-1] == pytest.approx(rmse(test.ratings, pred), rel=1e-6)


def test_dot_map_agrees_with_pmf(synth):
    """Same priors and fixed noise: full-batch Adam reaches PMF's block-coordinate MAP."""
    from bayesrec.factorization import PMF
    from bayesrec.factorization.pmf import pmf_neg_log_posterior

    train, test, _ = synth
    sigma, sf, sb = 0.35, 0.5, 0.4
    pmf = PMF(rank=3, alpha=1 / sigma ** 2, lambda_u=1 / sf ** 2, lambda_v=1 / sf ** 2,
              lambda_b=1 / sb ** 2, n_iter=500, tol=1e-12, random_state=0).fit(train)
    net = NeuralRecommender("dot", rank=3, factor_sd=sf, bias_sd=sb, noise=sigma,
                            batch_size=len(train), n_iter=1500, lr=0.02,
                            random_state=0).fit(train)
    w = net.weights_
    E_net = pmf_neg_log_posterior(train, w["U"], w["V"], w["b"], w["c"], net.global_mean_,
                                  alpha=pmf.alpha, lambda_u=pmf.lambda_u,
                                  lambda_v=pmf.lambda_v, lambda_b=pmf.lambda_b)
    E_pmf = pmf.neg_log_posterior()
    assert E_net == pytest.approx(E_pmf, rel=1e-4)  # measured: 1e-8
    # our training loss is E / N up to the constant log(sigma) (fixed sigma)
    assert net.history_["loss"].iloc[-1] == pytest.approx(E_net / len(train), rel=2e-3)
    # measured: max difference 0.0004
    np.testing.assert_allclose(net.predict_ratings(test), pmf.predict_ratings(test), atol=0.01)
    # rotation-invariant quantities agree too
    np.testing.assert_allclose(w["U"] @ w["V"].T,
                               pmf.user_factors_ @ pmf.item_factors_.T, atol=0.05)


def test_unknown_user_and_item_fall_back_to_prior_mean(synth, dot_map):
    train = synth[0]
    i0 = train.item_ids[0]
    u0 = train.user_ids[0]
    pred = dot_map.predict([-99, u0, -99], [i0, -77, -77])
    w, mu = dot_map.weights_, dot_map.global_mean_
    scale_lo, scale_hi = -np.inf, np.inf
    np.testing.assert_allclose(pred, np.clip([mu + w["c"][0], mu + w["b"][0], mu],
                                             scale_lo, scale_hi))
    with pytest.raises(ValueError, match="advi"):
        dot_map.predict([u0], [i0], return_std=True)


def test_forward_numpy_matches_loop():
    """The chunked, split-W1 numpy forward equals a per-pair loop over [u, v] @ W1."""
    rng = np.random.default_rng(0)
    p = init_params("residual", 6, 4, 3, 5, 0.5, rng)
    p = {k: v + rng.normal(0, 0.2, np.shape(v)) for k, v in p.items()}
    users, items = rng.integers(0, 6, 30), rng.integers(0, 4, 30)
    got = forward_numpy(p, users, items, "residual", "relu", chunk=7)
    for n in range(30):
        x = np.concatenate([p["U"][users[n]], p["V"][items[n]]])
        h = np.maximum(x @ p["W1"] + p["b1"], 0)
        want = (p["U"][users[n]] @ p["V"][items[n]] + p["b"][users[n]] + p["c"][items[n]]
                + h @ p["w2"] + p["b2"])
        assert got[n] == pytest.approx(want, rel=1e-12)
    assert param_names("mlp") == ["U", "V", "W1", "b1", "w2", "b2"]


# ---------------------------------------------------------------- residual MAP, momentum
def test_residual_map_fits_and_is_reproducible(synth):
    train, test, truth = synth
    kw = dict(architecture="residual", rank=3, hidden=16, n_iter=30, batch_size=128,
              lr=0.01, factor_sd=(0.6 / 3) ** 0.25, weight_sd=0.3, random_state=5)
    m1 = NeuralRecommender(**kw).fit(train, test)
    m2 = NeuralRecommender(**kw).fit(train)
    np.testing.assert_array_equal(m1.predict_ratings(test), m2.predict_ratings(test))
    baseline = rmse(test.ratings, np.full(len(test), train.global_mean))
    assert m1.history_["test_rmse"].iloc[-1] < 0.5 * baseline
    assert set(m1.weights_) == {"U", "V", "b", "c", "W1", "b1", "w2", "b2"}


def test_momentum_sgd_decreases_loss(synth):
    train, test, _ = synth
    m = NeuralRecommender("dot", rank=3, optimizer="momentum", lr=0.05, momentum=0.9,
                          n_iter=20, batch_size=128, noise=0.3, factor_sd=(0.6 / 3) ** 0.25,
                          random_state=0).fit(train, test)
    h = m.history_
    assert h["loss"].iloc[-1] < 0.2 * h["loss"].iloc[0]
    baseline = rmse(test.ratings, np.full(len(test), train.global_mean))
    assert h["test_rmse"].iloc[-1] < 0.5 * baseline


def test_mlp_map_learns_user_and_item_effects(synth):
    """The MLP alone (no dot branch) on [u_i, v_j]: its loss falls and it beats the global
    mean clearly on held-out cells (the biases and main effects are learnable through the
    embeddings; the exact dot product is not, so no noise-level claim)."""
    train, test, _ = synth
    m = NeuralRecommender("mlp", rank=3, hidden=16, n_iter=30, batch_size=128, lr=0.01,
                          weight_sd=0.3, random_state=2).fit(train, test)
    h = m.history_
    assert h["loss"].iloc[-1] < 0.5 * h["loss"].iloc[0]
    baseline = rmse(test.ratings, np.full(len(test), train.global_mean))
    assert h["test_rmse"].iloc[-1] < 0.8 * baseline
