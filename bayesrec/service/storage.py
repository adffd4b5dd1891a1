"""Durable Beta posteriors: SQLite (one file, the default) or PostgreSQL (several machines).

Every reward batch is one database transaction::

    INSERT INTO events ... ON CONFLICT DO NOTHING RETURNING event_id    -- which ids are new
    UPDATE arms SET a = a + ?, b = b + ?, pulls = pulls + ? WHERE id = ?  -- their counts
    COMMIT                                                               -- then acknowledge

so an event id is counted at most once whatever the retries, the counts move atomically with
the event log, and nothing is acknowledged before it is committed.  The increments are the
Beta-Bernoulli sufficient statistics of the new events
(:func:`bayesrec.inference.beta.bernoulli_counts`): the database applies
:func:`~bayesrec.inference.beta.beta_update` in place, so concurrent writers cannot lose an
update.

Within a process, reward batches that arrive while a commit is in progress are committed
together by one thread (group commit: one disk flush for many batches; a batch rejected for a
conflicting event id is taken out and the rest redone); each caller still returns only after
the commit that holds its events.

SQLite runs in WAL mode (readers never block the writer) with ``synchronous=FULL`` (a commit
is on disk when it returns) and a busy timeout; writers of all processes on one file queue on
an advisory file lock beside it, so they wake in turn instead of polling the busy handler.
PostgreSQL is reached through psycopg 3 with a ``postgresql://`` URL; batches insert their
events in id order and update arms in id order (no deadlock cycles), and a transaction that
PostgreSQL aborts for a deadlock or serialization failure is retried.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import numpy as np

from ..inference.beta import bernoulli_counts, check_beta_parameters
from . import schema
from .errors import (
    BadRequest,
    EventConflict,
    ExperimentExists,
    ServiceError,
    UnknownArm,
    UnknownExperiment,
)

MAX_NAME_LENGTH = 200
MAX_ARMS = 10_000
MAX_EVENTS = 1_000


@dataclass(frozen=True)
class ArmsState:
    """The stored posterior of one experiment's arms, in creation order."""

    experiment: str
    names: tuple[str, ...]
    prior_a: np.ndarray
    prior_b: np.ndarray
    a: np.ndarray
    b: np.ndarray
    pulls: np.ndarray


@dataclass(frozen=True)
class RewardResult:
    """Event ids of a batch that were counted now (``new``) or had been before (``duplicates``)."""

    new: list[str]
    duplicates: list[str]


class _Rejected(ServiceError):
    """Internal: batch ``index`` of a group was rejected with ``error`` (rolls the group back)."""

    def __init__(self, index: int, error: ServiceError):
        super().__init__(str(error))
        self.index = index
        self.error = error


@dataclass(frozen=True)
class _RewardJob:
    exp: _Experiment
    ids: list
    first: dict
    pos: np.ndarray
    rew: np.ndarray


class _GroupCommitter:
    """One thread per store that commits the reward batches queued meanwhile together.

    A commit costs a disk flush; batches that arrive while one is in progress share the next.
    Each caller waits on its future, so nothing is acknowledged before its commit.
    """

    def __init__(self, commit_group, max_jobs: int = 128):
        self._commit_group = commit_group
        self._max_jobs = max_jobs
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = None
        self._lock = threading.Lock()

    def submit(self, job) -> Future:
        fut: Future = Future()
        self._queue.put((job, fut))
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, daemon=True,
                                                    name="bayesrec-group-commit")
                    self._thread.start()
        return fut

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < self._max_jobs:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
            try:
                results = self._commit_group([job for job, _ in group])
            except BaseException as err:  # noqa: BLE001 - handed to every waiting caller
                for _, fut in group:
                    fut.set_exception(err)
                continue
            for (_, fut), res in zip(group, results):
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)


@dataclass(frozen=True)
class _Experiment:
    id: int
    names: tuple[str, ...]
    arm_ids: np.ndarray
    index: dict


