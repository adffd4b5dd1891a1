"""Bayesian SVD++: the pieces between the single conditionals, against dense computations here.

``test_bayesian_svdpp_conditionals`` checks every block's conditional in isolation and
``test_bayesian_svdpp_moves`` every move's target; this file checks how the sweep strings
them together and what it hands on, each against a computation written out here:

* a whole side update (:func:`update_side`) at zero noise is the sequential (Gauss-Seidel)
  update of every bag column to its collapsed conditional mean, then the own rows to theirs,
  all read off one dense Gaussian (polarization of the dense log joint); its totals and SSE
  are those of the new rows;
* the collapsed bias-precision target it hands the slice sampler is the Gamma prior times the
  biases-integrated likelihood (scipy's multivariate normal per row);
* the item side is updated given the *new* user totals; alpha's Gamma parameters are the
  closed form at the state's SSE (recorded from the generator);
* the hyperparameter redraw has the Normal-Wishart / Gamma posterior means of Bishop (2006,
  2.3.6) computed here (z tests; power below);
* the translation move's two shifts have the dense Gaussian conditional (read off with
  scripted normals) and apply the transformation they target; the GL(K) walk's
  accept / reject decisions are the dense joint ratio with its Jacobian (scripted draws); the
  scale move hands the walk the scatters of the scaled rows;
* the evaluation means and the predictive bank (unknown users and items) against dense
  formulas.
"""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from _bpmf_joint import Scripted
from _quadratic import quadratic_form
from _svdpp_prior import draw_prior, tiny_design
from scipy import stats
from test_bayesian_svdpp_conditionals import K as KC
from test_bayesian_svdpp_conditionals import _problem, log_joint
from test_bayesian_svdpp_moves import _groups, _log_joint, _log_joint_hyper, _n_net, translated

from bayesrec.factorization.bpmf._sweep import BPMFPrior
from bayesrec.factorization.svdpp_bayes import _moves
from bayesrec.factorization.svdpp_bayes import _sweep as svs
from bayesrec.inference.normal_wishart import NormalWishart

DC = KC + 1


class Zeros:
    """A generator whose normals are all zero (draws become conditional means)."""

    def standard_normal(self, size=None):
        return np.zeros(size)


def _side(data, st, side):
    rd = data.ratings
    if side == "u":
        return (rd.pattern_u, rd.values_u, data.bag_u, "xu", "yu",
                st["xv"] + data.bag_v.csr @ st["yv"], "mu_u", "lam_u", "tau_b", "hu")
    return (rd.pattern_v, rd.values_v, data.bag_v, "xv", "yv",
            st["xu"] + data.bag_u.csr @ st["yu"], "mu_v", "lam_v", "tau_c", "hv")


def _free(bag):
    """Free coordinates (column, coordinate) of a bag: K latent, plus the linear weight."""
    return [(c, a) for c in range(bag.n_cols)
            for a in range(DC if bag.linear[bag.group[c]] else KC)]


def _dense_side_update(r, data, st, side):
    """Zero-noise side update from one dense Gaussian of (own rows, free bag coordinates)."""
    _, _, bag, kx, ky, *_ = _side(data, st, side)
    n = st[kx].shape[0]
    free = _free(bag)
    nx = n * DC

    def f(vec):
        s = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
        s[kx] = vec[:nx].reshape(n, DC)
        for (c, a), val in zip(free, vec[nx:]):
            s[ky][c, a] = val
        return log_joint(r, data, s)
    jp, h = quadratic_form(f, nx + len(free))
    jxx, jxy, jyy = jp[:nx, :nx], jp[:nx, nx:], jp[nx:, nx:]
    p = jyy - jxy.T @ np.linalg.solve(jxx, jxy)               # own rows integrated out
    hy = h[nx:] - jxy.T @ np.linalg.solve(jxx, h[:nx])
    y = np.array([st[ky][c, a] for c, a in free])
    cols = np.array([c for c, _ in free])
    for c in range(bag.n_cols):                                # Gauss-Seidel, index order
        i = cols == c
        y[i] = np.linalg.solve(p[np.ix_(i, i)], hy[i] - p[np.ix_(i, ~i)] @ y[~i])
    x = np.linalg.solve(jxx, h[:nx] - jxy @ y).reshape(n, DC)
    y_full = st[ky].copy()
    for (c, a), val in zip(free, y):
        y_full[c, a] = val
    return x, y_full


