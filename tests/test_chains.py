"""Chain driver: checkpoints that cannot be confused, atomic writes, progress from workers,
and worker processes that die with their parent."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from bayesrec.data import synthetic_ratings
from bayesrec.data.splits import random_split
from bayesrec.factorization import BPMF
from bayesrec.inference import chains, checkpoint
from bayesrec.inference.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from bayesrec.parallel import check_n_jobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def split():
    r, _ = synthetic_ratings(100, 60, 2500, rank=2, noise=0.5, rng=0)
    return random_split(r, test_size=0.2, rng=1)


KW = dict(rank=2, n_samples=6, burn_in=2, thin=1, n_chains=2, alpha="sample",
          checkpoint_every=3, verbose=False)


def _ckpt(folder, chain=0):
    """The checkpoint file of a chain, whatever its format."""
    return next(Path(folder).glob(f"chain{chain}.*"))


# ---------------------------------------------------------------- the key refuses other runs
def test_other_seed_is_refused_not_reloaded(split, tmp_path):
    """Defect: a rerun with another seed returned the old run's numbers bit for bit."""
    tr, te = split
    BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    with pytest.raises(CheckpointError, match=r"chain0\.npz.*seed"):
        BPMF(random_state=2, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    # the same settings do reload, and equal a fresh run without checkpoints
    a = BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    b = BPMF(random_state=1, **KW).fit(tr, eval_set=te)
    np.testing.assert_array_equal(a.traces_["alpha"], b.traces_["alpha"])


def test_other_n_tracked_is_refused(split, tmp_path):
    """Defect: another n_tracked failed with a numpy broadcasting error."""
    tr, te = split
    BPMF(random_state=1, n_tracked=5, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    with pytest.raises(CheckpointError, match="tracked_cells"):
        BPMF(random_state=1, n_tracked=7, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)


@pytest.mark.parametrize("change, field", [
    (dict(beta0=3.0), "beta0"), (dict(init_scale=0.3), "init_scale"),
    (dict(alpha=2.0), "sampler.alpha"), (dict(biases=False), "sampler.biases"),
    (dict(n_samples=7), "n_samples"), (dict(thin=2), "thin"),
    (dict(W0=2 * np.eye(2)), "W0"),
])
def test_every_setting_is_in_the_key(split, tmp_path, change, field):
    tr, te = split
    BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    with pytest.raises(CheckpointError, match=field):
        BPMF(random_state=1, checkpoint_dir=tmp_path, **(KW | change)).fit(tr, eval_set=te)


def test_other_data_and_version_are_refused(split, tmp_path, monkeypatch):
    tr, te = split
    BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    other = tr.take(np.arange(len(tr) - 1))
    with pytest.raises(CheckpointError, match="sampler.data"):
        BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(other, eval_set=te)
    with pytest.raises(CheckpointError, match="evaluation_set"):
        BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te.take(np.arange(9)))
    import bayesrec
    monkeypatch.setattr(bayesrec, "__version__", "999.0")
    with pytest.raises(CheckpointError, match="bayesrec_version"):
        BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)


# ---------------------------------------------------------------- unreadable files
def test_truncated_checkpoint_names_the_file(split, tmp_path):
    """Defect: a truncated file raised a bare UnpicklingError / EOFError."""
    tr, te = split
    BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)
    path = _ckpt(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, 30, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=str(path.name)):
            BPMF(random_state=1, checkpoint_dir=tmp_path, **KW).fit(tr, eval_set=te)


def test_foreign_files_are_refused(tmp_path):
    path = tmp_path / "chain0.npz"
    np.savez(path, x=np.arange(3))                      # an npz, but not ours
    with pytest.raises(CheckpointError, match="chain0.npz.*not a bayesrec"):
        read_checkpoint(path)
    import pickle  # an old pickle checkpoint
    path.write_bytes(pickle.dumps({"key": 1}))
    with pytest.raises(CheckpointError, match="chain0.npz"):
        read_checkpoint(path)
    # a header naming a class outside bayesrec is never imported / instantiated
    meta = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "key": {},
            "tree": {"@o": "subprocess:Popen", "f": {"args": "true"}}}
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(CheckpointError, match="refusing"):
        read_checkpoint(path)
    meta["version"] = 99
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with pytest.raises(CheckpointError, match="version"):
        read_checkpoint(path)


@dataclasses.dataclass
class _Point:  # a test-module class: refused like any class outside bayesrec
    x: float


