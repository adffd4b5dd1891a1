"""Exact (deterministic) checks of every BPMF move against the brute-force joint density.

Each extra move of ``bayesrec.factorization.bpmf._moves`` is a generalized Gibbs or Metropolis
step on a transformation group ``x -> T_g x`` (Liu & Sabatti 2000): it must draw ``g`` with
density, relative to the group's Haar measure, proportional to ``p(T_g x) |J_g(x)|``.  The law
the library uses is read off by scripting its random numbers (a Gaussian draw ``m + R z``
reveals ``m`` at ``z = 0`` and ``R`` at ``z = e_j``; a GIG draw is intercepted), and its log
density is compared, at several group elements, with the brute-force joint log density of
:mod:`_bpmf_joint` (scipy densities, written independently) plus the log Jacobian and Haar
term worked out here by hand:

* scale ``(U, mu_U, Lambda_U, V, mu_V, Lambda_V) -> (cU, c mu_U, Lambda_U/c^2, V/c, mu_V/c,
  c^2 Lambda_V)``: Jacobian ``c^((n_U - n_V) K)``, Haar ``dc/c`` (``dt / (2t)`` in ``t = c^2``);
* translation ``V -> V + d, b -> b - U d, mu_V -> mu_V + d``: unit Jacobian, Lebesgue Haar;
* weighted shift ``mu -> mu + d, x_j -> x_j + d / (1 + n_j)``: unit Jacobian;
* GL(K) ``U -> UA, V -> VA^-T, mu_U -> A^T mu_U, Lambda_U -> A^-1 Lambda_U A^-T`` (and dual):
  Jacobian ``|det A|^(n_U - n_V)`` (``|det A|^(K+1)`` per symmetric matrix, ``|det A|`` per
  vector); the Metropolis decision is checked on both sides of the brute-force log ratio.

Differences of log densities must agree to 1e-10 (absolute, on values of order 10-100).  The
conditionals of the sweep (rows, hyper-parameters, collapsed bias precisions, alpha) are read
off the same way and compared with their textbook closed forms.  These tests detect any error
in a move's mean, precision, Jacobian or prior term, however small (a 1e-8 relative error in a
variance changes a log-density difference by far more than the tolerance).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _bpmf_joint import Scripted, Spec, log_joint, sse
from scipy import stats

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf import _moves, _sweep
from bayesrec.factorization.bpmf._linalg import draw_rows
from bayesrec.factorization.bpmf._sweep import State, SweepData
from bayesrec.inference.normal_wishart import NormalWishart

TOL = 1e-10
K = 2
USERS = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5])
ITEMS = np.array([0, 1, 3, 1, 2, 0, 2, 1, 3, 0, 2, 3, 0, 1])
N_U, N_I = 6, 4


def _w0(general):
    return np.array([[1.3, 0.4], [0.4, 0.7]]) if general else np.eye(K)


def _spec(hyperprior=True, biases=True, general_w0=True, mu0=None, alpha=None):
    return Spec(K, hyperprior=hyperprior, biases=biases, alpha_fixed=alpha,
                mu0=None if mu0 is None else np.asarray(mu0, float), W0=_w0(general_w0))


def _state(spec, seed=0, n_u=N_U):
    rng = np.random.default_rng(seed)
    d = K + int(spec.biases)
    xu = rng.normal(0.3, 0.8, (n_u, d))
    xv = rng.normal(-0.2, 0.9, (N_I, d))
    lam_u = np.array([[1.7, -0.3], [-0.3, 0.9]])
    lam_v = np.array([[0.8, 0.2], [0.2, 1.4]])
    return State(xu, xv, 1.6, np.array([0.4, -0.5]), lam_u, np.array([-0.3, 0.6]), lam_v,
                 2.2, 0.7, 0.0)


def _ratings(seed=1):
    return np.random.default_rng(seed).normal(0.5, 1.0, len(USERS))


def _lj(st, spec, r):
    return log_joint(st, USERS, ITEMS, r, spec)


# --------------------------------------------------------------------------- scale move
@pytest.mark.parametrize("hyperprior,general_w0", [(True, True), (True, False), (False, False)])
def test_rescale_draws_from_joint_along_scale_orbit(monkeypatch, hyperprior, general_w0):
    spec = _spec(hyperprior=hyperprior, general_w0=general_w0)
    prior = spec.library_prior()
    r = _ratings()
    st0 = _state(spec)
    seen = {}

    class FakeGIG:
        @staticmethod
        def rvs(p, b, random_state=None):
            seen["p"], seen["b"] = p, b
            return seen["y"]

    monkeypatch.setattr(_moves, "geninvgauss", FakeGIG)

    def run(y):
        seen["y"] = y
        st = copy.deepcopy(st0)
        _moves.rescale(st, prior, None)
        return st

    ts, lib, bf = [], [], []
    for y in (0.3, 0.8, 1.0, 1.7, 3.1):
        st = run(y)
        c = st.xu[0, 0] / st0.xu[0, 0]
        t = c * c
        ref = copy.deepcopy(st0)               # the transformation, applied by hand
        ref.xu[:, :K] *= c
        ref.xv[:, :K] /= c
        if hyperprior:
            ref.mu_u, ref.lam_u = st0.mu_u * c, st0.lam_u / t
            ref.mu_v, ref.lam_v = st0.mu_v / c, st0.lam_v * t
        for f in ("xu", "xv", "mu_u", "lam_u", "mu_v", "lam_v"):
            np.testing.assert_allclose(getattr(st, f), getattr(ref, f), rtol=1e-12, atol=1e-14)
        scale = t / y
        # the library's density of t: t = scale * Y, Y ~ GIG(p, b)
        lib.append(stats.geninvgauss.logpdf(y, seen["p"], seen["b"]) - np.log(scale))
        # brute force: joint at T_c x, Jacobian c^((nU - nV) K), Haar dc/c = dt / (2 t)
        bf.append(_lj(ref, spec, r) + (N_U - N_I) * K * np.log(c) - np.log(t))
        ts.append(t)
    lib, bf = np.array(lib), np.array(bf)
    np.testing.assert_allclose(lib - lib[0], bf - bf[0], atol=TOL)


# --------------------------------------------------------------------------- translations
def _gaussian_law(call, k):
    """Mean and covariance of a draw ``m + R z`` produced by ``call(z)`` (returns the draw)."""
    m = call(np.zeros(k))
    cols = np.column_stack([call(np.eye(k)[j]) - m for j in range(k)])
    return m, cols @ cols.T


def _gauss_logpdf(d, m, cov):
    return stats.multivariate_normal(m, cov).logpdf(d)


@pytest.mark.parametrize("hyperprior,mu0", [(True, None), (True, [0.3, -0.7]), (False, None)])
def test_translate_draws_from_joint_along_both_translation_orbits(hyperprior, mu0):
    spec = _spec(hyperprior=hyperprior, mu0=mu0)
    prior = spec.library_prior()
    r = _ratings()
    st0 = _state(spec)
    rng = np.random.default_rng(5)

    def item_side(z):            # first half: V -> V + d, b -> b - U d (second half z = 0)
        st = copy.deepcopy(st0)
        _moves.translate(st, prior, Scripted([z, np.zeros(K)]))
        return st.xv[0, :K] - st0.xv[0, :K]

    m, cov = _gaussian_law(item_side, K)

    def t_item(d):
        st = copy.deepcopy(st0)
        st.xv[:, :K] += d
        st.xu[:, K] -= st0.xu[:, :K] @ d
        if hyperprior:
            st.mu_v = st0.mu_v + d
        return st

    ds = [np.zeros(K)] + [rng.normal(0, 0.7, K) for _ in range(4)]
    lib = np.array([_gauss_logpdf(d, m, cov) for d in ds])
    bf = np.array([_lj(t_item(d), spec, r) for d in ds])
    np.testing.assert_allclose(lib - lib[0], bf - bf[0], atol=TOL)

    # second half, from the state after a scripted first half
    z1 = np.array([0.4, -1.1])
    st1 = copy.deepcopy(st0)
    _moves.translate(st1, prior, Scripted([z1, np.zeros(K)]))
    d1 = (st1.xv[0, :K] - st0.xv[0, :K])
    mid = t_item(d1)
    np.testing.assert_allclose(st1.xv[:, :K], mid.xv[:, :K], atol=1e-13)
    np.testing.assert_allclose(st1.mu_v, mid.mu_v, atol=1e-13)

    def user_side(z):
        st = copy.deepcopy(st0)
        _moves.translate(st, prior, Scripted([z1, z]))
        return st.xu[0, :K] - mid.xu[0, :K]

    m2, cov2 = _gaussian_law(user_side, K)

    def t_user(d):
        st = copy.deepcopy(mid)
        st.xu[:, :K] += d
        st.xv[:, K] -= mid.xv[:, :K] @ d
        if hyperprior:
            st.mu_u = mid.mu_u + d
        return st

    lib = np.array([_gauss_logpdf(d, m2, cov2) for d in ds])
    bf = np.array([_lj(t_user(d), spec, r) for d in ds])
    np.testing.assert_allclose(lib - lib[0], bf - bf[0], atol=TOL)
    # and the move applies exactly that transformation to every coordinate
    st2 = copy.deepcopy(st0)
    _moves.translate(st2, prior, Scripted([z1, np.array([1.2, 0.3])]))
    ref = t_user(st2.xu[0, :K] - mid.xu[0, :K])
    for f in ("xu", "xv", "mu_u", "mu_v", "lam_u", "lam_v"):
        np.testing.assert_allclose(getattr(st2, f), getattr(ref, f), atol=1e-13)


# --------------------------------------------------------------------------- weighted shift
def _side_blocks(st, spec, r, side):
    """Gram blocks ``sum f f^T`` (packed upper triangle), ``sum t f`` per row, by loops."""
    k = spec.k
    d = k + int(spec.biases)
    iu = np.triu_indices(d)
    own_idx, oth_idx = (USERS, ITEMS) if side == "u" else (ITEMS, USERS)
    other = st.xv if side == "u" else st.xu
    n = N_U if side == "u" else N_I
    gram = np.zeros((n, len(iu[0])))
    g = np.zeros((n, d))
    counts = np.zeros(n)
    for p in range(len(r)):
        f = other[oth_idx[p]].copy()
        t = r[p]
        if spec.biases:
            t -= other[oth_idx[p], k]
            f[k] = 1.0
        gram[own_idx[p]] += np.outer(f, f)[iu]
        g[own_idx[p]] += t * f
        counts[own_idx[p]] += 1
    return gram, g, counts


@pytest.mark.parametrize("biases,general_w0,mu0", [(True, True, None), (False, False, None),
                                                    (True, True, [0.5, -0.2])])
@pytest.mark.parametrize("side", ["u", "v"])
def test_weighted_shift_draws_from_joint_along_its_orbit(side, biases, general_w0, mu0):
    spec = _spec(biases=biases, general_w0=general_w0, mu0=mu0)
    prior = spec.library_prior()
    r = _ratings()
    st0 = _state(spec)
    gram, g, counts = _side_blocks(st0, spec, r, side)
    x_attr, mu_attr, lam_attr = (("xu", "mu_u", "lam_u") if side == "u"
                                 else ("xv", "mu_v", "lam_v"))

    def call(z):
        x = getattr(st0, x_attr).copy()
        mu, d_sse = _moves.weighted_shift(x, gram, g, counts, getattr(st0, mu_attr),
                                          getattr(st0, lam_attr), prior, st0.alpha,
                                          Scripted([z]))
        return mu, x, d_sse

    m, cov = _gaussian_law(lambda z: call(z)[0] - getattr(st0, mu_attr), K)
    w = 1.0 / (1.0 + counts)

    def shifted(d):
        st = copy.deepcopy(st0)
        getattr(st, x_attr)[:, :K] += w[:, None] * d
        setattr(st, mu_attr, getattr(st0, mu_attr) + d)
        return st

    rng = np.random.default_rng(8)
    ds = [np.zeros(K)] + [rng.normal(0, 0.5, K) for _ in range(4)]
    lib = np.array([_gauss_logpdf(d, m, cov) for d in ds])
    bf = np.array([_lj(shifted(d), spec, r) for d in ds])
    np.testing.assert_allclose(lib - lib[0], bf - bf[0], atol=TOL)
    # the rows move by w_j d and the returned SSE change is exact
    mu, x, d_sse = call(np.array([0.7, -1.3]))
    ref = shifted(mu - getattr(st0, mu_attr))
    np.testing.assert_allclose(x, getattr(ref, x_attr), atol=1e-13)
    assert d_sse == pytest.approx(sse(ref, USERS, ITEMS, r, spec)
                                  - sse(st0, USERS, ITEMS, r, spec), abs=1e-10)


# --------------------------------------------------------------------------- GL(K) walk
def _t_linear(st0, a):
    st = copy.deepcopy(st0)
    a_inv = np.linalg.inv(a)
    st.xu[:, :K] = st0.xu[:, :K] @ a
    st.xv[:, :K] = st0.xv[:, :K] @ a_inv.T
    st.mu_u, st.mu_v = a.T @ st0.mu_u, a_inv @ st0.mu_v
    st.lam_u, st.lam_v = a_inv @ st0.lam_u @ a_inv.T, a.T @ st0.lam_v @ a
    return st


@pytest.mark.parametrize("general_w0", [True, False])
def test_linear_move_metropolis_ratio_is_joint_ratio_with_jacobian(general_w0):
    spec = _spec(general_w0=general_w0)
    prior = spec.library_prior()
    r = _ratings()
    st0 = _state(spec)
    step = 0.35
    rng = np.random.default_rng(3)

    def target(st, a):         # joint at T_A x plus log |det A|^(nU - nV)
        return _lj(st, spec, r) + (N_U - N_I) * np.log(abs(np.linalg.det(a)))

    base = target(st0, np.eye(K))
    for _ in range(6):
        zmat = rng.standard_normal((K, K))
        b = np.eye(K) + step * zmat
        delta = target(_t_linear(st0, b), b) - base
        if delta < 0:      # from x, propose B (coin >= 0.5 keeps B)
            start, coin, a_new, d = st0, 0.9, b, delta
        else:              # from T_B x, propose B^-1 (coin < 0.5 swaps): log ratio -delta
            start, coin, a_new, d = _t_linear(st0, b), 0.1, np.linalg.inv(b), -delta
        for eps, accept in ((-1e-9, True), (1e-9, False)):
            st = copy.deepcopy(start)
            _moves.linear_move(st, prior, Scripted([zmat], [coin, np.exp(d + eps)]),
                               n_steps=1, step=step)
            moved = not np.allclose(st.xu, start.xu, rtol=0, atol=1e-15)
            assert moved == accept, (d, eps)
            ref = _t_linear(start, a_new) if accept else start
            for f in ("xu", "xv", "mu_u", "mu_v", "lam_u", "lam_v"):
                np.testing.assert_allclose(getattr(st, f), getattr(ref, f), atol=1e-12)
        # both proposal branches on every Z: from T_B x the swapped proposal is B^-1 (back to
        # x), from x the plain one is B (u small enough that any |delta| < 50 is accepted)
        for start, coin, ref in ((_t_linear(st0, b), 0.1, st0), (st0, 0.9, _t_linear(st0, b))):
            st = copy.deepcopy(start)
            _moves.linear_move(st, prior, Scripted([zmat], [coin, np.exp(-50.0)]), n_steps=1,
                               step=step)
            for f in ("xu", "xv", "mu_u", "mu_v", "lam_u", "lam_v"):
                np.testing.assert_allclose(getattr(st, f), getattr(ref, f), atol=1e-12)


# --------------------------------------------------------------------------- conditionals
def test_draw_rows_is_gaussian_with_the_given_precision_and_mean():
    """``x = m + R z`` with ``m = P^-1 h`` and ``R R^T = P^-1`` exactly (both backends)."""
    rng = np.random.default_rng(4)
    d, n = 3, 5
    iu = np.triu_indices(d)
    f = rng.normal(size=(n, 4, d))
    grams = np.einsum("nja,njb->nab", f, f)
    gram = grams[:, iu[0], iu[1]]
    g = rng.normal(size=(n, d))
    pp = np.array([[1.5, 0.2, 0.0], [0.2, 0.8, 0.1], [0.0, 0.1, 2.0]])
    ph = np.array([0.3, -0.4, 0.2])
    alpha = 1.3
    for backend in ("numba", "numpy"):
        def call(z, backend=backend):
            return draw_rows(gram, g, np.zeros(n), pp, ph, alpha,
                             Scripted([np.tile(z, (n, 1))]), backend=backend)[0]
        m = call(np.zeros(d))
        cols = np.stack([call(np.eye(d)[j]) - m for j in range(d)], axis=-1)
        for s in range(n):
            prec = pp + alpha * grams[s]
            np.testing.assert_allclose(m[s], np.linalg.solve(prec, ph + alpha * g[s]),
                                       atol=1e-12)
            np.testing.assert_allclose(cols[s] @ cols[s].T, np.linalg.inv(prec), atol=1e-12)


class _Recorder:
    """Wrap a numpy Generator, recording the arguments of its gamma draws."""

    def __init__(self, rng):
        self._rng = rng
        self.gamma_calls = []

    def gamma(self, shape, scale=1.0, size=None):
        self.gamma_calls.append((shape, scale))
        return self._rng.gamma(shape, scale, size)

    def __getattr__(self, name):
        return getattr(self._rng, name)


def _nw_posterior_by_hand(spec, x):
    """Normal-Wishart posterior (Bishop 2006, 2.3.6) in the textbook form."""
    n = len(x)
    xbar = x.mean(0)
    s = (x - xbar).T @ (x - xbar)
    beta_n = spec.beta0 + n
    mu_n = (spec.beta0 * spec.mu0 + x.sum(0)) / beta_n
    diff = xbar - spec.mu0
    w_inv = np.linalg.inv(spec.W0) + s + spec.beta0 * n / beta_n * np.outer(diff, diff)
    return mu_n, beta_n, spec.nu0 + n, np.linalg.inv(w_inv)


def _collapsed_log_tau(tau, xs, other, r, spec, alpha, side):
    """log p(tau | everything but this side's biases) with the biases integrated out."""
    k = spec.k
    a, b = spec.bias_ab
    out = (a - 1) * np.log(tau) - b * tau
    own_idx, oth_idx = (USERS, ITEMS) if side == "u" else (ITEMS, USERS)
    for j in range(len(xs)):
        rows = np.flatnonzero(own_idx == j)
        if len(rows) == 0:
            continue
        o = other[oth_idx[rows]]
        resid = r[rows] - o[:, k] - o[:, :k] @ xs[j, :k]
        cov = np.eye(len(rows)) / alpha + np.ones((len(rows), len(rows))) / tau
        out += stats.multivariate_normal(np.zeros(len(rows)), cov).logpdf(resid)
    return out


@pytest.mark.parametrize("spec_kw", [dict(), dict(general_w0=True, mu0=[0.3, -0.2]),
                                     dict(biases=False, alpha=1.5),
                                     dict(hyperprior=False)])
def test_every_conditional_of_the_sweep_has_its_closed_form(monkeypatch, spec_kw):
    """One sweep, intercepting each conditional: hyper-parameter posteriors, collapsed bias
    precision densities (vs. a Gaussian marginal likelihood), the rows' precisions and means
    (vs. per-row loops), alpha's Gamma, and the recorded SSE of the new state.  One user has
    no ratings (its row is drawn from the prior and drops out of the bias-precision term)."""
    spec = _spec(**spec_kw)
    prior = spec.library_prior()
    r = _ratings()
    st0 = _state(spec, n_u=N_U + 1)          # the last user has no ratings
    rt = Ratings(USERS.astype(np.int32), ITEMS.astype(np.int32), r, np.arange(N_U + 1),
                 np.arange(N_I))
    data = SweepData(rt, offset=0.0)
    if spec.alpha_fixed is not None:
        st0.alpha = spec.alpha_fixed
    st0.sse = sse(st0, USERS, ITEMS, r, spec)
    log = []
    real_sample = NormalWishart.sample
    real_draw_rows = _sweep.draw_rows
    real_shift = _sweep.weighted_shift
    y_fixed = iter([np.log(1.9), np.log(0.6)])

    def rec_sample(self, rng):
        out = real_sample(self, rng)
        log.append(("nw", self, out))
        return out

    def rec_slice(logf, y0, rng, **kw):
        y = next(y_fixed)
        log.append(("slice", logf, y0, y))
        return y

    def rec_draw_rows(gram, g, t2, pp, ph, alpha, rng, mode=False, backend="numba"):
        out = real_draw_rows(gram, g, t2, pp, ph, alpha, rng, mode, backend)
        log.append(("rows", gram.copy(), g.copy(), t2.copy(), pp.copy(), ph.copy(), alpha,
                    out[0].copy()))
        return out

    def rec_shift(x, *args, **kw):
        out = real_shift(x, *args, **kw)
        log.append(("shift", x.copy(), out[0]))
        return out

    monkeypatch.setattr(NormalWishart, "sample", rec_sample)
    monkeypatch.setattr(_sweep, "slice_sample", rec_slice)
    monkeypatch.setattr(_sweep, "draw_rows", rec_draw_rows)
    monkeypatch.setattr(_sweep, "weighted_shift", rec_shift)
    real_rescale = _sweep.rescale        # scipy's GIG wants a real Generator
    monkeypatch.setattr(_sweep, "rescale", lambda st, pr, g: real_rescale(st, pr, g._rng))
    rng = _Recorder(np.random.default_rng(12))
    new = _sweep.sweep(copy.deepcopy(st0), data, prior, rng)

    # alpha | SSE ~ Gamma(a + n/2, rate b + SSE/2)
    if spec.alpha_fixed is None:
        shape, scale = rng.gamma_calls[0]
        assert shape == pytest.approx(spec.alpha_ab[0] + len(r) / 2, abs=1e-12)
        assert scale == pytest.approx(1.0 / (spec.alpha_ab[1] + st0.sse / 2), rel=1e-12)
        alpha = new.alpha
    else:
        assert not rng.gamma_calls and new.alpha == spec.alpha_fixed
        alpha = spec.alpha_fixed
    ev = iter(log)
    k, d = K, K + int(spec.biases)
    iu = np.triu_indices(d)
    cur_u, cur_v = st0.xu, st0.xv
    for side in ("u", "v"):
        own, other = (cur_u, cur_v) if side == "u" else (cur_v, cur_u)
        n_own = len(own)
        own_idx, oth_idx = (USERS, ITEMS) if side == "u" else (ITEMS, USERS)
        if spec.hyperprior:
            tag, nw, (mu, lam) = next(ev)
            assert tag == "nw"
            mu_n, beta_n, nu_n, w_n = _nw_posterior_by_hand(spec, own[:, :k])
            np.testing.assert_allclose(nw.mu0, mu_n, atol=1e-12)
            assert nw.beta0 == pytest.approx(beta_n) and nw.nu0 == pytest.approx(nu_n)
            np.testing.assert_allclose(nw.W0, w_n, atol=1e-12)
        else:
            mu, lam = np.zeros(k), spec.lam * np.eye(k)
        tau = None
        if spec.biases:
            tag, logf, y0, y = next(ev)
            assert tag == "slice"
            assert y0 == pytest.approx(np.log(st0.tau_b if side == "u" else st0.tau_c))
            ys = np.log([0.2, 0.9, 1.7, 4.0])
            lib = np.array([logf(v) for v in ys])
            # the slice sampler runs in y = log tau: density in y = density in tau * tau
            bf = np.array([_collapsed_log_tau(np.exp(v), own, other, r, spec, alpha, side) + v
                           for v in ys])
            np.testing.assert_allclose(lib - lib[0], bf - bf[0], atol=TOL)
            tau = np.exp(y)
        tag, gram, g, t2, pp, ph, alpha_used, x = next(ev)
        assert tag == "rows" and alpha_used == pytest.approx(alpha, rel=1e-15)
        for j in range(n_own):
            rows = np.flatnonzero(own_idx == j)
            f = other[oth_idx[rows]].copy()
            t = r[rows].copy()
            if spec.biases:
                t -= f[:, k]
                f[:, k] = 1.0
            prec_prior = np.zeros((d, d))
            prec_prior[:k, :k] = lam
            h_prior = np.zeros(d)
            h_prior[:k] = lam @ mu
            if spec.biases:
                prec_prior[k, k] = tau
            full_g = np.zeros((d, d))
            full_g[iu] = gram[j]
            full_g = full_g + np.triu(full_g, 1).T
            np.testing.assert_allclose(pp + alpha * full_g, prec_prior + alpha * f.T @ f,
                                       atol=1e-12)
            np.testing.assert_allclose(ph + alpha * g[j], h_prior + alpha * f.T @ t,
                                       atol=1e-12)
            assert t2[j] == pytest.approx(np.sum(t ** 2), abs=1e-12)
        if spec.hyperprior:
            tag, x_shifted, _ = next(ev)
            assert tag == "shift"
            x = x_shifted
        if side == "u":
            cur_u = x
        else:
            cur_v = x
    # the recorded SSE is the new state's SSE
    assert new.sse == pytest.approx(sse(new, USERS, ITEMS, r, spec), rel=1e-10, abs=1e-10)