@pytest.mark.parametrize("side", ["u", "v"])
def test_side_update_at_zero_noise_is_the_dense_sequential_update(side):
    r, data, st = _problem(4, True, True)
    pat, val, bag, kx, ky, other, kmu, klam, ktau, kh = _side(data, st, side)
    x, y, total, tau, sse, _ = svs.update_side(
        None, pat, val, bag, st[kx], st[ky], other, st[kmu], st[klam], st[ktau], st[kh],
        st["alpha"], Zeros(), fixed_tau=True)
    x_ref, y_ref = _dense_side_update(r, data, st, side)
    np.testing.assert_allclose(y, y_ref, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(x, x_ref, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(total, x_ref + bag.csr @ y_ref, rtol=1e-8, atol=1e-8)
    assert tau == st[ktau]
    # the SSE over all training ratings at the new totals
    p_tot, q_tot = (total, other) if side == "u" else (other, total)
    pred = (data.offset + np.einsum("nk,nk->n", p_tot[r.users, :KC], q_tot[r.items, :KC])
            + p_tot[r.users, KC] + q_tot[r.items, KC])
    np.testing.assert_allclose(sse, np.sum((r.ratings - pred) ** 2), rtol=1e-8)


def _own_prior():
    nw = NormalWishart(np.zeros(KC), 2.0, KC + 2.0, np.eye(KC))
    own = BPMFPrior(KC, nw, 1.0, True, 2.5, 1.5, None, 4.0, 4.0, rescale=False)
    return svs.SVDppPrior(own, NormalWishart(np.zeros(KC), 3.0, KC + 3.0, np.eye(KC)),
                          2.0, 0.5)


@pytest.mark.parametrize("side", ["u", "v"])
def test_collapsed_bias_precision_target(side, monkeypatch):
    """log p(tau | everything but the own biases) in y = log tau: Gamma(a, b) prior, the
    Jacobian ``tau``, and per row the residuals' marginal ``N(0, I / alpha + 11^T / tau)``."""
    r, data, st = _problem(5, True, True)
    prior = _own_prior()
    pat, val, bag, kx, ky, other, kmu, klam, ktau, kh = _side(data, st, side)
    seen = []

    def record(logf, y0, rng, **kw):
        seen.append((logf, y0))
        return y0
    from bayesrec.factorization.bpmf import _sweep as bpmf_sweep
    monkeypatch.setattr(bpmf_sweep, "slice_sample", record)
    svs.update_side(prior, pat, val, bag, st[kx], st[ky], other, st[kmu], st[klam],
                    st[ktau], st[kh], st["alpha"], np.random.default_rng(0))
    (logf, y0), = seen
    off = bag.csr @ st[ky]
    rows, cols = (r.users, r.items) if side == "u" else (r.items, r.users)
    lat = st[kx][:, :KC] + off[:, :KC]
    e = (r.ratings - data.offset - np.einsum("nk,nk->n", lat[rows], other[cols, :KC])
         - off[rows, KC] - other[cols, KC])
    a, b = prior.own.bias_a, prior.own.bias_b

    def ref(y):
        tau = np.exp(y)
        out = stats.gamma(a, scale=1 / b).logpdf(tau) + y
        for u in np.unique(rows):
            eu = e[rows == u]
            cov = np.eye(len(eu)) / st["alpha"] + 1.0 / tau
            out += stats.multivariate_normal(np.zeros(len(eu)), cov).logpdf(eu)
        return out
    for y in (-1.0, 0.4, 1.5):
        np.testing.assert_allclose(logf(y) - logf(y0), ref(y) - ref(y0), rtol=1e-9, atol=1e-9)


class Recorder:
    """Wraps a Generator and records the arguments of every ``gamma`` call."""

    def __init__(self, rng):
        self.rng, self.gammas = rng, []

    def gamma(self, shape, scale=1.0, size=None):
        self.gammas.append((shape, scale))
        return self.rng.gamma(shape, scale, size)

    def __getattr__(self, name):
        return getattr(self.rng, name)


def test_sweep_order_and_noise_precision(monkeypatch):
    """alpha ~ Gamma(a + n/2, rate b + SSE/2) at the state's SSE; then the user side, and the
    item side given the users' *new* totals."""
    r, data, prior = tiny_design()
    rng = np.random.default_rng(6)
    st = draw_prior(data, rng)
    y = rng.normal(0, 1, len(r))
    d = svs.SVDppData(data.ratings.with_values(y), data.bag_u, data.bag_v)
    pred = (np.einsum("nk,nk->n", st.pu[r.users, :2], st.pv[r.items, :2])
            + st.pu[r.users, 2] + st.pv[r.items, 2])
    st.sse = float(np.sum((y - pred) ** 2))
    calls = []
    real = svs.update_side

    def spy(*args, **kw):
        out = real(*args, **kw)
        calls.append((args[6].copy(), out[2].copy()))
        return out
    monkeypatch.setattr(svs, "update_side", spy)
    rec = Recorder(rng)
    svs.sweep(st, d, prior, rec)
    shape, scale = rec.gammas[0]
    a, b = prior.own.alpha_a, prior.own.alpha_b
    np.testing.assert_allclose([shape, 1 / scale], [a + len(r) / 2, b + st.sse / 2],
                               rtol=1e-12)
    (other_u, new_pu), (other_v, _) = calls
    np.testing.assert_array_equal(other_u, st.pv)
    np.testing.assert_array_equal(other_v, new_pu)


def _nw_mean(x, beta0, nu0):
    """Posterior means of (mu, Lambda) under NW(0, beta0, nu0, I) given rows x."""
    n, k = x.shape
    xbar = x.mean(0)
    s = (x - xbar).T @ (x - xbar)
    w_inv = np.eye(k) + s + beta0 * n / (beta0 + n) * np.outer(xbar, xbar)
    return n * xbar / (beta0 + n), (nu0 + n) * np.linalg.inv(w_inv)


def _hyper_problem(rng):
    """60 users x 40 items, flipped implicit bags, 4 user features and 30 item features (with
    linear weights), random rows."""
    import pandas as pd

    from bayesrec.data import Ratings
    from bayesrec.factorization.svdpp_bayes._design import build_bags
    n_u, n_i = 60, 40
    cells = np.argwhere(rng.uniform(size=(n_u, n_i)) < 0.2)
    r = Ratings(cells[:, 0].astype(np.int32), cells[:, 1].astype(np.int32),
                np.zeros(len(cells)), np.arange(n_u), np.arange(n_i))
    uf = pd.DataFrame(rng.normal(size=(n_u, 4)), index=r.user_ids)
    itf = pd.DataFrame(rng.normal(size=(n_i, 30)), index=r.item_ids)
    bu, bv = build_bags(r, True, item_features=itf, user_features=uf)
    data = SimpleNamespace(bag_u=bu, bag_v=bv)
    st = {"xu": rng.normal(0.3, 1.0, (n_u, DC)), "xv": rng.normal(-0.2, 0.7, (n_i, DC)),
          "yu": rng.normal(0.1, 0.5, (bu.n_cols, DC)), "yv": rng.normal(0, 0.8, (bv.n_cols, DC))}
    return data, st


def test_hyperparameter_redraw_has_the_conjugate_posterior_means():
    """Means of 1000 redraws against the closed forms.  Power: every group has at least 30
    rows except the 4 user-feature columns, so a Wishart diagonal entry has
    sd / mean = sqrt(2 / nu_n) <= 0.25 and the standard error of its mean is <= 0.008 of the
    value: a 5% error in a precision, a degree of freedom or a scale is > 6 standard errors
    (threshold 4.5).  Linear-weight precisions: shape a + 15 (sd / mean 0.24) for the item
    features, a + 2 (sd / mean 0.5, standard error 0.016) for the user features, so 5% and
    8% errors (an off-by-one shape there is 12%) are detected.  Mean vectors to 0.15 sd."""
    rng = np.random.default_rng(8)
    data, st = _hyper_problem(rng)
    prior = _own_prior()
    state = SimpleNamespace(xu=st["xu"], xv=st["xv"], yu=st["yu"], yv=st["yv"])
    n_draw = 1000
    draws = []
    for _ in range(n_draw):
        svs.draw_hypers(state, data, prior, rng)
        row = [state.mu_u, np.diag(state.lam_u), state.mu_v, np.diag(state.lam_v)]
        for hyp in (state.hyper_u, state.hyper_v):
            row += [hyp.mu.ravel(), np.diagonal(hyp.lam, axis1=1, axis2=2).ravel(), hyp.tau]
        draws.append(np.concatenate(row))
    draws = np.array(draws)
    own, bag_nw = prior.own.nw, prior.bag_nw
    ref = []
    for x in (st["xu"], st["xv"]):
        mu, lam = _nw_mean(x[:, :KC], own.beta0, own.nu0)
        ref += [mu, np.diag(lam)]
    for y, bag in ((st["yu"], data.bag_u), (st["yv"], data.bag_v)):
        mus, lams, taus = [], [], []
        for g in range(bag.n_groups):
            rows = y[bag.columns(g)]
            mu, lam = _nw_mean(rows[:, :KC], bag_nw.beta0, bag_nw.nu0)
            mus.append(mu)
            lams.append(np.diag(lam))
            if bag.linear[g]:
                w = rows[:, KC]
                taus.append((prior.linear_a + len(w) / 2) / (prior.linear_b + w @ w / 2))
            else:
                taus.append(np.nan)
        ref += [np.concatenate(mus), np.concatenate(lams), np.array(taus)]
    ref = np.concatenate(ref)
    keep = ~np.isnan(ref)
    se = draws[:, keep].std(0) / np.sqrt(n_draw)
    z = (draws[:, keep].mean(0) - ref[keep]) / se
    assert np.all(np.abs(z) < 4.5), np.round(z, 1)
    # groups without a linear weight keep tau = 1 (unused)
    assert np.all(draws[:, ~keep] == 1.0)


# ------------------------------------------------------------------ moves as the sweep runs them
@pytest.fixture(scope="module")
def tiny_state():
    r, data, prior = tiny_design()
    rng = np.random.default_rng(3)
    s = draw_prior(data, rng)
    return r, data, prior, s, rng.normal(0.0, 1.0, len(r))


def test_translate_draws_both_shifts_from_the_dense_conditional(tiny_state):
    """Item shift first, then the user shift given the shifted state; each ``d`` is the dense
    Gaussian conditional along its orbit (mean and precision by polarization), read off by
    scripted normals, and the move applies exactly that shift."""
    r, data, prior, s0, y_obs = tiny_state
    k = 2
    # item side: mean, and precision from unit normals
    p_v, h_v = quadratic_form(lambda d: _log_joint_hyper(r, data, translated(s0, "v", d), y_obs), k)
    m_v = np.linalg.solve(p_v, h_v)
    s_mid = translated(s0, "v", m_v)
    p_u, h_u = quadratic_form(lambda d: _log_joint_hyper(r, data, translated(s_mid, "u", d),
                                                         y_obs), k)
    m_u = np.linalg.solve(p_u, h_u)
    ref = translated(s_mid, "u", m_u)
    st = copy.deepcopy(s0)
    _moves.translate(st, prior.own.nw, Scripted([np.zeros(k), np.zeros(k)]))
    for f in ("xu", "xv", "pu", "pv", "mu_u", "mu_v"):
        np.testing.assert_allclose(getattr(st, f), getattr(ref, f), rtol=1e-8, atol=1e-8)
    cols = []
    for a in range(k):
        st = copy.deepcopy(s0)
        _moves.translate(st, prior.own.nw, Scripted([np.eye(k)[a], np.zeros(k)]))
        cols.append(st.mu_v - s0.mu_v - m_v)
    m = np.array(cols).T
    np.testing.assert_allclose(np.linalg.inv(m @ m.T), p_v, rtol=1e-8, atol=1e-8)


def test_linear_walk_accepts_by_the_dense_joint_ratio(tiny_state):
    """One Metropolis step of the GL(K) walk with scripted ``Z``, coin and uniform: from the
    identity the proposal is ``B = I + step Z`` (coin >= 0.5) or ``B^-1`` (coin < 0.5), and it
    is accepted iff ``u < f(A') / f(I)`` with ``f`` the collapsed dense joint at the
    transformed rows times ``|det A'|^(N_user - N_item)``."""
    r, data, _, s0, y_obs = tiny_state
    st = {"xu": s0.xu, "xv": s0.xv, "yu": s0.yu, "yv": s0.yv, "alpha": s0.alpha}
    user_stats, item_stats = map(_moves.group_scatters, _groups(data, st))
    n_net = _n_net(data)
    k, step = 2, 0.4

    def target(a):
        s = {key: (v.copy() if isinstance(v, np.ndarray) else v) for key, v in st.items()}
        for key in ("xu", "yu"):
            s[key][:, :k] = st[key][:, :k] @ a
        for key in ("xv", "yv"):
            s[key][:, :k] = st[key][:, :k] @ np.linalg.inv(a).T
        return _log_joint(r, data, s, y_obs) + n_net * np.log(abs(np.linalg.det(a)))

    base = target(np.eye(k))
    rng = np.random.default_rng(12)
    for _ in range(3):
        z = rng.standard_normal((k, k))
        b = np.eye(k) + step * z
        for coin, prop in ((0.9, b), (0.1, np.linalg.inv(b))):
            delta = target(prop) - base
            # u just below / above the ratio (the rule is read off, so u > 1 is allowed)
            for eps, accept in ((-1e-7, True), (1e-7, False)):
                u = np.exp(delta + eps)
                a = _moves.linear_move(user_stats, item_stats, Scripted([z], [coin, u]),
                                       n_steps=1, step=step)
                np.testing.assert_allclose(a, prop if accept else np.eye(k), atol=1e-12)


def test_scale_move_hands_the_walk_the_scaled_scatters(tiny_state, monkeypatch):
    _, data, prior, s0, _ = tiny_state
    seen = []

    def fake_walk(user_stats, item_stats, rng):
        seen.append((user_stats, item_stats))
        return np.eye(2)
    monkeypatch.setattr(svs, "linear_move", fake_walk)
    st = copy.deepcopy(s0)
    c = svs.global_scale(st, data, prior, np.random.default_rng(2))
    (user_stats, item_stats), = seen
    nw = prior.own.nw
    for stats_side, x, y, bag, factor in ((user_stats, s0.xu, s0.yu, data.bag_u, c),
                                          (item_stats, s0.xv, s0.yv, data.bag_v, 1 / c)):
        groups = [x[:, :2]] + [y[bag.columns(g), :2] for g in range(bag.n_groups)]
        assert len(stats_side) == len(groups)
        for (t, nu, _, n), rows in zip(stats_side, groups):
            rows = factor * rows
            ref = rows.T @ rows - np.outer(rows.sum(0), rows.sum(0)) / (nw.beta0 + len(rows))
            np.testing.assert_allclose(t, ref, rtol=1e-10, atol=1e-12)
            assert nu == nw.nu0 + len(rows) and n == len(rows)
    np.testing.assert_allclose(st.xu[:, :2], c * s0.xu[:, :2], rtol=1e-12)


# ------------------------------------------------------------------ predictions
def test_evaluation_means_for_known_and_unknown_users_and_items(tiny_state):
    from bayesrec.factorization.svdpp_bayes._sampler import SVDppSampler
    _, data, prior, s0, _ = tiny_state
    users = np.array([0, 1, -1, 3, -1])
    items = np.array([2, -1, 1, -1, -1])
    smp = SVDppSampler(data, prior, users, items, np.zeros(5))
    got = smp._eval_means(s0)
    k, p, q = 2, s0.pu, s0.pv
    ref = [p[0, :k] @ q[2, :k] + p[0, k] + q[2, k],
           p[1, :k] @ s0.mu_v + p[1, k],
           s0.mu_u @ q[1, :k] + q[1, k],
           p[3, :k] @ s0.mu_v + p[3, k],
           s0.mu_u @ s0.mu_v]
    np.testing.assert_allclose(got, data.offset + np.array(ref), rtol=1e-12)


def test_predictive_sd_of_unknown_users_and_items():
    """The estimator's bank of draws gives, for a new user at a known item, per draw
    ``m_s = mu + mu_U . q_i + c_i`` and ``w_s = q_i^T Lambda_U^-1 q_i + 1 / tau_b`` (mirror
    for a new item), and the mean and sd of the mixture: sd^2 = Var_s m_s + mean_s w_s."""
    from bayesrec.factorization import BayesianSVDpp
    rng = np.random.default_rng(14)
    s_n, n_u, n_i, k = 5, 4, 3, 2
    m = BayesianSVDpp(rank=k)
    wish = [stats.wishart(df=4, scale=np.eye(k)).rvs(size=s_n, random_state=rng)
            for _ in range(2)]
    fields = dict(pu=rng.normal(size=(s_n, n_u, k + 1)), pv=rng.normal(size=(s_n, n_i, k + 1)),
                  alpha=rng.gamma(3, 1, s_n), mu_u=rng.normal(size=(s_n, k)), lam_u=wish[0],
                  mu_v=rng.normal(size=(s_n, k)), lam_v=wish[1], tau_b=rng.gamma(2, 1, s_n),
                  tau_c=rng.gamma(5, 1, s_n))
    for name, val in fields.items():
        setattr(m, f"bank_{name}_", val)
    m.global_mean_ = 3.2
    item, user = 2, 1
    q = fields["pv"][:, item]
    mean_u = 3.2 + np.einsum("sk,sk->s", fields["mu_u"], q[:, :k]) + q[:, k]
    w_u = (np.einsum("sk,skl,sl->s", q[:, :k], np.linalg.inv(fields["lam_u"]), q[:, :k])
           + 1 / fields["tau_b"])
    p = fields["pu"][:, user]
    mean_i = 3.2 + np.einsum("sk,sk->s", fields["mu_v"], p[:, :k]) + p[:, k]
    w_i = (np.einsum("sk,skl,sl->s", p[:, :k], np.linalg.inv(fields["lam_v"]), p[:, :k])
           + 1 / fields["tau_c"])
    got_mean, got_sd = m._bank().mean_std(np.array([-1, user]), np.array([item, -1]))
    np.testing.assert_allclose(got_mean, [mean_u.mean(), mean_i.mean()], rtol=1e-12)
    np.testing.assert_allclose(got_sd, np.sqrt([mean_u.var() + w_u.mean(),
                                                mean_i.var() + w_i.mean()]), rtol=1e-12)
