"""One small database interface over SQLite (the embedded default) and PostgreSQL.

Services write SQL once, with ``?`` placeholders, in the dialect both engines
share (``INSERT ... ON CONFLICT``, ``RETURNING``); this module translates the
placeholders for psycopg and hands out one transaction per unit of work.
Rows come back as dicts. Unique and foreign-key violations surface as
:class:`IntegrityError` whichever engine raised them.

SQLite runs in WAL mode, writers serialised by ``BEGIN IMMEDIATE`` so concurrent
requests wait instead of failing; each thread keeps one connection from one
transaction to the next (:class:`_SqliteConnections`). PostgreSQL uses a psycopg
connection pool, opened lazily so each gunicorn worker gets its own after the fork.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
import psycopg.rows
import psycopg_pool

from ..errors import Unavailable
from .private import private_sqlite_file

log = logging.getLogger(__name__)

UNAVAILABLE = "the database is unavailable: try again shortly; the server's log says why"
POOL_WAIT = 10.0
"""Seconds a transaction waits for a pooled PostgreSQL connection before the request answers 503."""
RECONNECT_WINDOW = 2.0
"""Seconds one round of the pool's connection tries lasts (tries about 1 s apart) before it gives up.

psycopg_pool doubles the wait between tries for as long as a round lasts (5 minutes by default), so
after an outage a worker could wait about as long again before its next try, answering 503 meanwhile
although the database was back, and fileservers beating into that worker dropped out of the live list
(10 s and more after a 20 s PostgreSQL restart, in two workers out of step). With short rounds, the next
request, or one still waiting (:func:`_retry_while_awaited`), starts a new round with a try at once.
"""


def _retry_while_awaited(pool: psycopg_pool.ConnectionPool[Any]) -> None:
    """Start a new round of connection tries at once if a request is waiting for a connection.

    The pool calls this when a round of tries ended in failure (after :data:`RECONNECT_WINDOW`).
    A new request would start the next round itself; one already waiting would not, and would wait
    out its whole timeout even if the database came back meanwhile.
    """
    if pool.get_stats().get("requests_waiting", 0):
        pool.check()  # with no idle connection to check, this only lets the pool grow: a new round


def _unavailable(exc: Exception) -> Unavailable:
    """Log why the database failed and return the error clients see, which names no host, port or user.

    SECURITY: the driver's text (addresses, user names, paths) is for the operator's log only.
    """
    log.warning("database unavailable", extra={"kv": {"error": type(exc).__name__, "reason": str(exc)}})
    return Unavailable(UNAVAILABLE)


Params = Sequence[Any] | Mapping[str, Any]
Row = dict[str, Any]


class IntegrityError(Exception):
    """A unique, primary-key or foreign-key constraint refused the write."""


class Tx(Protocol):
    dialect: Literal["sqlite", "postgresql"]
    outbox: bool
    """Whether changes write their events to the outbox in this transaction (the server's events are on)."""

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it touched."""

    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...


class _SqliteTx:
    dialect: Literal["sqlite", "postgresql"] = "sqlite"

    def __init__(self, conn: sqlite3.Connection, outbox: bool = False):
        self._conn = conn
        self.outbox = outbox

    def _run(self, sql: str, params: Params) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._run(sql, params).rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        row = self._run(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return [dict(row) for row in self._run(sql, params).fetchall()]


class _PostgresTx:
    dialect: Literal["sqlite", "postgresql"] = "postgresql"

    def __init__(self, conn: psycopg.Connection[Row], outbox: bool = False):
        self._conn = conn
        self.outbox = outbox

    def _run(self, sql: str, params: Params) -> psycopg.Cursor[Row]:
        try:
            return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._run(sql, params).rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        return self._run(sql, params).fetchone()

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self._run(sql, params).fetchall()


def connect_sqlite(path: Path) -> sqlite3.Connection:
    """Open a connection to the SQLite database at *path* as every one of the server's is opened.

    Autocommit at the driver (the transactions are ours: BEGIN, COMMIT, ROLLBACK), rows by column
    name, the WAL journal with synchronous NORMAL (readers never wait for the writer; a power cut
    may lose the last commits but never corrupts the file), and foreign keys enforced. The rate
    limiter's own connection (ratelimit/stores.py) is opened here too, so the two never differ.
    """
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


class _SqliteConnections:
    """One SQLite connection per thread, kept from one transaction to the next.

    Opening a connection, setting its pragmas and reading the schema again at its first
    statement cost 0.4-0.6 ms, paid by every transaction when each had a connection of
    its own: three or four per request (the session, the record, the tickets), and some
    40% of a file create's server CPU on SQLite (docs/performance.md). A connection is only ever used by the thread that
    made it, and only in the process that made it: a gunicorn worker forked from a process
    that had one makes its own. One that failed in the middle of a transaction is closed
    and forgotten, never reused in an unknown state. A transaction begun while the thread's
    own is still open (nested) gets a connection of its own, closed when it ends, as every
    transaction had before.
    """

    def __init__(self, path: Path):
        self._path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[tuple[int, sqlite3.Connection]] = []
        """Every connection kept, with the process that made it: a forked process never closes its parent's."""

    def get(self) -> tuple[sqlite3.Connection, bool]:
        """Return this thread's connection, or a new one for a nested transaction; and whether it is kept."""
        kept: tuple[int, sqlite3.Connection] | None = getattr(self._local, "kept", None)
        if kept is not None and kept[0] == os.getpid():
            if not kept[1].in_transaction:
                return kept[1], True
            return connect_sqlite(self._path), False
        conn = connect_sqlite(self._path)
        self._local.kept = (os.getpid(), conn)
        with self._lock:
            self._open.append((os.getpid(), conn))
        return conn, True

    def forget(self, conn: sqlite3.Connection) -> None:
        """Close *conn* after a failure; if it is this thread's, the next transaction opens a new one."""
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept[1] is conn:
            self._local.kept = None
        with self._lock:
            self._open = [(pid, c) for pid, c in self._open if c is not conn]
        conn.close()

    def close(self) -> None:
        """Close every connection this process made; a thread that transacts again opens a new one."""
        here = os.getpid()
        with self._lock:
            mine = [conn for pid, conn in self._open if pid == here]
            self._open = [(pid, conn) for pid, conn in self._open if pid != here]
        for conn in mine:
            conn.close()  # sqlite3 closes from any thread a connection made with check_same_thread=False
        self._local = threading.local()


class Database:
    """A handle on the server's database; cheap to create, safe to share between threads."""

    def __init__(self, url: str, *, pool_size: int = 8, outbox: bool = False):
        self.url = url
        self.pool_size = pool_size
        self.outbox = outbox
        """Whether this server's events are on: its transactions then write change events to the outbox."""
        self.dialect: Literal["sqlite", "postgresql"]
        if url.startswith("sqlite:///"):
            self.dialect = "sqlite"
            self._path = Path(url.removeprefix("sqlite:///"))
            self._connections = _SqliteConnections(self._path)
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
        else:
            raise ValueError(f"unsupported database URL {url!r}")
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Row]] | None = None
        self._lock = threading.Lock()
        self._private = False

    @contextmanager
    def transaction(self, *, readonly: bool = False, wait: float | None = None) -> Iterator[Tx]:
        """Yield a transaction that commits when the block ends and rolls back if it raises.

        A *readonly* one does not take SQLite's write lock, so reads never queue behind writers.
        *wait* bounds, in seconds, how long it waits for one of PostgreSQL's pooled connections
        (default: the pool's :data:`POOL_WAIT`), for callers that would rather go on without the
        database than hold their request for that long.
        """
        if self.dialect == "sqlite":
            with self._sqlite_transaction(readonly) as tx:
                yield tx
        else:
            with self._postgres_transaction(wait) as tx:
                yield tx

    @contextmanager
    def _sqlite_transaction(self, readonly: bool) -> Iterator[Tx]:
        if not self._private:
            private_sqlite_file(self._path)
            self._private = True
        try:
            conn, kept = self._connections.get()
        except sqlite3.OperationalError as exc:
            raise _unavailable(exc) from exc
        try:
            with self._sqlite_transaction_on(conn, readonly) as tx:
                yield tx
        finally:
            if not kept:
                conn.close()

    @contextmanager
    def _sqlite_transaction_on(self, conn: sqlite3.Connection, readonly: bool) -> Iterator[Tx]:
        """Run one transaction on *conn*; a connection left in a state not known to be clean is forgotten."""
        try:
            conn.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
        except BaseException as exc:
            self._connections.forget(conn)
            if isinstance(exc, sqlite3.OperationalError):
                raise _unavailable(exc) from exc
            raise
        try:
            yield _SqliteTx(conn, self.outbox)
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
                rolled_back = True
            except sqlite3.Error:
                rolled_back = False
            # After an I/O error or a lock that timed out, or a failed ROLLBACK, the next one starts afresh.
            if isinstance(exc, sqlite3.OperationalError) or not rolled_back:
                self._connections.forget(conn)
            if isinstance(exc, sqlite3.OperationalError):
                raise _unavailable(exc) from exc
            raise
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            self._connections.forget(conn)  # the transaction may still be open: never reuse it
            if isinstance(exc, sqlite3.OperationalError):
                raise _unavailable(exc) from exc
            raise

    def _get_pool(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Row]]:
        with self._lock:
            if self._pool is None:
                self._pool = psycopg_pool.ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    kwargs={"row_factory": psycopg.rows.dict_row},
                    connection_class=psycopg.Connection[Row],
                    open=True,
                    timeout=POOL_WAIT,
                    # One round trip per checkout: a connection the database dropped (a restart, a failover)
                    # is replaced at once instead of failing the request it was handed to with a 503.
                    check=psycopg_pool.ConnectionPool.check_connection,
                    reconnect_timeout=RECONNECT_WINDOW,
                    reconnect_failed=_retry_while_awaited,
                )
            return self._pool

    @contextmanager
    def _postgres_transaction(self, wait: float | None) -> Iterator[Tx]:
        try:
            with self._get_pool().connection(timeout=wait) as conn, conn.transaction():
                yield _PostgresTx(conn, self.outbox)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise _unavailable(exc) from exc

    def ping(self, timeout: float = 1.0) -> None:
        """Run one query, waiting at most about *timeout* seconds for a connection; raise Unavailable if none comes.

        The readiness probe's check: shorter than a request's wait for the pool, so a
        probe answers before the load balancer gives up on it.
        """
        if self.dialect == "sqlite":
            with self.transaction(readonly=True) as tx:
                tx.one("SELECT 1")
            return
        try:
            with self._get_pool().connection(timeout=timeout) as conn:
                conn.execute("SELECT 1")
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            raise _unavailable(exc) from exc

    def close(self) -> None:
        if self.dialect == "sqlite":
            self._connections.close()
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
