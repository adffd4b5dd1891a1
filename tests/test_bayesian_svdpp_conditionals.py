"""Every Gibbs conditional of Bayesian SVD++ against a brute-force dense computation.

The reference is the model's log joint density written out densely here (all ratings, all
bags as dense matrices, no caching): for a block ``x`` of parameters it is an exact quadratic
``c + h.x - x^T P x / 2``, so its precision ``P`` and mean ``P^-1 h`` follow from values at
``0, +-e_k, e_k + e_l`` (polarization; exact up to round-off).  The library's conditional is
read off its own update by feeding chosen normals: with noise ``0`` the update returns the
conditional mean, with noise ``e_k`` the mean plus column ``k`` of ``L^-T`` (``P = L L^T``),
so ``P = (M M^T)^-1`` with ``M = [x(e_k) - x(0)]``.  Agreement to 1e-10 (relative).
"""

import numpy as np
import pandas as pd
import pytest
from _quadratic import quadratic_form

from bayesrec.data import Ratings
from bayesrec.factorization.bpmf._sweep import SweepData
from bayesrec.factorization.svdpp_bayes._design import build_bags
from bayesrec.factorization.svdpp_bayes._sweep import (
    BagHyper,
    SVDppData,
    collapse_stats,
    draw_bag,
    draw_own,
    own_prior,
    packed_index,
    stats_for,
)

K = 3
D = K + 1


class FixedNormals:
    """Stands in for a Generator: ``standard_normal`` returns the prepared array."""

    def __init__(self, z):
        self.z = z

    def standard_normal(self, shape):
        assert tuple(shape) == self.z.shape
        return self.z.copy()


def _problem(seed=0, flipped=True, features=True):
    rng = np.random.default_rng(seed)
    n_u, n_i = 7, 6
    cells = [(u, i) for u in range(n_u) for i in range(n_i) if rng.uniform() < 0.55]
    u, i = np.array(cells).T
    r = Ratings(u.astype(np.int32), i.astype(np.int32), rng.normal(3.5, 1.0, len(u)),
                np.arange(n_u) + 100, np.arange(n_i) + 200)
    item_f = pd.DataFrame(rng.integers(0, 2, (n_i, 2)).astype(float), index=r.item_ids,
                          columns=["g1", "g2"]) if features else None
    user_f = pd.DataFrame(rng.normal(size=(n_u, 2)), index=r.user_ids) if features else None
    extra = pd.DataFrame({"user": [100, 101], "item": [205, 203]})
    bu, bv = build_bags(r, flipped, item_f, user_f, extra)
    data = SVDppData(SweepData(r), bu, bv)
    st = dict(
        xu=rng.normal(size=(n_u, D)), xv=rng.normal(size=(n_i, D)),
        yu=rng.normal(size=(bu.n_cols, D)) * 0.7, yv=rng.normal(size=(bv.n_cols, D)) * 0.7,
        alpha=1.7)
    for name, bag in (("yu", bu), ("yv", bv)):
        for g in range(bag.n_groups):
            if not bag.linear[g]:
                st[name][bag.columns(g), K] = 0.0
    def hyper(n_g):
        lam = np.array([stats_wishart(rng) for _ in range(n_g)]).reshape(n_g, K, K)
        return BagHyper(rng.normal(size=(n_g, K)), lam, rng.gamma(2.0, 1.0, n_g))
    st["hu"], st["hv"] = hyper(bu.n_groups), hyper(bv.n_groups)
    st["mu_u"], st["mu_v"] = rng.normal(size=K), rng.normal(size=K)
    st["lam_u"], st["lam_v"] = stats_wishart(rng), stats_wishart(rng)
    st["tau_b"], st["tau_c"] = 1.3, 0.8
    return r, data, st


def stats_wishart(rng):
    a = rng.normal(size=(K, K))
    return a @ a.T + K * np.eye(K)