def check_name(kind: str, name) -> str:
    """A non-empty string of at most ``MAX_NAME_LENGTH`` characters without control characters."""
    if not isinstance(name, str):
        raise BadRequest(f"{kind} must be a string, got {type(name).__name__}")
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise BadRequest(f"{kind} must be 1 to {MAX_NAME_LENGTH} printable characters, "
                         f"got {name[:MAX_NAME_LENGTH]!r}")
    return name


def parse_url(url: str) -> tuple[str, str]:
    """``(dialect, target)``: ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` -> a file
    path; ``postgresql://...`` (or ``postgres://``, ``postgresql+psycopg://``) -> a libpq URI."""
    if not isinstance(url, str):
        raise TypeError(f"database URL must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise ValueError(f"a SQLite URL is sqlite:///relative/path.db or "
                             f"sqlite:////absolute/path.db, got {url!r}")
        path = unquote(parts.path[1:])
        if path == ":memory:":
            raise ValueError("an in-memory SQLite database cannot be shared by processes; "
                             "give a file")
        return "sqlite", path
    if scheme in ("postgresql", "postgres"):
        return "postgresql", "postgresql" + url[len(parts.scheme):]
    raise ValueError(f"database URL must start with sqlite:/// or postgresql://, got {url!r}")


class _Pool:
    """A fixed number of connections handed to one thread at a time."""

    def __init__(self, factory, size: int):
        self._factory = factory
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self):
        self._slots.acquire()
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._factory()
                with self._lock:
                    self._all.append(conn)
            yield conn
        except BaseException as err:
            # a connection that failed mid-use may be broken: drop it, a new one replaces it
            if conn is not None and not isinstance(err, ServiceError):
                self._discard(conn)
                conn = None
            raise
        finally:
            if conn is not None:
                self._idle.put(conn)
            self._slots.release()

    def _discard(self, conn) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(Exception):
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


