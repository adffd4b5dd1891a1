"""Chain driver for hand-written MCMC samplers: chains, burn-in, thinning, progress, checkpoints.

A sampler is any picklable object with

* ``init(rng) -> state``: a starting state;
* ``step(state, rng) -> state``: one sweep (all randomness from ``rng``);
* ``record(state) -> dict[str, ndarray]``: the per-draw trace values (small: scalars, a few
  predictions) kept for every retained draw;
* ``new_accumulator(n_draws) -> dict`` and ``accumulate(acc, state, draw)``: running sums and
  whatever else is kept without storing every state (e.g. posterior-mean predictions);
* ``fingerprint() -> dict[str, str]``: one entry per thing that changes the numbers (the data,
  each hyperparameter, the evaluation cells, ...), so a checkpoint is never resumed into a
  different run and a refusal names what differs.  (A single string is accepted too.)

Chain ``c`` uses the ``c``-th stream of ``bayesrec.rng.spawn(random_state, n_chains)`` and
nothing else, so the draws are the same whether the chains run one after another in this
process or as ``joblib`` tasks (:func:`bayesrec.parallel.run_tasks`: loky worker processes by
default, a Dask or Ray cluster inside ``joblib.parallel_config(backend=...)``).

Progress: in this process the bar advances every few sweeps.  With worker processes on this
machine, each chain writes its sweep count to a small file in a temporary folder that this
process polls; where a worker cannot see that folder (another machine), the bar advances when
the chain finishes.

Worker processes stop when their parent dies: a chain running in another process checks its
parent process id after every sweep and exits at once if it has changed (the parent was killed
and the worker was re-parented), so no orphan keeps sampling or writing checkpoints.

Checkpoints (:mod:`bayesrec.inference.checkpoint`): with ``checkpoint_dir`` set, each chain
writes ``chain<c>.npz`` every ``checkpoint_every`` sweeps, atomically.  Its key covers the
sampler's fingerprint, the chain's generator (so the seed), ``n_samples``, ``burn_in``,
``thin`` and the bayesrec version.  Running again with the same directory resumes each chain
from its file; because the generator's ``bit_generator`` state is restored, the result equals
an uninterrupted run, and at most ``checkpoint_every`` sweeps are lost.  A file whose key
differs, or that cannot be read, is refused with a :class:`CheckpointError` (a ``ValueError``)
naming the file and the differing fields.  A finished chain's file is kept, so a repeated call
just reloads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..parallel import run_tasks, runs_in_process
from ..progress import progress_bar
from ..rng import spawn
from .checkpoint import CheckpointError, check_key, read_checkpoint, write_checkpoint

__all__ = ["ChainResult", "RunSettings", "CheckpointError", "run_chain", "run_chains",
           "checkpoint_key", "checkpoint_path"]


@dataclass
class ChainResult:
    """One chain's output: ``traces[name]`` has shape ``(n_draws, ...)``."""

    traces: dict
    accumulator: dict
    state: object
    n_sweeps: int


@dataclass(frozen=True)
class RunSettings:
    n_samples: int
    burn_in: int
    thin: int
    checkpoint_dir: str | None = None
    checkpoint_every: int = 50

    @property
    def total(self) -> int:
        return self.burn_in + self.n_samples * self.thin


def checkpoint_path(settings: RunSettings, chain: int) -> Path | None:
    """``<checkpoint_dir>/chain<c>.npz`` (None without a checkpoint folder)."""
    if settings.checkpoint_dir is None:
        return None
    return Path(settings.checkpoint_dir) / f"chain{chain}.npz"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def checkpoint_key(sampler, chain: int, rng: np.random.Generator,
                   settings: RunSettings) -> dict:
    """Everything that changes chain ``chain``'s numbers, as ``field -> str``.

    ``rng`` must be the chain's generator *before* the first draw: its state stands for the
    seed (whether ``random_state`` was an int or a Generator).
    """
    from .. import __version__

    fp = sampler.fingerprint()
    key = {f"sampler.{k}": str(v) for k, v in fp.items()} if isinstance(fp, dict) \
        else {"sampler": str(fp)}
    key.update({
        "bayesrec_version": __version__,
        "chain": str(chain),
        "seed": _digest(json.dumps(rng.bit_generator.state, sort_keys=True).encode()),
        "n_samples": str(settings.n_samples),
        "burn_in": str(settings.burn_in),
        "thin": str(settings.thin),
    })
    return key


class _ParentWatch:
    """In a worker process: exit at once when the parent dies (the worker gets re-parented)."""

    def __init__(self, driver_pid: int | None):
        self.active = driver_pid is not None and os.getpid() != driver_pid
        self.ppid = os.getppid()

    def check(self) -> None:
        if self.active and os.getppid() != self.ppid:
            os._exit(70)  # the parent is gone: nobody will read our result