def log_joint(r, data, st):
    """The model's log density (up to a constant) by dense matrices, no caching."""
    mu = data.offset
    mu_m = data.bag_u.csr.toarray()
    mv_m = data.bag_v.csr.toarray()
    P = st["xu"] + mu_m @ st["yu"]
    Q = st["xv"] + mv_m @ st["yv"]
    total = 0.0
    for row in range(len(r)):
        u, i = r.users[row], r.items[row]
        pred = mu + P[u, :K] @ Q[i, :K] + P[u, K] + Q[i, K]
        total += -0.5 * st["alpha"] * (r.ratings[row] - pred) ** 2
    for x, m, lam, tau in ((st["xu"], st["mu_u"], st["lam_u"], st["tau_b"]),
                           (st["xv"], st["mu_v"], st["lam_v"], st["tau_c"])):
        for row in x:
            dlt = row[:K] - m
            total += -0.5 * dlt @ lam @ dlt - 0.5 * tau * row[K] ** 2
    for y, bag, hyp in ((st["yu"], data.bag_u, st["hu"]), (st["yv"], data.bag_v, st["hv"])):
        for c in range(bag.n_cols):
            g = bag.group[c]
            dlt = y[c, :K] - hyp.mu[g]
            total += -0.5 * dlt @ hyp.lam[g] @ dlt
            if bag.linear[g]:
                total += -0.5 * hyp.tau[g] * y[c, K] ** 2
    return total


def brute_conditional(r, data, st, key, row, d):
    """Precision and mean of block ``st[key][row, :d]`` by polarization of the log joint."""
    def f(vec):
        s = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
        s[key][row, :d] = vec
        return log_joint(r, data, s)
    prec, h = quadratic_form(f, d)
    return prec, np.linalg.solve(prec, h)


def _side(data, st, side):
    rd = data.ratings
    if side == "u":
        return rd.pattern_u, rd.values_u, data.bag_u, "xu", "yu", "xv", "yv", data.bag_v, \
            "mu_u", "lam_u", "tau_b", "hu"
    return rd.pattern_v, rd.values_v, data.bag_v, "xv", "yv", "xu", "yu", data.bag_u, \
        "mu_v", "lam_v", "tau_c", "hv"


def _totals(data, st):
    return (st["xu"] + data.bag_u.csr @ st["yu"], st["xv"] + data.bag_v.csr @ st["yv"])


def library_own(data, st, side, row):
    pat, val, bag, kx, ky, _, _, _, kmu, klam, ktau, _ = _side(data, st, side)
    pu, pv = _totals(data, st)
    gram, g, t2 = stats_for(pat, val, pv if side == "u" else pu)
    offset = bag.csr @ st[ky]
    n = st[kx].shape[0]

    def run(z_row):
        z = np.zeros((n, D))
        z[row] = z_row
        x, _, _ = draw_own(gram, g, t2, offset, st[kmu], st[klam], st[ktau], st["alpha"],
                        FixedNormals(z))
        return x[row]
    return _read_off(run, D)


def library_bag(data, st, side, col):
    pat, val, bag, kx, ky, _, _, _, _, _, _, kh = _side(data, st, side)
    pu, pv = _totals(data, st)
    gram, g, t2 = stats_for(pat, val, pv if side == "u" else pu)
    d = D if bag.linear[bag.group[col]] else K

    def run(z_row):
        z = np.zeros((bag.n_cols, D))
        z[col] = z_row
        y = st[ky].copy()
        total = st[kx] + bag.csr @ y
        s = g - np.einsum("nab,nb->na", _unpack(gram), total)
        draw_bag(bag, gram, s, total, y, st[kh], st["alpha"], FixedNormals(z),
                 order=np.array([col]))
        return y[col, :d]
    return _read_off(run, d), d


def _unpack(gram):
    idx = packed_index(D)
    return gram[:, idx]


def _read_off(run, d):
    x0 = run(np.zeros(D))
    m = np.column_stack([run(np.eye(D)[a]) - x0 for a in range(d)])
    return np.linalg.inv(m @ m.T), x0


