"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import time


def timed(f):
    """``(result, wall seconds, cpu seconds)`` of ``f()``: the machine is shared, CPU time is
    less noisy than wall time."""
    t, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - t, time.process_time() - c
