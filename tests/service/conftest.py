"""Real components for the service tests: uvicorn servers, a PostgreSQL 15 cluster, Chromium.

Everything is started by the fixtures themselves on loopback, in temporary directories, and
stopped at the end.  A component is skipped only if its binary is absent (CI installs them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``bayesrec serve`` in its own process group (so SIGKILL reaches every worker)."""

    def __init__(self, db_url: str, workers: int = 4, seed: int | None = None, port=None):
        self.db_url = db_url
        self.workers = workers
        self.seed = seed
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout: float = 60.0) -> Server:
        cmd = [sys.executable, "-m", "bayesrec.service.cli", "serve", "--db", self.db_url,
               "--workers", str(self.workers), "--port", str(self.port)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()}")
                try:
                    # healthy once a worker accepts and its database answers
                    if client.get(self.url + "/health").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not become healthy in time")

    def kill(self, sig=signal.SIGKILL) -> None:
        """Signal the whole process group and wait until none of its processes runs.

        Waiting for the parent alone is not enough: a worker caught inside a database write
        when the signal arrives finishes that write before it dies, so the file could still
        change after the parent has been reaped."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
            _wait_group_gone(self.proc.pid, timeout=30)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Until no process of group ``pgid`` is alive (an exited zombie does not count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # the fields after the command's closing parenthesis: state, ppid, pgrp, ...
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue                       # the process went away while being read
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive = True
                break
        if not alive:
            return
        time.sleep(0.02)
    raise RuntimeError(f"process group {pgid} still running {timeout} s after the signal")


@pytest.fixture
def server_factory():
    servers: list[Server] = []

    def make(db_url, **kw) -> Server:
        srv = Server(db_url, **kw)
        servers.append(srv)
        return srv.start()

    yield make
    for srv in servers:
        srv.kill()


def _pg_user() -> str | None:
    """The non-root account to run PostgreSQL as (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.skip("running as root and no postgres/nobody account to run PostgreSQL as")


class Postgres:
    """A throw-away PostgreSQL 15 cluster: ``initdb`` + ``pg_ctl`` on a loopback port."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="bayesrec-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = _pg_user()
        self.db_user = self.user or pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *cmd):
        full = [str(c) for c in cmd]
        if self.user is not None:
            full = ["runuser", "-u", self.user, "--", *full]
        subprocess.run(full, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> Postgres:
        if self.user is not None:
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, self.user)
        self._run(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", self.db_user,
                  "--no-sync", "-E", "UTF8")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.dir} -c max_connections=200 "
                f"-c fsync=on -c synchronous_commit=on")
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-o", opts,
                  "-w", "-t", "60", "start")
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U",
                  self.db_user, "bandits")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://{self.db_user}@127.0.0.1:{self.port}/bandits"

    def stop(self) -> None:
        try:
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing; "
                    "apt-get install postgresql-15)")
    pg = Postgres().start()
    yield pg
    pg.stop()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'bandit.db'}"


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None
