"""The extra MCMC moves of Bayesian SVD++ (``svdpp_bayes._moves``) against a dense log joint.

Each move is a generalized Gibbs / Metropolis step (Liu & Sabatti 2000) on a transformation
group ``gamma_t`` of the parameters; its target along the group is
``log p(gamma_t(theta)) + log |J_t|`` with the posterior density ``p`` of the model.  The
reference here evaluates ``p`` densely (every rating, dense bag matrices, no caching) with the
Normal-Wishart blocks integrated out by the candidate's formula
``log p(X) = log p(X | mu, Lambda) + log p(mu, Lambda) - log p(mu, Lambda | X)`` at a fixed
``(mu, Lambda)`` with scipy's densities (the posterior's parameters from Bishop 2006, 2.3.6),
applies the transformation itself, and compares target differences with the library's to
1e-8: a wrong term (a missing Jacobian, a wrong ``nu``, a transformation that changes the
likelihood) shows up as a difference of order 1.  The translation step (hyperparameters in
the state) is compared as a Gaussian: its precision and mean by polarization of the dense log
joint along the shift.  The library's moves must apply the transformation they target.
"""

import copy

import numpy as np
import pytest
from _quadratic import quadratic_form
from _svdpp_prior import BETA0, NU0, K, draw_prior, tiny_design
from scipy import stats

from bayesrec.factorization.svdpp_bayes import _moves
from bayesrec.factorization.svdpp_bayes._sweep import global_scale


def _nw_log_marginal(x):
    """log p(rows) with (mu, Lambda) ~ NW(0, BETA0, NU0, I) integrated out (candidate's formula)."""
    n = x.shape[0]
    mu, lam = np.zeros(K), np.eye(K)
    like = stats.multivariate_normal(mu, np.linalg.inv(lam)).logpdf(x).sum() if n else 0.0
    prior = (stats.multivariate_normal(np.zeros(K), np.linalg.inv(BETA0 * lam)).logpdf(mu)
             + stats.wishart(df=NU0, scale=np.eye(K)).logpdf(lam))
    xbar = x.mean(0) if n else np.zeros(K)
    s = (x - xbar).T @ (x - xbar)
    beta_n, nu_n = BETA0 + n, NU0 + n
    w_inv = np.eye(K) + s + BETA0 * n / beta_n * np.outer(xbar, xbar)
    mu_n = n * xbar / beta_n
    post = (stats.multivariate_normal(mu_n, np.linalg.inv(beta_n * lam)).logpdf(mu)
            + stats.wishart(df=nu_n, scale=np.linalg.inv(w_inv)).logpdf(lam))
    return like + prior - post


def _log_joint(r, data, st, y_obs):
    """Collapsed log joint: likelihood + Normal-Wishart marginals of every factor group
    (bias and linear-weight terms are left out: no move here changes them)."""
    mu_m, mv_m = data.bag_u.csr.toarray(), data.bag_v.csr.toarray()
    p, q = st["xu"] + mu_m @ st["yu"], st["xv"] + mv_m @ st["yv"]
    pred = (np.einsum("nk,nk->n", p[r.users, :K], q[r.items, :K]) + p[r.users, K]
            + q[r.items, K])
    out = -0.5 * st["alpha"] * np.sum((y_obs - pred) ** 2)
    out += _nw_log_marginal(st["xu"][:, :K]) + _nw_log_marginal(st["xv"][:, :K])
    for key, bag in (("yu", data.bag_u), ("yv", data.bag_v)):
        for g in range(bag.n_groups):
            out += _nw_log_marginal(st[key][bag.columns(g), :K])
    return out


@pytest.fixture(scope="module")
def problem():
    r, data, prior = tiny_design()
    rng = np.random.default_rng(3)
    s = draw_prior(data, rng)
    st = {"xu": s.xu, "xv": s.xv, "yu": s.yu, "yv": s.yv, "alpha": s.alpha}
    return r, data, prior, st, rng.normal(0.0, 1.0, len(r)), s


def _copy(st):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}


def _offset(bag, y, g):
    yg = np.zeros_like(y)
    cols = bag.columns(g)
    yg[cols] = y[cols]
    return (bag.csr.toarray() @ yg)[:, :K]