class Store:
    """Experiments and their arms' Beta posteriors in a database; safe across threads and
    processes.  Open with :func:`open_store` (or ``Store.open``).

    Parameters
    ----------
    url : str
        ``sqlite:///bandit.db`` (relative path), ``sqlite:////var/lib/bandit.db`` (absolute)
        or ``postgresql://user:password@host:5432/dbname``.
    pool_size : int
        Connections this process may hold at once.
    migrate : bool
        Bring the schema up to date on open (idempotent, serialized across processes).
    """

    dialect = "?"

    @staticmethod
    def open(url: str, pool_size: int = 8, migrate: bool = True) -> Store:
        dialect, target = parse_url(url)
        cls = SQLiteStore if dialect == "sqlite" else PostgresStore
        return cls(target, pool_size=pool_size, migrate=migrate)

    def __init__(self, target: str, pool_size: int = 8, migrate: bool = True):
        self.target = target
        self.pool_size = int(pool_size)
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        self._pool = _Pool(self._connect, self.pool_size)
        self._experiments: dict[str, _Experiment] = {}
        self._committer = _GroupCommitter(self._commit_group)
        if migrate:
            self.migrate()

    # -- dialect hooks
    def _connect(self):
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    @contextlib.contextmanager
    def _transaction(self, conn):
        raise NotImplementedError

    def _lock_migrations(self, conn) -> None:
        pass

    def _is_unique_violation(self, err: Exception) -> bool:
        raise NotImplementedError

    def _retryable(self, err: Exception) -> bool:
        return False

    # -- helpers
    def _run(self, conn, sql: str, params=()):
        return conn.execute(self._sql(sql), params)

    def _run_many(self, conn, sql: str, rows) -> None:
        if isinstance(conn, sqlite3.Connection):
            conn.executemany(sql, rows)
        else:
            with conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def _write(self, fn, *args):
        """``fn(conn, *args)`` inside one write transaction, retried if the database asks."""
        for attempt in range(8):
            with self._pool.connection() as conn:
                try:
                    with self._transaction(conn):
                        return fn(conn, *args)
                except Exception as err:  # noqa: BLE001 - re-raised unless retryable
                    if attempt < 7 and self._retryable(err):
                        continue
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Finish queued reward batches, then close every pooled connection."""
        self._committer.close()
        self._pool.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"

    # -- schema
    def migrate(self) -> int:
        """Apply the migrations this database lacks; returns the schema version reached."""
        def apply(conn):
            self._lock_migrations(conn)
            self._run(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._run(conn, "SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > schema.SCHEMA_VERSION:
                raise RuntimeError(f"database schema version {current} is newer than this "
                                   f"code's ({schema.SCHEMA_VERSION}): upgrade bayesrec")
            for version in range(current + 1, schema.SCHEMA_VERSION + 1):
                for statement in schema.statements(version, self.dialect):
                    self._run(conn, statement)
                self._run(conn, "INSERT INTO schema_version (version) VALUES (?)", (version,))
            return schema.SCHEMA_VERSION
        return self._write(apply)

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            return self._run(conn, "SELECT MAX(version) FROM schema_version").fetchone()[0] or 0

    def ping(self) -> bool:
        """``True`` if the database answers a query."""
        with self._pool.connection() as conn:
            return self._run(conn, "SELECT 1").fetchone()[0] == 1

    # -- experiments
    def create_experiment(self, name: str, arms, prior_a=1.0, prior_b=1.0) -> ArmsState:
        """Create experiment ``name`` with arm names ``arms`` and prior ``Beta(prior_a,
        prior_b)`` (scalars or one value per arm).  ``ExperimentExists`` if the name is taken."""
        name = check_name("experiment name", name)
        if "/" in name:
            raise BadRequest(f"experiment name must not contain '/' (it is a URL path segment), "
                             f"got {name!r}")
        if not isinstance(arms, (list, tuple)) or not arms:
            raise BadRequest("arms must be a non-empty list of arm names")
        if len(arms) > MAX_ARMS:
            raise BadRequest(f"at most {MAX_ARMS} arms, got {len(arms)}", status=413)
        names = tuple(check_name("arm name", a) for a in arms)
        seen: set[str] = set()
        dups = [a for a in names if a in seen or seen.add(a)]
        if dups:
            raise BadRequest(f"duplicate arm names: {sorted(set(dups))}")
        try:
            pa, pb = check_beta_parameters(prior_a, prior_b)
            pa, pb = (np.broadcast_to(v, (len(names),)).astype(np.float64) for v in (pa, pb))
        except ValueError as err:
            raise BadRequest(f"prior: {err}") from None

        def insert(conn):
            if self._run(conn, "SELECT id FROM experiments WHERE name = ?", (name,)).fetchone():
                raise ExperimentExists(f"experiment {name!r} already exists")
            exp_id = self._run(conn, "INSERT INTO experiments (name) VALUES (?) RETURNING id",
                               (name,)).fetchone()[0]
            self._run_many(conn, "INSERT INTO arms (experiment_id, position, name, prior_a, "
                                 "prior_b, a, b) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [(exp_id, j, n, float(pa[j]), float(pb[j]), float(pa[j]),
                             float(pb[j])) for j, n in enumerate(names)])
        try:
            self._write(insert)
        except Exception as err:
            if self._is_unique_violation(err):
                raise ExperimentExists(f"experiment {name!r} already exists") from None
            raise
        return self.state(name)

    def experiments(self) -> list[str]:
        """Names of all experiments, in creation order."""
        with self._pool.connection() as conn:
            return [r[0] for r in self._run(conn, "SELECT name FROM experiments ORDER BY id")]

    def _experiment(self, name) -> _Experiment:
        # arms never change after creation: cache the id maps per process
        exp = self._experiments.get(name) if isinstance(name, str) else None
        if exp is not None:
            return exp
        name = check_name("experiment name", name)
        with self._pool.connection() as conn:
            row = self._run(conn, "SELECT id FROM experiments WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise UnknownExperiment(f"unknown experiment {name!r}")
            arms = self._run(conn, "SELECT id, name FROM arms WHERE experiment_id = ? "
                                   "ORDER BY position", (row[0],)).fetchall()
        names = tuple(r[1] for r in arms)
        exp = _Experiment(id=int(row[0]), names=names,
                          arm_ids=np.array([r[0] for r in arms], dtype=np.int64),
                          index={n: j for j, n in enumerate(names)})
        self._experiments[name] = exp
        return exp

    def state(self, name: str) -> ArmsState:
        """The current posterior of every arm of experiment ``name`` (one consistent read)."""
        exp = self._experiment(name)
        with self._pool.connection() as conn:
            rows = self._run(conn, "SELECT prior_a, prior_b, a, b, pulls FROM arms "
                                   "WHERE experiment_id = ? ORDER BY position",
                             (exp.id,)).fetchall()
        cols = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
        return ArmsState(experiment=name, names=exp.names, prior_a=cols[:, 0],
                         prior_b=cols[:, 1], a=cols[:, 2], b=cols[:, 3],
                         pulls=cols[:, 4].astype(np.int64))

    # -- rewards
    def record_rewards(self, name: str, events) -> RewardResult:
        """Count each ``(event_id, arm, reward)`` whose event id this experiment has not seen.

        Ids repeated within the batch, or recorded before, with the same arm and reward are
        reported as duplicates; with a different arm or reward they are an
        :class:`EventConflict` and nothing of the batch is recorded.  Returns once committed.
        """
        return self.submit_rewards(name, events).result()

    def is_cached(self, name) -> bool:
        """Whether ``name``'s arms are known to this process (then validation reads nothing)."""
        return isinstance(name, str) and name in self._experiments

    def submit_rewards(self, name: str, events) -> Future:
        """Validate the batch now (bad input raises at once), queue it for the next group
        commit, and return a ``Future`` of its :class:`RewardResult`, resolved after the
        commit (see :meth:`record_rewards`)."""
        exp = self._experiment(name)
        events = list(events)
        if not events:
            raise BadRequest("events must not be empty")
        if len(events) > MAX_EVENTS:
            raise BadRequest(f"at most {MAX_EVENTS} events per batch, got {len(events)}",
                             status=413)
        first: dict[str, tuple[int, int]] = {}
        unknown = []
        for j, ev in enumerate(events):
            if not isinstance(ev, (tuple, list)) or len(ev) != 3:
                raise BadRequest(f"event {j} must be (event_id, arm, reward)")
            event_id, arm, reward = ev
            event_id = check_name(f"event {j}: event_id", event_id)
            if not isinstance(reward, (int, np.integer)) or isinstance(reward, bool) or (
                    reward not in (0, 1)):
                raise BadRequest(f"event {j} ({event_id!r}): reward must be 0 or 1, "
                                 f"got {reward!r}")
            pos = exp.index.get(arm) if isinstance(arm, str) else None
            if pos is None:
                unknown.append(arm)
                continue
            if event_id in first and first[event_id] != (pos, int(reward)):
                raise EventConflict(f"event_id {event_id!r} appears twice in the batch with "
                                    f"different arms or rewards")
            first.setdefault(event_id, (pos, int(reward)))
        if unknown:
            raise UnknownArm(f"unknown arm(s) {', '.join(sorted(set(map(repr, unknown))))} "
                             f"in experiment {name!r}")
        ids = sorted(first)              # one lock order for every writer
        job = _RewardJob(exp=exp, ids=ids, first=first,
                         pos=np.array([first[i][0] for i in ids], dtype=np.int64),
                         rew=np.array([first[i][1] for i in ids], dtype=np.int64))
        committed = self._committer.submit(job)
        answer: Future = Future()

        def resolve(done: Future) -> None:
            if answer.cancelled():          # the caller went away; the commit stands
                return
            err = done.exception()
            if err is not None:
                answer.set_exception(err)
                return
            inserted = set(done.result())
            new, duplicates = [], []
            for event_id, _, _ in events:   # request order; a repeated id is new only once
                if event_id in inserted:
                    new.append(event_id)
                    inserted.discard(event_id)
                else:
                    duplicates.append(event_id)
            with contextlib.suppress(InvalidStateError):    # cancelled meanwhile
                answer.set_result(RewardResult(new=new, duplicates=duplicates))
        committed.add_done_callback(resolve)
        return answer

    def _commit_group(self, jobs: list[_RewardJob]) -> list:
        """One transaction for a group of reward batches (group commit).  Returns per job the
        set of event ids inserted, or the :class:`ServiceError` that rejected it.

        Rejections are rare (a conflicting event id), so no savepoints are paid for: if a batch
        is rejected, the whole transaction rolls back and is redone without that batch."""
        rejected: dict[int, ServiceError] = {}
        while True:
            active = [j for j in range(len(jobs)) if j not in rejected]

            def run(conn):
                inserted = {}
                inc: dict[int, np.ndarray] = {}
                for j in active:  # noqa: B023 - run() is called in this iteration
                    try:
                        inserted[j], succ, fail = self._record_job(conn, jobs[j])
                    except ServiceError as err:
                        raise _Rejected(j, err) from None
                    for k in np.flatnonzero(succ + fail):
                        arm_id = int(jobs[j].exp.arm_ids[k])
                        inc.setdefault(arm_id, np.zeros(2, dtype=np.int64))
                        inc[arm_id] += (succ[k], fail[k])
                # the Beta update in place, arms in id order (one lock order for every writer)
                self._run_many(conn, "UPDATE arms SET a = a + ?, b = b + ?, pulls = pulls + ? "
                                     "WHERE id = ?",
                               [(int(s), int(f), int(s + f), arm_id)
                                for arm_id, (s, f) in sorted(inc.items())])
                return inserted

            if not active:
                return [rejected[j] for j in range(len(jobs))]
            try:
                inserted = self._write(run)
            except _Rejected as rej:
                rejected[rej.index] = rej.error
                continue
            return [rejected[j] if j in rejected else inserted[j] for j in range(len(jobs))]

    def _record_job(self, conn, job: _RewardJob):
        """Insert one batch's events; ``(inserted ids, successes, failures)`` of the new ones."""
        exp = job.exp
        values = ", ".join(["(?, ?, ?, ?)"] * len(job.ids))
        params = [x for i, p, r in zip(job.ids, job.pos.tolist(), job.rew.tolist())
                  for x in (exp.id, i, int(exp.arm_ids[p]), r)]
        rows = self._run(conn, f"INSERT INTO events (experiment_id, event_id, arm_id, reward) "
                               f"VALUES {values} ON CONFLICT (experiment_id, event_id) "
                               f"DO NOTHING RETURNING event_id", params).fetchall()
        inserted = {r[0] for r in rows}
        is_new = np.array([i in inserted for i in job.ids], dtype=bool)
        if not is_new.all():
            self._check_duplicates(conn, exp, [i for i, n in zip(job.ids, is_new) if not n],
                                   job.first)
        succ, fail = bernoulli_counts(job.pos[is_new], job.rew[is_new], len(exp.names))
        return inserted, succ, fail

    def _check_duplicates(self, conn, exp, dup_ids, first) -> None:
        marks = ", ".join(["?"] * len(dup_ids))
        rows = self._run(conn, f"SELECT event_id, arm_id, reward FROM events WHERE "
                               f"experiment_id = ? AND event_id IN ({marks})",
                         [exp.id, *dup_ids]).fetchall()
        arm_pos = {int(a): j for j, a in enumerate(exp.arm_ids)}
        for event_id, arm_id, reward in rows:
            if (arm_pos[int(arm_id)], int(reward)) != first[event_id]:
                raise EventConflict(f"event_id {event_id!r} was recorded before with arm "
                                    f"{exp.names[arm_pos[int(arm_id)]]!r} and reward "
                                    f"{int(reward)}; nothing of this batch was recorded")

    def event_counts(self, name: str) -> dict[str, np.ndarray]:
        """Per arm, the number of stored events and of 1-rewards among them (audit helper)."""
        exp = self._experiment(name)
        with self._pool.connection() as conn:
            rows = self._run(conn, "SELECT arm_id, COUNT(*), SUM(reward) FROM events "
                                   "WHERE experiment_id = ? GROUP BY arm_id",
                             (exp.id,)).fetchall()
        arm_pos = {int(a): j for j, a in enumerate(exp.arm_ids)}
        events = np.zeros(len(exp.names), dtype=np.int64)
        ones = np.zeros(len(exp.names), dtype=np.int64)
        for arm_id, n, s in rows:
            events[arm_pos[int(arm_id)]] = n
            ones[arm_pos[int(arm_id)]] = s
        return {"events": events, "successes": ones}

    def event_ids(self, name: str) -> set[str]:
        """Every event id recorded for experiment ``name``."""
        exp = self._experiment(name)
        with self._pool.connection() as conn:
            return {r[0] for r in self._run(conn, "SELECT event_id FROM events WHERE "
                                                  "experiment_id = ?", (exp.id,))}


