"""Univariate slice sampling (Neal 2003, "Slice sampling", Ann. Statist. 31(3)).

A generic MCMC move for one scalar with a log density known up to a constant; the samplers
use it for conditionals that are not conjugate (for example a precision with its block
integrated out).

Every loop is bounded: stepping out stops after ``max_steps`` widths on each side (Neal's
``m``), and the shrinkage loop after ``max_shrink`` proposals.  Shrinkage always ends on a
proper density (the interval closes in on the current point, which is in the slice), so
hitting that bound means the log density is not a function of ``y`` that the sampler can use
(``nan`` somewhere, or a slice narrower than floating point can resolve): it raises
``ConvergenceError`` instead of looping forever.
"""

from __future__ import annotations

import math

from ..exceptions import ConvergenceError

#: proposals of the shrinkage loop before giving up (each halves the interval on average, so
#: 200 shrinks a unit interval far below the spacing of doubles around any finite point)
MAX_SHRINK = 200


def slice_sample(logf, y0: float, rng, width: float = 1.0, n_iter: int = 2,
                 max_steps: int = 50, max_shrink: int = MAX_SHRINK) -> float:
    """Univariate slice sampler (Neal 2003, stepping out + shrinkage) on ``y``.

    Raises
    ------
    ConvergenceError
        When ``logf(y0)`` is not a number or ``+inf`` (the current point must be in the
        support), or when ``max_shrink`` shrinkage steps find no point in the slice.
    """
    y = float(y0)
    fy = float(logf(y))
    if math.isnan(fy) or fy == math.inf:
        raise ConvergenceError(f"slice sampler: log density at the current point {y!r} is "
                                 f"{fy!r}; check the prior hyperparameters and the data")
    for _ in range(n_iter):
        level = fy - rng.exponential()
        lo = y - width * rng.uniform()
        hi = lo + width
        for _ in range(max_steps):
            if not logf(lo) >= level:  # a nan density ends the stepping out
                break
            lo -= width
        for _ in range(max_steps):
            if not logf(hi) >= level:
                break
            hi += width
        for _ in range(max_shrink):
            y1 = rng.uniform(lo, hi)
            f1 = logf(y1)
            if f1 >= level:
                y, fy = y1, f1
                break
            if y1 < y:
                lo = y1
            else:
                hi = y1
        else:
            raise ConvergenceError(
                f"slice sampler: no point of the slice found in {max_shrink} shrinkage steps "
                f"around y = {y!r} (log density {fy!r}); the log density is nan or not "
                "resolvable there: check the prior hyperparameters and the data")
    return y
