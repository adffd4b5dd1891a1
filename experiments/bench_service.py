"""Benchmark: the Thompson-sampling service under load, SQLite and PostgreSQL, against the
naive alternative (a pickled mabwiser model loaded, updated and saved per request).

Run: ``.venv/bin/python -m experiments.bench_service [--seconds 4] [--clients 1 8 32]
[--batch 1] [--workers 4] [--repeats 1] [--skip-postgres] [--skip-naive]``

Needs the ``serve`` extra and, for the naive peer, ``mabwiser`` (benchmark-only: the library
and the tests never import it); PostgreSQL 15's ``initdb``/``pg_ctl`` for the PostgreSQL rows
(a throw-away cluster on a loopback port; run as the ``postgres`` account when root).

Every server runs ``--workers`` uvicorn processes on loopback.  Clients are closed loops (send,
wait for the answer, send again), ``--clients`` of them at once, for ``--seconds`` after a
short warm-up; each reward request carries ``--batch`` new events (unique ids, random arm and
reward).  Acknowledgements are durable in every backend: SQLite commits with
``synchronous=FULL`` (WAL flushed before the answer), PostgreSQL with ``fsync=on``,
``synchronous_commit=on``; the naive peer writes the pickle to a temporary file, fsyncs it,
renames it over the old one and fsyncs the directory, all under an exclusive ``flock`` (its
``select`` reads the pickle under a shared lock).  The naive peer has no idempotency: a
retried reward counts twice.

The load generator is a minimal asyncio HTTP/1.1 client (keep-alive, one connection per
client) in this process, so that client overhead stays small next to the server's.  Printed
per row: acknowledged rewards/s (events, not requests), requests/s, p50 and p99 latency in
milliseconds, and the machine's load average before and after (other work on the machine
inflates latencies; compare rows measured in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pickle
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ARMS = ["a0", "a1", "a2", "a3", "a4"]


# ----------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc, path: str = "/health", timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          .encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


def start_service(db_url: str, workers: int):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bayesrec.service.cli", "serve", "--db",
                             db_url, "--workers", str(workers), "--port", str(port)],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            start_new_session=True)
    wait_healthy(port, proc)
    return proc, port


def start_naive(directory: Path, workers: int):
    from mabwiser.mab import MAB, LearningPolicy
    mab = MAB(arms=ARMS, learning_policy=LearningPolicy.ThompsonSampling(), seed=0)
    mab.fit(ARMS, [1, 0, 1, 0, 1])
    with open(directory / "model.pkl", "wb") as f:
        pickle.dump(mab, f)
    (directory / "model.lock").touch()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                             "experiments.bench_service:naive_app", "--workers", str(workers),
                             "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT),
                                               BENCH_NAIVE_DIR=str(directory)),
                            start_new_session=True)
    wait_healthy(port, proc)
    return proc, port


def stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Postgres:
    """A throw-away PostgreSQL 15 cluster (``initdb`` + ``pg_ctl``) on a loopback port."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres" if _has_user("postgres") else "nobody"
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, self.user)
        self.db_user = self.user or pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *cmd):
        cmd = [str(c) for c in cmd]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> str:
        data = self.dir / "data"
        self._run(PG_BIN / "initdb", "-D", data, "-A", "trust", "-U", self.db_user,
                  "--no-sync")
        self._run(PG_BIN / "pg_ctl", "-D", data, "-l", self.dir / "log", "-w", "start", "-o",
                  f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                  f"-c unix_socket_directories={self.dir} -c max_connections=200 "
                  f"-c fsync=on -c synchronous_commit=on")
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", self.db_user,
                  "bench")
        return f"postgresql://{self.db_user}@127.0.0.1:{self.port}/bench"

    def stop(self) -> None:
        try:
            self._run(PG_BIN / "pg_ctl", "-D", self.dir / "data", "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# ----------------------------------------------------------------------------- naive peer
def naive_app():
    """Starlette app of the naive peer: pickle in, update, pickle out, per request."""
    import anyio
    import mabwiser.mab  # noqa: F401 - imported at start-up, not inside the first request
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    directory = Path(os.environ["BENCH_NAIVE_DIR"])
    model, lock = directory / "model.pkl", directory / "model.lock"

    def load(mode):
        fd = os.open(lock, os.O_RDWR)
        fcntl.flock(fd, mode)
        with open(model, "rb") as f:
            return fd, pickle.load(f)

    def do_select():
        fd, mab = load(fcntl.LOCK_SH)
        try:
            return mab.predict()
        finally:
            os.close(fd)

    def do_rewards(events):
        fd, mab = load(fcntl.LOCK_EX)
        try:
            mab.partial_fit([e["arm"] for e in events], [e["reward"] for e in events])
            tmp = directory / f"model.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(mab, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, model)
            dfd = os.open(directory, os.O_RDONLY)
            os.fsync(dfd)
            os.close(dfd)
        finally:
            os.close(fd)

    async def health(request):
        return JSONResponse({"status": "ok"})

    async def select(request):
        await request.body()
        arm = await anyio.to_thread.run_sync(do_select)
        return JSONResponse({"arms": [arm]})

    async def rewards(request):
        events = json.loads(await request.body())["events"]
        await anyio.to_thread.run_sync(do_rewards, events)
        return JSONResponse({"new": [e["event_id"] for e in events], "duplicates": []})

    return Starlette(routes=[Route("/health", health),
                             Route("/experiments/{name}/select", select, methods=["POST"]),
                             Route("/experiments/{name}/rewards", rewards, methods=["POST"])])


# ----------------------------------------------------------------------------- load
async def _request(reader, writer, method: str, path: str, body: bytes) -> bytes:
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
                 f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    status = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    payload = await reader.readexactly(length)
    if not status.startswith(b"HTTP/1.1 2"):
        raise RuntimeError(f"{status!r} {payload[:200]!r}")
    return payload


async def _load(port: int, op: str, clients: int, seconds: float, batch: int, tag: str):
    latencies: list[float] = []
    events = 0
    start_measure = time.perf_counter() + min(0.5, seconds / 4)     # warm-up excluded
    stop_at = start_measure + seconds
    select_body = b'{"k": 1}'

    async def client(c: int):
        nonlocal events
        rng = np.random.default_rng(c)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        try:
            while True:
                now = time.perf_counter()
                if now > stop_at:
                    return
                if op == "select":
                    path, body = "/experiments/bench/select", select_body
                else:
                    arms = rng.integers(0, len(ARMS), batch)
                    rewards = rng.integers(0, 2, batch)
                    body = json.dumps({"events": [
                        {"event_id": f"{tag}-{c}-{i}-{j}", "arm": ARMS[arms[j]],
                         "reward": int(rewards[j])} for j in range(batch)]}).encode()
                    path = "/experiments/bench/rewards"
                i += 1
                await _request(reader, writer, "POST", path, body)
                done = time.perf_counter()
                if start_measure <= now and done <= stop_at:
                    latencies.append(done - now)
                    events += batch if op == "rewards" else 0
        finally:
            writer.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    lat = np.array(latencies) * 1e3
    if lat.size == 0:
        lat = np.array([np.nan])
    return {"requests_per_s": lat.size / seconds, "rewards_per_s": events / seconds,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "n": len(latencies)}


def create_experiment(port: int) -> None:
    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _request(reader, writer, "POST", "/experiments",
                       json.dumps({"name": "bench", "arms": ARMS}).encode())
        writer.close()
    asyncio.run(go())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass

    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    pg = None
    backends = [("sqlite", f"sqlite:///{tmp / 'bandit.db'}")]
    if not args.skip_postgres:
        if (PG_BIN / "initdb").exists():
            pg = Postgres()
            backends.append(("postgresql", pg.start()))
        else:
            print("PostgreSQL 15 not installed: skipping its rows")
    if not args.skip_naive:
        backends.append(("naive mabwiser pickle", None))
    rows = []
    try:
        for name, url in backends:
            if url is None:
                naive_dir = tmp / "naive"
                naive_dir.mkdir()
                proc, port = start_naive(naive_dir, args.workers)
            else:
                proc, port = start_service(url, args.workers)
                create_experiment(port)
            try:
                for rep in range(args.repeats):
                    for clients in args.clients:
                        for op in ("select", "rewards"):
                            res = asyncio.run(_load(port, op, clients, args.seconds,
                                                    args.batch, f"r{rep}c{clients}"))
                            row = {"backend": name, "op": op, "clients": clients,
                                   "repeat": rep, **res}
                            rows.append(row)
                            print(f"{name:22s} {op:8s} clients={clients:3d} "
                                  f"req/s={res['requests_per_s']:7.0f} "
                                  f"rewards/s={res['rewards_per_s']:7.0f} "
                                  f"p50={res['p50_ms']:7.2f} ms p99={res['p99_ms']:7.2f} ms",
                                  flush=True)
            finally:
                stop(proc)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    _summary(rows, args.batch)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


def _summary(rows, batch) -> None:
    """Medians over repeats, one markdown table."""
    print(f"\n| backend | op | clients | rewards/s | requests/s | p50 ms | p99 ms |  "
          f"(batch = {batch} event(s) per reward request)")
    print("|---|---|---:|---:|---:|---:|---:|")
    keys = sorted({(r["backend"], r["op"], r["clients"]) for r in rows},
                  key=lambda k: ([r["backend"] for r in rows].index(k[0]), k[1], k[2]))
    for key in keys:
        sel = [r for r in rows if (r["backend"], r["op"], r["clients"]) == key]
        med = {m: float(np.median([r[m] for r in sel])) for m in
               ("rewards_per_s", "requests_per_s", "p50_ms", "p99_ms")}
        print(f"| {key[0]} | {key[1]} | {key[2]} | {med['rewards_per_s']:.0f} | "
              f"{med['requests_per_s']:.0f} | {med['p50_ms']:.1f} | {med['p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
