"""Independent tasks (MCMC chains, cross-validation folds, grid points) through joblib only.

Every ``n_jobs`` in bayesrec ends here, in :func:`run_tasks`, which hands the tasks to
``joblib.Parallel``.  The backend is whatever joblib has active: its default (loky worker
processes on the local host) or, inside ``with joblib.parallel_config(backend="dask")``, the
workers of a ``dask.distributed`` cluster (Ray's ``ray.util.joblib`` backend likewise).  Nothing
else changes: each task receives its own pre-spawned ``numpy.random.Generator`` from the caller,
so its numbers do not depend on where or in which order it runs.

``n_jobs`` follows joblib: ``None`` means "1 unless a ``parallel_config`` says otherwise",
``-1`` means every worker the backend has, ``1`` runs the tasks in the calling process.
"""

from __future__ import annotations

import numbers

import joblib


def check_n_jobs(n_jobs) -> int | None:
    """Validate ``n_jobs``: ``None``, ``-1`` (all workers) or a positive integer."""
    ok = n_jobs is None or (isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool)
                            and (n_jobs >= 1 or n_jobs == -1))
    if not ok:
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}")
    return None if n_jobs is None else int(n_jobs)


def runs_in_process(n_jobs, n_tasks: int) -> bool:
    """True when the tasks would run one after another in this process."""
    return n_tasks <= 1 or joblib.effective_n_jobs(check_n_jobs(n_jobs)) == 1


def _indexed(index, fn, args):
    return index, fn(*args)


def run_tasks(fn, tasks, n_jobs=None, on_done=None) -> list:
    """``[fn(*args) for args in tasks]`` through ``joblib.Parallel``, results in task order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers).
    tasks : sequence of tuples
        The positional arguments of each call.
    n_jobs : None, -1 or int
        See the module docstring.
    on_done : callable, optional
        ``on_done(index, result)``, called in this process as each task finishes (in
        completion order when the backend can report it, else when all have finished); used
        for progress bars.
    """
    tasks = list(tasks)
    n_jobs = check_n_jobs(n_jobs)
    out = [None] * len(tasks)
    if runs_in_process(n_jobs, len(tasks)):
        for i, args in enumerate(tasks):
            out[i] = fn(*args)
            if on_done is not None:
                on_done(i, out[i])
        return out
    backend = joblib.parallel.get_active_backend()[0]
    as_generator = getattr(backend, "supports_return_generator", False)
    parallel = joblib.Parallel(n_jobs=n_jobs,
                               return_as="generator_unordered" if as_generator else "list")
    for i, result in parallel(joblib.delayed(_indexed)(i, fn, args)
                              for i, args in enumerate(tasks)):
        out[i] = result
        if on_done is not None:
            on_done(i, result)
    return out
