"""The ``"fast"`` kernel of ``draw_rows`` (used by the weighted-MF sweep) draws from the same
Gaussians as the reference kernels: ``x = m + R z`` with ``m = P^-1 h`` and ``R R^T = P^-1``
checked against dense numpy solves and inverses, the SSE bookkeeping against its formula, and
rows whose Cholesky fails take the same jitter path."""

import numpy as np
import pytest

from bayesrec.factorization.bpmf._linalg import draw_rows


class _Scripted:
    """A generator whose ``standard_normal`` returns the given normals."""

    def __init__(self, z):
        self.z = z

    def standard_normal(self, shape):
        assert shape == self.z.shape
        return self.z.copy()


def _problem(d, n, seed):
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(d)
    f = rng.normal(size=(n, 5, d))
    grams = np.einsum("nja,njb->nab", f, f)
    a = rng.normal(size=(d, d))
    pp = a @ a.T / d + np.eye(d)
    return grams, grams[:, iu[0], iu[1]], rng.normal(size=(n, d)), rng.gamma(2.0, size=n), \
        pp, rng.normal(size=d)


@pytest.mark.parametrize("d", [1, 2, 5, 16, 17])
def test_fast_kernel_draws_the_conditional_exactly(d):
    n = 6
    grams, gram, g, t2, pp, ph = _problem(d, n, d)
    alpha = 1.3

    def call(z):
        return draw_rows(gram, g, t2, pp, ph, alpha, _Scripted(np.tile(z, (n, 1))),
                         backend="fast")
    m, sse, n_jit = call(np.zeros(d))
    assert n_jit == 0
    cols = np.stack([call(np.eye(d)[j])[0] - m for j in range(d)], axis=-1)
    for s in range(n):
        prec = pp + alpha * grams[s]
        np.testing.assert_allclose(m[s], np.linalg.solve(prec, ph + alpha * g[s]),
                                   rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(cols[s] @ cols[s].T, np.linalg.inv(prec),
                                   rtol=1e-11, atol=1e-12)
        sse_ref = t2[s] - 2 * m[s] @ g[s] + m[s] @ grams[s] @ m[s]
        assert abs(sse[s] - sse_ref) <= 1e-11 * (1 + abs(sse_ref))
    # with mode=True the means, without consuming normals
    mode = draw_rows(gram, g, t2, pp, ph, alpha, None, mode=True, backend="fast")[0]
    np.testing.assert_allclose(mode, m, rtol=0, atol=1e-13)


def test_fast_kernel_agrees_with_the_reference_kernels_and_jitters_the_same_rows():
    d, n = 16, 40
    grams, gram, g, t2, pp, ph = _problem(d, n, 0)
    # row 3's precision has the eigenvalue -1e-6 (just past the prior's smallest): jitter path
    alpha = 0.7
    lam, vec = np.linalg.eigh(pp)
    grams[3] = -(lam[0] + 1e-6) / alpha * np.outer(vec[:, 0], vec[:, 0])
    gram[3] = grams[3][np.triu_indices(d)]
    z = np.random.default_rng(2).normal(size=(n, d))
    out = {b: draw_rows(gram, g, t2, pp, ph, alpha, _Scripted(z), backend=b)
           for b in ("fast", "numba", "numpy")}
    assert out["fast"][2] == out["numba"][2] == out["numpy"][2] == 1
    for b in ("numba", "numpy"):
        np.testing.assert_allclose(out["fast"][0], out[b][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out["fast"][1], out[b][1], rtol=1e-10, atol=1e-10)
