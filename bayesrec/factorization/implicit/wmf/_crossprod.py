"""``F^T F`` in one fixed summation order (no threaded BLAS), shared by both weighted-MF sweeps."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def cross_product(f):  # pragma: no cover - compiled
    # f^T f by rank-4 updates over f's rows (vectorized inner loop, one fixed order)
    n, d = f.shape
    out = np.zeros((d, d))
    k = 0
    while k + 4 <= n:
        for a in range(d):
            c0, c1, c2, c3 = f[k, a], f[k + 1, a], f[k + 2, a], f[k + 3, a]
            for b in range(d):
                out[a, b] += (c0 * f[k, b] + c1 * f[k + 1, b]
                              + c2 * f[k + 2, b] + c3 * f[k + 3, b])
        k += 4
    while k < n:
        for a in range(d):
            c0 = f[k, a]
            for b in range(d):
                out[a, b] += c0 * f[k, b]
        k += 1
    # exactly symmetric (the two triangles' sums ran in the same order up to commutation)
    for a in range(d):
        for b in range(a + 1, d):
            out[b, a] = out[a, b]
    return out
