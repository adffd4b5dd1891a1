"""The Gaussian behind an exactly quadratic log density, by polarization (a test reference).

For ``f(x) = c + h.x - x^T P x / 2`` (up to round-off), evaluated at ``0``, ``+-e_a`` and
``e_a + e_b`` only: ``h_a = (f(e_a) - f(-e_a)) / 2``, ``P_aa = -(f(e_a) + f(-e_a) - 2c)``,
``P_ab = -(f(e_a + e_b) - f(e_a) - f(e_b) + c)``.  No derivative of the library's code is
used, only values of a log joint written in the test.
"""

import numpy as np


def quadratic_form(f, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(P, h)`` of ``f`` on R^m (the Gaussian's precision and ``P`` times its mean)."""
    e = np.eye(m)
    c = f(np.zeros(m))
    fp = np.array([f(e[a]) for a in range(m)])
    fm = np.array([f(-e[a]) for a in range(m)])
    h = (fp - fm) / 2
    prec = np.empty((m, m))
    for a in range(m):
        prec[a, a] = -(fp[a] + fm[a] - 2 * c)
        for b in range(a + 1, m):
            prec[a, b] = prec[b, a] = -(f(e[a] + e[b]) - fp[a] - fp[b] + c)
    return prec, h
