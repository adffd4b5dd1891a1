"""Chain driver for hand-written MCMC samplers: chains, burn-in, thinning, progress, checkpoints.

A sampler is any picklable object with

* ``init(rng) -> state``: a starting state;
* ``step(state, rng) -> state``: one sweep (all randomness from ``rng``);
* ``record(state) -> dict[str, ndarray]``: the per-draw trace values (small: scalars, a few
  predictions) kept for every retained draw;
* ``new_accumulator(n_draws) -> dict`` and ``accumulate(acc, state, draw)``: running sums and
  whatever else is kept without storing every state (e.g. posterior-mean predictions);
* ``fingerprint() -> str``: identifies data + settings, so a checkpoint is never resumed into
  a different run.

Chain ``c`` uses the ``c``-th stream of ``bayesrec.rng.spawn(random_state, n_chains)`` and
nothing else, so the draws are the same whether the chains run one after another
(``n_jobs=1``) or in worker processes (``n_jobs > 1``, a ``ProcessPoolExecutor``).

Checkpoints: with ``checkpoint_dir`` set, each chain pickles ``(state, generator state,
sweep, traces, accumulator)`` to ``chain<c>.pkl`` every ``checkpoint_every`` sweeps (written to
a temporary file and renamed, so a crash never leaves a torn file).  Running again with the
same directory resumes each chain from its file; because the generator's ``bit_generator``
state is restored, the result equals an uninterrupted run, and at most ``checkpoint_every``
sweeps are lost.  A finished chain's file is kept, so a repeated call just reloads it.
"""

from __future__ import annotations

import os
import pickle
import queue as queue_mod
from concurrent.futures import ProcessPoolExecutor, wait, FIRST_COMPLETED
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..progress import progress_bar
from ..rng import spawn


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


def _ckpt_path(settings: RunSettings, chain: int) -> Path | None:
    if settings.checkpoint_dir is None:
        return None
    return Path(settings.checkpoint_dir) / f"chain{chain}.pkl"


def _save(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def run_chain(sampler, chain: int, rng: np.random.Generator, settings: RunSettings,
              report=None) -> ChainResult:
    """Run (or resume) one chain; ``report(n)`` is called after every ``n`` sweeps."""
    path = _ckpt_path(settings, chain)
    key = (sampler.fingerprint(), chain, settings.n_samples, settings.burn_in, settings.thin)
    traces: dict = {}
    if path is not None and path.exists():
        with open(path, "rb") as fh:
            saved = pickle.load(fh)
        if saved["key"] != key:
            raise ValueError(f"checkpoint {path} belongs to a different run (other data, "
                             "settings or chain); use another checkpoint_dir or delete it")
        state, sweep, traces, acc = saved["state"], saved["sweep"], saved["traces"], saved["acc"]
        rng.bit_generator.state = saved["rng"]
        if report is not None and sweep:
            report(sweep)
    else:
        state = sampler.init(rng)
        sweep = 0
        acc = sampler.new_accumulator(settings.n_samples)
    since = 0
    while sweep < settings.total:
        state = sampler.step(state, rng)
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
            _save(path, {"key": key, "state": state, "sweep": sweep, "traces": traces,
                         "acc": acc, "rng": rng.bit_generator.state})
    return ChainResult(traces, acc, state, sweep)


def _worker(sampler, chain, rng, settings, q):
    return run_chain(sampler, chain, rng, settings,
                     report=None if q is None else (lambda n: q.put(n)))


def run_chains(sampler, n_chains: int, settings: RunSettings, random_state=None,
               n_jobs: int = 1, progress: bool = True,
               description: str = "MCMC") -> list[ChainResult]:
    """Run ``n_chains`` chains of ``sampler``; returns one :class:`ChainResult` per chain."""
    rngs = spawn(random_state, n_chains)
    if settings.checkpoint_dir is not None:
        Path(settings.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    total = settings.total * n_chains
    with progress_bar(total, description, enabled=progress) as bar:
        if n_jobs == 1 or n_chains == 1:
            return [run_chain(sampler, c, rngs[c], settings, report=bar.update)
                    for c in range(n_chains)]
        import multiprocessing as mp
        ctx = mp.get_context("spawn")  # no fork: numba / BLAS threads are not fork-safe
        with ctx.Manager() as manager:
            q = manager.Queue() if progress else None
            with ProcessPoolExecutor(max_workers=min(n_jobs, n_chains), mp_context=ctx) as ex:
                futures = [ex.submit(_worker, sampler, c, rngs[c], settings, q)
                           for c in range(n_chains)]
                pending = set(futures)
                while pending:
                    _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    while q is not None:
                        try:
                            bar.update(q.get_nowait())
                        except queue_mod.Empty:
                            break
                return [f.result() for f in futures]
