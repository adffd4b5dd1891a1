"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import time


def timed(f):
    """``(result, wall seconds, cpu seconds)`` of ``f()``: CPU time is less noisy than
    wall time on a busy machine."""
    t, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - t, time.process_time() - c


def reset_peak_memory() -> None:
    """Reset this process's resident-set high-water mark (``VmHWM``) to its current size
    (Linux ``/proc/self/clear_refs``), so a later :func:`peak_memory_gb` covers what follows."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def peak_memory_gb() -> float:
    """This process's resident-set high-water mark (``VmHWM``) in GiB (NaN if unavailable)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024 ** 2
    return float("nan")