def _split(st, key_x, key_y, bag, g, t):
    s = _copy(st)
    o = _offset(bag, st[key_y], g)
    c = np.exp(t)
    s[key_y][bag.columns(g), :K] *= c
    s[key_x][:, :K] += (1 - c) * o
    return s


TS = (-0.7, -0.2, 0.3, 0.9)


@pytest.mark.parametrize("side", ["u", "v"])
def test_split_target_matches_dense_log_joint(problem, side):
    r, data, prior, st, y_obs, _ = problem
    bag = data.bag_u if side == "u" else data.bag_v
    for g in range(bag.n_groups):
        cols = bag.columns(g)
        o = _offset(bag, st["y" + side], g)
        lib = _moves.split_target(st["x" + side][:, :K], o, st["y" + side][cols, :K],
                                  prior.own.nw, prior.bag_nw)

        n_g = len(cols)

        def ref(t, g=g, n_g=n_g):
            s = _split(st, "x" + side, "y" + side, bag, g, t)
            return _log_joint(r, data, s, y_obs) + K * n_g * t   # Jacobian c^(K n_g)
        for t in TS:
            np.testing.assert_allclose(lib(t) - lib(0.0), ref(t) - ref(0.0), rtol=1e-8,
                                       atol=1e-8)


def test_split_move_applies_its_transformation(problem):
    _, data, prior, st, _, _ = problem
    x, y = st["xv"].copy(), st["yv"].copy()
    cs = _moves.split_move(x, y, data.bag_v, prior.own.nw, prior.bag_nw,
                           np.random.default_rng(5))
    s = _copy(st)
    for g, c in enumerate(cs):
        s = _split(s, "xv", "yv", data.bag_v, g, np.log(c))
    assert np.all(cs != 1.0)
    np.testing.assert_allclose(x, s["xv"], atol=1e-12)
    np.testing.assert_allclose(y, s["yv"], atol=1e-12)


def _groups(data, st):
    sides = []
    for kx, ky, bag in (("xu", "yu", data.bag_u), ("xv", "yv", data.bag_v)):
        nw = _nw_spec()
        sides.append([(nw, st[kx][:, :K])]
                     + [(nw, st[ky][bag.columns(g), :K]) for g in range(bag.n_groups)])
    return sides


def _nw_spec():
    from bayesrec.inference.normal_wishart import NormalWishart
    return NormalWishart(np.zeros(K), BETA0, NU0, np.eye(K))


def _n_net(data):
    return (data.bag_u.csr.shape[0] + data.bag_u.n_cols) - (data.bag_v.csr.shape[0]
                                                             + data.bag_v.n_cols)


def _linear(st, a):
    s = _copy(st)
    a_inv_t = np.linalg.inv(a).T
    for key in ("xu", "yu"):
        s[key][:, :K] = st[key][:, :K] @ a
    for key in ("xv", "yv"):
        s[key][:, :K] = st[key][:, :K] @ a_inv_t
    return s


def test_scale_target_matches_dense_log_joint(problem):
    r, data, _, st, y_obs, _ = problem
    lib = _moves.scale_target(*map(_moves.group_scatters, _groups(data, st)))
    n_net = _n_net(data)

    def ref(t):
        return (_log_joint(r, data, _linear(st, np.exp(t) * np.eye(K)), y_obs)
                + K * n_net * t)
    for t in TS:
        np.testing.assert_allclose(lib(t) - lib(0.0), ref(t) - ref(0.0), rtol=1e-8, atol=1e-8)


def test_linear_target_matches_dense_log_joint(problem):
    r, data, _, st, y_obs, _ = problem
    lib = _moves.linear_target(*map(_moves.group_scatters, _groups(data, st)))
    n_net = _n_net(data)
    rng = np.random.default_rng(8)
    eye = np.eye(K)
    base = ref0 = None
    for _ in range(4):
        a = eye + 0.4 * rng.standard_normal((K, K))
        r_a = (_log_joint(r, data, _linear(st, a), y_obs)
               + n_net * np.log(abs(np.linalg.det(a))))
        if base is None:
            base, ref0 = lib(a, np.linalg.inv(a)), r_a
            continue
        np.testing.assert_allclose(lib(a, np.linalg.inv(a)) - base, r_a - ref0, rtol=1e-8,
                                   atol=1e-8)