def run_chain(sampler, chain: int, rng: np.random.Generator, settings: RunSettings,
              report=None, driver_pid: int | None = None) -> ChainResult:
    """Run (or resume) one chain; ``report(n)`` is called after every ``n`` sweeps.

    ``driver_pid``: the process id of the caller of :func:`run_chains`; when this runs in
    another process, it exits as soon as its parent dies.

    BLAS runs single-threaded inside a chain: a threaded BLAS reduction (a dot product, a norm)
    sums in an order that depends on the thread count, which differs between this process and
    a worker (joblib gives each of ``n`` workers ``cores / n`` threads), so without the limit
    the same seed could give draws that differ in the last bit.  The chains themselves are the
    parallel unit, and compiled kernels whose sums do not depend on the thread count keep
    their own threads.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_chain(sampler, chain, rng, settings, report, driver_pid)


def _run_chain(sampler, chain, rng, settings, report, driver_pid) -> ChainResult:
    watch = _ParentWatch(driver_pid)
    path = checkpoint_path(settings, chain)
    key = checkpoint_key(sampler, chain, rng, settings) if path is not None else None
    traces: dict = {}
    if path is not None and path.exists():
        saved_key, saved = read_checkpoint(path)
        check_key(path, saved_key, key)
        try:
            state, sweep = saved["state"], int(saved["sweep"])
            traces, acc = saved["traces"], saved["acc"]
            rng.bit_generator.state = saved["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint file {path} is malformed ({exc!r}); delete it "
                                  "or use another checkpoint_dir") from exc
        if not 0 <= sweep <= settings.total:
            raise CheckpointError(f"checkpoint file {path} is malformed (sweep {sweep} outside "
                                  f"0..{settings.total})")
        if report is not None and sweep:
            report(sweep)
    else:
        state = sampler.init(rng)
        sweep = 0
        acc = sampler.new_accumulator(settings.n_samples)
    since = 0
    while sweep < settings.total:
        state = sampler.step(state, rng)
        watch.check()
        sweep += 1
        kept = sweep - settings.burn_in
        if kept > 0 and kept % settings.thin == 0:
            draw = kept // settings.thin - 1
            rec = sampler.record(state)
            if not traces:
                traces = {k: np.empty((settings.n_samples,) + np.shape(v),
                                      dtype=np.asarray(v).dtype) for k, v in rec.items()}
            for k, v in rec.items():
                traces[k][draw] = v
            sampler.accumulate(acc, state, draw)
        since += 1
        if report is not None and (since >= 5 or sweep == settings.total):
            report(since)
            since = 0
        if path is not None and (sweep % settings.checkpoint_every == 0
                                 or sweep == settings.total):
            write_checkpoint(path, key, {"state": state, "sweep": sweep, "traces": traces,
                                         "acc": acc, "rng": rng.bit_generator.state})
    return ChainResult(traces, acc, state, sweep)


# ------------------------------------------------------------------ progress across processes
class _CountFile:
    """``report(n)`` for a worker: adds ``n`` to a count kept in an 8-byte file (if visible)."""

    def __init__(self, path: str | None):
        self.path = path
        self.count = 0

    def __call__(self, n: int) -> None:
        self.count += n
        try:
            fd = os.open(self.path, os.O_WRONLY)  # no O_CREAT: absent on another machine
        except (OSError, TypeError):
            return
        try:
            os.pwrite(fd, int(self.count).to_bytes(8, "little"), 0)
        finally:
            os.close(fd)


class _Poller(threading.Thread):
    """Moves the bar to the sum of the chains' count files (and finished chains' totals)."""

    def __init__(self, bar, paths: list[str], per_chain: int):
        super().__init__(daemon=True)
        self.bar, self.paths, self.per_chain = bar, paths, per_chain
        self.done: set[int] = set()
        self.shown = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def _count(self, c: int) -> int:
        if c in self.done:
            return self.per_chain
        try:
            with open(self.paths[c], "rb") as fh:
                return min(int.from_bytes(fh.read(8), "little"), self.per_chain)
        except OSError:
            return 0

    def refresh(self) -> None:
        with self.lock:
            total = sum(self._count(c) for c in range(len(self.paths)))
            if total > self.shown:
                self.bar.update(total - self.shown)
                self.shown = total

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.refresh()


def _chain_task(sampler, chain, rng, settings, count_path, driver_pid):
    report = _CountFile(count_path) if count_path is not None else None
    return run_chain(sampler, chain, rng, settings, report=report, driver_pid=driver_pid)


def run_chains(sampler, n_chains: int, settings: RunSettings, random_state=None,
               n_jobs=1, progress: bool = True,
               description: str = "MCMC") -> list[ChainResult]:
    """Run ``n_chains`` chains of ``sampler``; returns one :class:`ChainResult` per chain.

    ``n_jobs`` (None, -1 or a positive int, as in joblib) chains run at once as
    ``joblib.Parallel`` tasks; the results are the same as with ``n_jobs=1``.
    """
    rngs = spawn(random_state, n_chains)
    if settings.checkpoint_dir is not None:
        Path(settings.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    total = settings.total * n_chains
    with progress_bar(total, description, enabled=progress) as bar:
        if runs_in_process(n_jobs, n_chains):
            return [run_chain(sampler, c, rngs[c], settings, report=bar.update)
                    for c in range(n_chains)]
        folder = tempfile.mkdtemp(prefix="bayesrec-progress-") if progress else None
        paths = []
        if folder is not None:
            for c in range(n_chains):
                paths.append(os.path.join(folder, f"chain{c}"))
                with open(paths[-1], "wb") as fh:
                    fh.write(bytes(8))
        poller = _Poller(bar, paths, settings.total) if progress else None

        def finished(c, _result):
            if poller is not None:
                poller.done.add(c)
                poller.refresh()

        if poller is not None:
            poller.start()
        try:
            tasks = [(sampler, c, rngs[c], settings, paths[c] if paths else None, os.getpid())
                     for c in range(n_chains)]
            return run_tasks(_chain_task, tasks, n_jobs=n_jobs, on_done=finished)
        finally:
            if poller is not None:
                poller.stop.set()
                poller.join()
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