@pytest.mark.parametrize("flipped,features", [(True, True), (False, False)])
def test_own_rows_conditionals(flipped, features):
    r, data, st = _problem(1, flipped, features)
    for side, rows in (("u", range(7)), ("v", range(6))):
        for row in rows:
            (p_lib, m_lib) = library_own(data, st, side, row)
            p_ref, m_ref = brute_conditional(r, data, st, "x" + side, row, D)
            np.testing.assert_allclose(p_lib, p_ref, rtol=1e-10, atol=1e-10 * np.abs(p_ref).max())
            np.testing.assert_allclose(m_lib, m_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("flipped,features", [(True, True), (False, True), (True, False)])
def test_bag_conditionals(flipped, features):
    r, data, st = _problem(2, flipped, features)
    for side, bag in (("u", data.bag_u), ("v", data.bag_v)):
        for col in range(bag.n_cols):
            (p_lib, m_lib), d = library_bag(data, st, side, col)
            p_ref, m_ref = brute_conditional(r, data, st, "y" + side, col, d)
            np.testing.assert_allclose(p_lib, p_ref, rtol=1e-10, atol=1e-10 * np.abs(p_ref).max())
            np.testing.assert_allclose(m_lib, m_ref, rtol=1e-10, atol=1e-10)


def brute_collapsed(r, data, st, side, col, d):
    """Precision and mean of ``y_col[:d]`` given the other bag columns with the side's own
    rows ``x`` (all D coordinates of every row) integrated out: polarization of the log joint
    over ``(x, y_col)`` jointly (a Gaussian), then its Schur complement."""
    kx, ky = "x" + side, "y" + side
    n = st[kx].shape[0]
    m = n * D + d

    def f(vec):
        s = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
        s[kx] = vec[:n * D].reshape(n, D)
        s[ky][col, :d] = vec[n * D:]
        return log_joint(r, data, s)
    prec, h = quadratic_form(f, m)
    nx = n * D
    jxx, jxy, jyy = prec[:nx, :nx], prec[:nx, nx:], prec[nx:, nx:]
    p = jyy - jxy.T @ np.linalg.solve(jxx, jxy)
    hy = h[nx:] - jxy.T @ np.linalg.solve(jxx, h[:nx])
    return p, np.linalg.solve(p, hy)


def library_collapsed(data, st, side, col):
    pat, val, bag, kx, ky, _, _, _, kmu, klam, ktau, kh = _side(data, st, side)
    pu, pv = _totals(data, st)
    gram, g, _ = stats_for(pat, val, pv if side == "u" else pu)
    prec, h = own_prior(st[klam], st[kmu], st[ktau])
    d = D if bag.linear[bag.group[col]] else K

    def run(z_row):
        z = np.zeros((bag.n_cols, D))
        z[col] = z_row
        y = st[ky].copy()
        offset = np.asarray(bag.csr @ y)
        s_mat, s_vec = collapse_stats(gram, g, prec, h, st["alpha"], offset)
        draw_bag(bag, s_mat, s_vec, offset, y, st[kh], 1.0, FixedNormals(z),
                 order=np.array([col]))
        return y[col, :d]
    return _read_off(run, d), d


@pytest.mark.parametrize("flipped,features", [(True, True), (False, False)])
def test_collapsed_bag_conditionals(flipped, features):
    r, data, st = _problem(3, flipped, features)
    for side, bag in (("u", data.bag_u), ("v", data.bag_v)):
        for col in range(bag.n_cols):
            (p_lib, m_lib), d = library_collapsed(data, st, side, col)
            p_ref, m_ref = brute_collapsed(r, data, st, side, col, d)
            np.testing.assert_allclose(p_lib, p_ref, rtol=1e-8, atol=1e-8 * np.abs(p_ref).max())
            np.testing.assert_allclose(m_lib, m_ref, rtol=1e-8, atol=1e-8)