def test_global_scale_applies_its_transformation(problem):
    _, data, prior, _, _, s0 = problem
    from copy import deepcopy
    s = deepcopy(s0)
    rng = np.random.default_rng(9)
    c = global_scale(s, data, prior, rng)
    # the move is (c, then A): recover A from the own user rows and check every block
    a = np.linalg.lstsq(c * s0.xu[:, :K], s.xu[:, :K], rcond=None)[0]
    np.testing.assert_allclose(s.yu[:, :K], c * s0.yu[:, :K] @ a, atol=1e-10)
    np.testing.assert_allclose(s.pu[:, :K], c * s0.pu[:, :K] @ a, atol=1e-10)
    a_inv_t = np.linalg.inv(a).T
    for new, old in ((s.xv, s0.xv), (s.yv, s0.yv), (s.pv, s0.pv)):
        np.testing.assert_allclose(new[:, :K], old[:, :K] @ a_inv_t / c, atol=1e-10)
    # the likelihood's mean is unchanged
    np.testing.assert_allclose(s.pu[:, :K] @ s.pv[:, :K].T, s0.pu[:, :K] @ s0.pv[:, :K].T,
                               atol=1e-10)


def _log_joint_hyper(r, data, s, y_obs):
    """Dense log joint with the hyperparameters in the state: likelihood, own-row Gaussians,
    Normal-Wishart densities of (mu, Lambda) (scipy), bias Gaussians."""
    p, q = s.pu, s.pv
    pred = (np.einsum("nk,nk->n", p[r.users, :K], q[r.items, :K]) + p[r.users, K]
            + q[r.items, K])
    out = -0.5 * s.alpha * np.sum((y_obs - pred) ** 2)
    for x, mu, lam, tau in ((s.xu, s.mu_u, s.lam_u, s.tau_b), (s.xv, s.mu_v, s.lam_v, s.tau_c)):
        cov = np.linalg.inv(lam)
        out += stats.multivariate_normal(mu, cov).logpdf(x[:, :K]).sum()
        out += stats.multivariate_normal(np.zeros(K), cov / BETA0).logpdf(mu)
        out += stats.norm(0, 1 / np.sqrt(tau)).logpdf(x[:, K]).sum()
    return out


def translated(s, side, d):
    """A copy of state ``s`` after the translation move by ``d`` on ``side`` (``"v"``: the
    item rows, their prior mean and the bag totals move by ``d``; the other side's bias
    column absorbs ``-x . d`` so that every prediction is unchanged)."""
    s = copy.deepcopy(s)
    k = len(d)
    mov_x, mov_p, fix_x, fix_p = ((s.xv, s.pv, s.xu, s.pu) if side == "v"
                                  else (s.xu, s.pu, s.xv, s.pv))
    shift = fix_p[:, :k] @ d
    mov_x[:, :k] += d
    mov_p[:, :k] += d
    fix_x[:, k] -= shift
    fix_p[:, k] -= shift
    if side == "v":
        s.mu_v = s.mu_v + d
    else:
        s.mu_u = s.mu_u + d
    return s


def test_translate_conditional_matches_dense_log_joint(problem):
    r, data, prior, _, y_obs, s0 = problem
    for side in ("v", "u"):
        def shifted(d, side=side):
            return _log_joint_hyper(r, data, translated(s0, side, d), y_obs)
        p_ref, h_ref = quadratic_form(shifted, K)
        if side == "v":
            args = (s0.pu[:, :K], s0.xu[:, K], s0.mu_v, s0.lam_v, s0.tau_b)
        else:
            args = (s0.pv[:, :K], s0.xv[:, K], s0.mu_u, s0.lam_u, s0.tau_c)
        p_lib, h_lib = _moves.translate_conditional(*args, prior.own.nw)
        np.testing.assert_allclose(p_lib, p_ref, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(h_lib, h_ref, rtol=1e-7, atol=1e-7)