class SQLiteStore(Store):
    """SQLite file in WAL mode, ``synchronous=FULL``, busy timeout; writers take a file lock."""

    dialect = "sqlite"
    busy_timeout_ms = 30_000

    def __init__(self, target: str, pool_size: int = 8, migrate: bool = True):
        self.lock_path = target + "-writer.lock"
        super().__init__(target, pool_size=pool_size, migrate=migrate)

    def _connect(self):
        conn = sqlite3.connect(self.target, timeout=self.busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            conn.close()
            raise RuntimeError(f"SQLite refused WAL mode for {self.target!r} (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _lock_fd(self) -> int:
        # one descriptor per thread: flock locks belong to an open file description
        local = self.__dict__.setdefault("_local", threading.local())
        fd = getattr(local, "fd", None)
        if fd is None:
            fd = local.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        return fd

    @contextlib.contextmanager
    def _transaction(self, conn):
        fd = self._lock_fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _is_unique_violation(self, err):
        return isinstance(err, sqlite3.IntegrityError) and "UNIQUE" in str(err)


class PostgresStore(Store):
    """PostgreSQL through psycopg 3 (autocommit connections, explicit transactions)."""

    dialect = "postgresql"
    _MIGRATION_LOCK = 0x6261_7965_7372_6563 >> 2   # any constant shared by all processes

    def __init__(self, target: str, pool_size: int = 8, migrate: bool = True):
        try:
            import psycopg
        except ImportError as err:  # pragma: no cover - depends on the installation
            raise ImportError("PostgreSQL needs psycopg 3: pip install 'bayesrec[serve]'") \
                from err
        self._psycopg = psycopg
        super().__init__(target, pool_size=pool_size, migrate=migrate)

    def _connect(self):
        return self._psycopg.connect(self.target, autocommit=True)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextlib.contextmanager
    def _transaction(self, conn):
        with conn.transaction():
            yield conn

    def _lock_migrations(self, conn) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._MIGRATION_LOCK,))

    def _is_unique_violation(self, err):
        return isinstance(err, self._psycopg.errors.UniqueViolation)

    def _retryable(self, err):
        errors = self._psycopg.errors
        return isinstance(err, (errors.DeadlockDetected, errors.SerializationFailure))


def open_store(url: str, pool_size: int = 8, migrate: bool = True) -> Store:
    """Open the store at ``url`` (see :class:`Store`)."""
    return Store.open(url, pool_size=pool_size, migrate=migrate)