def test_payload_round_trip_is_exact(tmp_path):
    from bayesrec.factorization.bpmf._sweep import State
    rng = np.random.default_rng(5)
    rng.standard_normal(3)
    st = State(xu=rng.random((4, 3)), xv=rng.random((2, 3)), alpha=np.float64(1.5),
               mu_u=np.zeros(2), lam_u=np.eye(2), mu_v=np.ones(2), lam_v=np.eye(2),
               tau_b=float("nan"), tau_c=float("inf"), sse=0.1 + 0.2, n_jitter=3)
    payload = {"state": st, "sweep": 7, "rng": rng.bit_generator.state,
               "bank": [(np.arange(3), np.float32(2.5))], "none": None, "flag": np.bool_(True)}
    write_checkpoint(tmp_path / "c.npz", {"a": "1"}, payload)
    key, back = read_checkpoint(tmp_path / "c.npz")
    assert key == {"a": "1"}
    assert isinstance(back["state"], State) and back["state"].sse == 0.1 + 0.2
    for f in dataclasses.fields(State):
        np.testing.assert_array_equal(getattr(back["state"], f.name), getattr(st, f.name))
    assert type(back["state"].alpha) is np.float64
    assert back["rng"] == rng.bit_generator.state      # 128-bit integers survive JSON
    assert isinstance(back["bank"][0], tuple) and back["bank"][0][1].dtype == np.float32
    assert back["none"] is None and back["flag"] == np.True_
    g = np.random.default_rng()
    g.bit_generator.state = back["rng"]
    np.testing.assert_array_equal(g.random(4), rng.random(4))
    with pytest.raises(TypeError, match="_Point"):
        write_checkpoint(tmp_path / "d.npz", {}, {"p": _Point(1.0)})


def test_write_is_atomic(tmp_path, monkeypatch):
    """A failure in the middle of a write leaves the previous checkpoint intact, no temp file."""
    path = tmp_path / "chain0.npz"
    write_checkpoint(path, {"k": "v"}, {"sweep": 1, "x": np.arange(1000.0)})
    before = path.read_bytes()

    def torn(fh, **entries):               # writes half an archive, then the process "dies"
        fh.write(b"PK\x03\x04" + bytes(100))
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.np, "savez", torn)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(path, {"k": "v"}, {"sweep": 2, "x": np.arange(1000.0)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain0.npz"]
    monkeypatch.undo()
    assert read_checkpoint(path)[1]["sweep"] == 1


# ---------------------------------------------------------------- n_jobs and progress
@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_n_jobs(bad):
    with pytest.raises(ValueError, match="n_jobs"):
        check_n_jobs(bad)


def test_worker_progress_reaches_the_bar(split, monkeypatch):
    """With loky workers the bar is fed from the chains' count files and ends at the total."""
    tr, te = split
    seen = []

    class Bar:
        def update(self, advance=1, **fields):
            seen.append(advance)

    @contextmanager
    def fake_bar(total, description, enabled=True):
        seen.append(("total", total))
        yield Bar()

    monkeypatch.setattr(chains, "progress_bar", fake_bar)
    kw = KW | dict(verbose=True, n_samples=40, burn_in=10)
    m = BPMF(random_state=4, n_jobs=2, **kw).fit(tr, eval_set=te)
    assert seen[0] == ("total", 2 * 50)
    assert sum(seen[1:]) == 100 and all(a > 0 for a in seen[1:])
    ref = BPMF(random_state=4, **(kw | dict(verbose=False))).fit(tr, eval_set=te)
    np.testing.assert_array_equal(m.traces_["test_rmse"], ref.traces_["test_rmse"])


# ---------------------------------------------------------------- orphaned workers
PARENT = textwrap.dedent("""
    import sys
    from bayesrec.data import synthetic_ratings
    from bayesrec.factorization import BPMF
    r, _ = synthetic_ratings(200, 100, 6000, rank=2, noise=0.5, rng=0)
    BPMF(rank=2, n_samples=10**7, burn_in=0, n_chains=2, n_jobs=2, verbose=False,
         checkpoint_dir=sys.argv[1], checkpoint_every=1, random_state=0).fit(r)
""")


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """SIGKILL the parent of an n_jobs=2 BPMF run: every worker process is gone within 30 s
    and no checkpoint file changes afterwards."""
    psutil = pytest.importorskip("psutil")
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    ck = tmp_path / "ck"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script), str(ck)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not ((ck / "chain0.npz").exists() and (ck / "chain1.npz").exists()):
            assert proc.poll() is None, "the parent script failed"
            assert time.monotonic() < deadline, "the chains never started"
            time.sleep(0.2)
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, f"still running after 30 s: {[p.pid for p in alive]}"
        stamp = [(ck / f"chain{c}.npz").stat().st_mtime_ns for c in (0, 1)]
        time.sleep(0.5)
        assert stamp == [(ck / f"chain{c}.npz").stat().st_mtime_ns for c in (0, 1)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in workers:
            if p.is_running():
                p.kill()
