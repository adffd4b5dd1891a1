"""Planted sampler bugs used to measure the power of the statistical tests."""

from __future__ import annotations

import contextlib

import numpy as np

from bayesrec.factorization.bpmf import _sweep


@contextlib.contextmanager
def inflated_row_variance(factor: float):
    """Every row draw ``x ~ N(m, P^-1)`` of the BPMF sweep becomes ``m + sqrt(factor) (x - m)``:
    a conditional-variance error of ``factor - 1`` (the SSE bookkeeping stays consistent)."""
    with inflated_rows(_sweep, factor):
        yield


@contextlib.contextmanager
def inflated_rows(module, factor: float):
    """:func:`inflated_row_variance` for any sweep module that calls ``draw_rows``."""
    real = module.draw_rows

    def wrong(gram, g, t2, pp, ph, alpha, rng, mode=False, backend="numba"):
        x, sse, nj = real(gram, g, t2, pp, ph, alpha, rng, mode, backend)
        if mode:
            return x, sse, nj
        m = real(gram, g, t2, pp, ph, alpha, None, True, backend)[0]
        x = m + np.sqrt(factor) * (x - m)
        d = x.shape[1]
        iu = np.triu_indices(d)
        w = np.where(iu[0] == iu[1], 1.0, 2.0)
        sse = t2 - 2.0 * np.einsum("nd,nd->n", x, g) + (gram * (x[:, iu[0]] * x[:, iu[1]])) @ w
        return x, sse, nj

    module.draw_rows = wrong
    try:
        yield
    finally:
        module.draw_rows = real
