"""Per-row sums of the weighted-MF sweep (``side_stats``) against a slow loop written here.

Each row ``s`` needs ``W_s = sum_p w_p f_j f_j^T`` (packed upper triangle), ``g_s = sum_p
(1 + w_p) t_p f_j``, ``sum_p (1 + w_p) t_p^2`` and the shared ``B = F^T F``.  Two compiled
paths compute them: a table of the other side's outer products (small sides) and a direct path
that gathers each row's factors into blocks and forms rank-8, rank-4 and rank-1 updates (large
sides), run serially or in parallel chunks.  Rows of every length around the block sizes (0..16
and around the 256-cell gather block) are checked, with uneven weights, zero weights and real
targets.
"""

import numpy as np
import pytest

from bayesrec.factorization.implicit.wmf import _sweep

LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 16, 255, 256, 257, 259, 268, 600, 0, 3]


def _csr(n_other, rng):
    indptr = np.concatenate([[0], np.cumsum(LENGTHS)]).astype(np.int64)
    indices = np.concatenate([np.sort(rng.choice(n_other, m, replace=False))
                              for m in LENGTHS]).astype(np.int64)
    w = rng.exponential(2.0, len(indices))
    w[::7] = 0.0                                   # confidence adds nothing on some cells
    t = rng.normal(1.0, 0.5, len(indices))
    return indptr, indices, w, t


def _slow(indptr, indices, w, t, f):
    n, d = len(indptr) - 1, f.shape[1]
    iu = np.triu_indices(d)
    gram, g, t2 = np.zeros((n, len(iu[0]))), np.zeros((n, d)), np.zeros(n)
    for s in range(n):
        mat = np.zeros((d, d))
        for p in range(indptr[s], indptr[s + 1]):
            v = f[indices[p]]
            mat += w[p] * np.outer(v, v)
            g[s] += (1.0 + w[p]) * t[p] * v
            t2[s] += (1.0 + w[p]) * t[p] ** 2
        gram[s] = mat[iu]
    base = sum(np.outer(v, v) for v in f)
    return gram, g, t2, base


@pytest.mark.parametrize("rank", [1, 3, 16])
@pytest.mark.parametrize("path", ["outer table", "direct", "direct parallel"])
def test_side_stats_equal_a_slow_loop(rank, path, monkeypatch):
    rng = np.random.default_rng(rank)
    n_other = 700
    side = _csr(n_other, rng)
    f = rng.normal(size=(n_other, rank))
    if path != "outer table":
        monkeypatch.setattr(_sweep, "OUTER_TABLE_MAX_BYTES", 0)
    if path == "direct parallel":
        monkeypatch.setattr(_sweep, "PARALLEL_MIN_CELLS", 0)
    got = _sweep.side_stats(*side, f)
    ref = _slow(*side, f)
    for name, a, b in zip(["W", "g", "t2", "B"], got, ref):
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * scale, err_msg=name)
    assert np.array_equal(got[3], got[3].T)


def test_direct_path_does_not_depend_on_chunks_or_threads(monkeypatch):
    """Same numbers, bit for bit, serially and in parallel chunks (the sampler's draws must
    not depend on the thread count)."""
    rng = np.random.default_rng(5)
    side = _csr(900, rng)
    f = rng.normal(size=(900, 8))
    monkeypatch.setattr(_sweep, "OUTER_TABLE_MAX_BYTES", 0)
    serial = _sweep.side_stats(*side, f)
    monkeypatch.setattr(_sweep, "PARALLEL_MIN_CELLS", 0)
    parallel = _sweep.side_stats(*side, f)
    for a, b in zip(serial, parallel):
        assert np.array_equal(a, b)
