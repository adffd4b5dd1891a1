"""PageRank against networkx (test-only dependency) and a dense linear solve; PageRank posterior."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from bayesrec.pagerank import PowerIterationFailedConvergence, pagerank, pagerank_posterior


def random_graph(n, density, seed, weighted=True, n_dangling=10):
    rng = np.random.default_rng(seed)
    a = sp.random(n, n, density=density, random_state=seed, format="lil")
    a[rng.choice(n, n_dangling, replace=False), :] = 0  # dangling pages
    a = a.tocsr()
    a.setdiag(0)  # networkx keeps self-loops too, but keep the graphs simple
    a.eliminate_zeros()
    a.data = rng.integers(1, 6, a.nnz).astype(float) if weighted else np.ones(a.nnz)
    return a


def nx_pagerank(a, weighted=True, **kw):
    g = nx.from_scipy_sparse_array(a, create_using=nx.DiGraph)
    for key in ("personalization", "dangling"):
        if kw.get(key) is not None:
            kw[key] = dict(enumerate(kw[key]))
    res = nx.pagerank(g, tol=1e-14, max_iter=10_000, weight="weight" if weighted else None, **kw)
    return np.array([res[i] for i in range(a.shape[0])])


def dense_pagerank(a, alpha, p, d):
    """Closed form: x = (1 - alpha) p (I - alpha S)^-1 with S the row-stochastic surfer matrix."""
    a = a.toarray()
    n = len(a)
    out = a.sum(axis=1)
    s = np.where(out[:, None] > 0, a / np.where(out > 0, out, 1)[:, None], d[None, :])
    x = np.linalg.solve((np.eye(n) - alpha * s).T, (1 - alpha) * p)
    return x / x.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("weighted", [True, False])
def test_matches_networkx(seed, weighted):
    a = random_graph(300, 0.02, seed, weighted)
    ours = pagerank(a, 0.85, tol=1e-13)
    np.testing.assert_allclose(ours, nx_pagerank(a, weighted), atol=1e-8, rtol=0)
    assert ours.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [3, 4])
def test_matches_networkx_personalization_and_dangling(seed):
    rng = np.random.default_rng(seed)
    a = random_graph(250, 0.03, seed, n_dangling=25)
    pers = rng.random(250) * (rng.random(250) < 0.3)  # sparse personalization
    dang = rng.random(250)
    for alpha in (0.5, 0.85, 0.95):
        ref = nx_pagerank(a, alpha=alpha, personalization=pers)
        np.testing.assert_allclose(pagerank(a, alpha, personalization=pers, tol=1e-13), ref,
                                   atol=1e-8, rtol=0)
        ref = nx_pagerank(a, alpha=alpha, personalization=pers, dangling=dang)
        np.testing.assert_allclose(
            pagerank(a, alpha, personalization=pers, dangling=dang, tol=1e-13), ref,
            atol=1e-8, rtol=0)


def test_dense_closed_form_and_absolute_tolerance():
    a = random_graph(120, 0.05, 5, n_dangling=12)
    alpha = 0.85
    p = np.full(120, 1 / 120)
    exact = dense_pagerank(a, alpha, p, p)
    np.testing.assert_allclose(pagerank(a, alpha, tol=1e-14), exact, atol=1e-13)
    # stopping on the absolute L1 change bounds the error by tol * alpha / (1 - alpha)
    for tol in (1e-3, 1e-5, 1e-8):
        x = pagerank(a, alpha, tol=tol)
        assert np.abs(x - exact).sum() <= tol * alpha / (1 - alpha)
    # dense input gives the same answer as sparse input; duplicates in COO are summed
    np.testing.assert_allclose(pagerank(a.toarray(), alpha), pagerank(a, alpha), atol=1e-15)
    coo = a.tocoo()
    dup = sp.coo_matrix((np.r_[coo.data / 2, coo.data / 2], (np.r_[coo.row, coo.row],
                                                             np.r_[coo.col, coo.col])),
                        shape=a.shape)
    np.testing.assert_allclose(pagerank(dup, alpha, tol=1e-14), exact, atol=1e-13)


def test_all_dangling_and_warm_start():
    n = 5
    x = pagerank(sp.csr_matrix((n, n)), 0.85)
    np.testing.assert_allclose(x, 1 / n)
    a = random_graph(100, 0.05, 6)
    x, it = pagerank(a, tol=1e-12, return_n_iter=True)
    x2, it2 = pagerank(a, tol=1e-12, x0=x, return_n_iter=True)
    assert it2 <= 2 < it and np.abs(x - x2).max() < 1e-12


def test_errors():
    a = random_graph(20, 0.2, 7)
    with pytest.raises(ValueError, match="square"):
        pagerank(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        pagerank(-a)
    with pytest.raises(ValueError, match="damping"):
        pagerank(a, damping=1.0)
    with pytest.raises(ValueError, match="personalization"):
        pagerank(a, personalization=np.zeros(20))
    with pytest.raises(ValueError, match="personalization must have shape"):
        pagerank(a, personalization=np.ones(3))
    with pytest.raises(ValueError, match="tol"):
        pagerank(a, tol=0)
    with pytest.raises(PowerIterationFailedConvergence):
        pagerank(a, tol=1e-15, max_iter=2)


# ---------------------------------------------------------------- posterior
def click_counts(n, seed):
    rng = np.random.default_rng(seed)
    a = random_graph(n, 0.06, seed, n_dangling=3)
    a.data = rng.integers(1, 4, a.nnz).astype(float)
    return a


def test_posterior_point_is_pagerank_of_posterior_mean_chain():
    c = click_counts(60, 8)
    post = pagerank_posterior(c, prior=0.0, n_samples=5, rng=0, tol=1e-13)
    np.testing.assert_allclose(post.point, pagerank(c, tol=1e-13), atol=1e-12)
    # prior > 0: rows (c_ij + prior/N) / (n_i + prior), i.e. pagerank of the smoothed weights
    prior, n = 2.0, 60
    smoothed = c.toarray() + prior / n
    post = pagerank_posterior(c, prior=prior, n_samples=5, rng=0, tol=1e-13)
    np.testing.assert_allclose(post.point, pagerank(smoothed, tol=1e-13), atol=1e-12)
    np.testing.assert_allclose(post.draws.sum(axis=1), 1.0, atol=1e-10)
    assert (post.draws > 0).all()


def test_posterior_concentrates_on_point_as_counts_grow():
    c = click_counts(50, 9)
    gaps, sds = [], []
    for scale in (1, 30, 1000):
        post = pagerank_posterior(c * scale, prior=1.0, n_samples=300, rng=10)
        mcse = post.sd / np.sqrt(300)
        gap = np.abs(post.mean - post.point)
        gaps.append(gap.max())
        sds.append(post.sd.max())
        lo, hi = post.interval(0.9)
        assert (lo <= post.mean).all() and (post.mean <= hi).all()
    assert gaps[0] > gaps[1] > gaps[2] and sds[0] > sds[1] > sds[2]
    # at 1000x the counts the remaining gap is Monte Carlo error only
    assert np.all(gap < 4.5 * mcse + 1e-12)
    # posterior sd shrinks like 1 / sqrt(counts)
    assert sds[2] / sds[1] == pytest.approx(np.sqrt(30 / 1000), rel=0.25)


def test_posterior_reproducible_and_summary():
    c = click_counts(40, 11)
    a = pagerank_posterior(c, n_samples=20, rng=3, pages=[f"p{i}" for i in range(40)])
    b = pagerank_posterior(c, n_samples=20, rng=3)
    np.testing.assert_array_equal(a.draws, b.draws)
    s = a.summary(prob=0.9, top=5)
    assert list(s.columns[:6]) == ["page", "point", "mean", "sd", "eti90_lb", "eti90_ub"]
    assert len(s) == 5 and s["mean"].is_monotonic_decreasing
    assert (s.eti90_lb <= s["mean"]).all() and (s["mean"] <= s.eti90_ub).all()
    dt = a.to_datatree()
    assert dt["posterior"]["pagerank"].dims == ("chain", "draw", "page")
    np.testing.assert_allclose(dt["posterior"]["pagerank"].mean(("chain", "draw")).values, a.mean)
    with pytest.raises(ValueError, match="prior"):
        pagerank_posterior(c, prior=-1.0)


def test_int64_index_path(monkeypatch):
    """Graphs with more than 2^32 links use int64 indices: same kernels, same answer."""
    import bayesrec.pagerank as pr

    a = random_graph(150, 0.04, 12, n_dangling=8)
    b = a.copy()
    b.data[:] = 1.0
    expected = [pagerank(a, tol=1e-13), pagerank(b, tol=1e-13),
                pagerank_posterior(a, n_samples=2, rng=0).draws]
    monkeypatch.setattr(pr, "_index_dtype", lambda n, nnz: np.int64)
    np.testing.assert_allclose(pagerank(a, tol=1e-13), expected[0], atol=1e-15)
    np.testing.assert_allclose(pagerank(b, tol=1e-13), expected[1], atol=1e-15)
    np.testing.assert_allclose(pagerank_posterior(a, n_samples=2, rng=0).draws, expected[2],
                               atol=1e-15)


def test_posterior_intervals_and_rank_intervals_by_hand():
    """Equal-tailed intervals of the PageRank draws and of each page's rank (1 = largest
    PageRank in a draw), by sorting in plain Python (199 draws: no quantile level falls on a
    sample point, so the interpolation rule is the only convention involved)."""
    rng = np.random.default_rng(13)
    c = rng.integers(1, 6, (12, 12)) * (rng.random((12, 12)) < 0.7)
    c[np.arange(12), (np.arange(12) + 1) % 12] += 1    # every page has in-links: no ties
    post = pagerank_posterior(c, n_samples=199, rng=14)
    s = post.draws.shape[0]

    def quantile(xs, q):                      # linear interpolation between order statistics
        xs = sorted(xs)
        h = (len(xs) - 1) * q
        f = int(h)
        return xs[f] + (h - f) * (xs[f + 1] - xs[f])

    lo, hi = post.interval(0.9)
    summ = post.summary(prob=0.9).set_index("page")
    for i in range(12):
        col = list(post.draws[:, i])
        assert lo[i] == pytest.approx(quantile(col, 0.05), rel=1e-12)
        assert hi[i] == pytest.approx(quantile(col, 0.95), rel=1e-12)
        ranks = sorted(1 + sum(x > row[i] for x in row) for row in post.draws.tolist())
        # inverted CDF: the smallest rank whose empirical CDF reaches the level
        assert summ.loc[i, "rank_eti90_lb"] == ranks[int(np.ceil(0.05 * s)) - 1]
        assert summ.loc[i, "rank_eti90_ub"] == ranks[int(np.ceil(0.95 * s)) - 1]
        assert summ.loc[i, "eti90_lb"] == lo[i] and summ.loc[i, "eti90_ub"] == hi[i]


def test_tied_pages_share_their_rank():
    """Pages with the same in-links have exactly the same PageRank in every draw (here: no
    in-links at all, only the teleport and the smoothing mass); they must get the same rank,
    1 + the number of pages with a strictly larger PageRank (competition ranking, counted
    here draw by draw), not an arbitrary order among the tied pages."""
    c = np.zeros((10, 10))
    rng = np.random.default_rng(15)
    c[:, :4] = rng.integers(1, 5, (10, 4))          # pages 4..9 have no in-links
    np.fill_diagonal(c, 0)
    post = pagerank_posterior(c, n_samples=99, rng=16)
    assert (post.draws[:, 4:] == post.draws[:, [4]]).all()       # exactly tied
    ranks = np.array([[1 + sum(x > row[i] for x in row) for i in range(10)]
                      for row in post.draws.tolist()])
    np.testing.assert_array_equal(ranks[:, 4:], 5)
    summ = post.summary(prob=0.9).set_index("page")
    for i in range(10):
        lo, hi = np.quantile(ranks[:, i], [0.05, 0.95], method="inverted_cdf")
        assert summ.loc[i, "rank_eti90_lb"] == lo and summ.loc[i, "rank_eti90_ub"] == hi
