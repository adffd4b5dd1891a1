"""Univariate slice sampling (Neal 2003, "Slice sampling", Ann. Statist. 31(3)).

A generic MCMC move for one scalar with a log density known up to a constant; the samplers
use it for conditionals that are not conjugate (for example a precision with its block
integrated out).
"""

from __future__ import annotations


def slice_sample(logf, y0: float, rng, width: float = 1.0, n_iter: int = 2,
               max_steps: int = 50) -> float:
    """Univariate slice sampler (Neal 2003, stepping out + shrinkage) on ``y``."""
    y = y0
    fy = logf(y)
    for _ in range(n_iter):
        level = fy - rng.exponential()
        lo = y - width * rng.uniform()
        hi = lo + width
        for _ in range(max_steps):
            if logf(lo) < level:
                break
            lo -= width
        for _ in range(max_steps):
            if logf(hi) < level:
                break
            hi += width
        while True:
            y1 = rng.uniform(lo, hi)
            f1 = logf(y1)
            if f1 >= level:
                y, fy = y1, f1
                break
            if y1 < y:
                lo = y1
            else:
                hi = y1
    return y
