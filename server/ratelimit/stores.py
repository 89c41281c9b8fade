"""Where rate-limit counters and login failures live: the database (default) or Redis.

Both stores keep the state every server instance must share, so a limit holds
behind a load balancer. The interface is small on purpose: a windowed counter
(one statement or one round trip per request) and an atomic read-modify-write of
a name's login failures (rare, so it may take a few). The arithmetic stays in
:mod:`server.ratelimit.policy`; a store only counts and keeps.

The database store writes ``rate_counters`` and ``login_failures`` (migration 3)
with SQL that SQLite and PostgreSQL both run, and deletes stale rows when asked
(:meth:`Store.prune`). The Redis store keys each window separately and lets
Redis expire what is stale.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis

from ..errors import Unavailable
from ..store.db import Database, Tx, _SqliteTx, connect_sqlite  # the package's own SQLite transaction and connection
from ..store.private import private_sqlite_file
from .policy import Failures

log = logging.getLogger(__name__)

T = TypeVar("T")
Change = Callable[[Failures | None], tuple[Failures | None, T]]
"""Given the stored failures (None: none), return what to store (None: delete) and a result."""

REDIS_TIMEOUT = 2.0
POOL_WAIT = 1.0
"""Seconds a limit check waits for one of PostgreSQL's pooled connections before it lets the request through.

A check that finds the store down lets the request through (:meth:`.Limiter.check`). With the pool's
own wait (10 s) a request during a database outage waited twice, once here and once in its handler,
before its 503, holding a server thread twice as long. With no more threads than pooled connections
(the defaults: 8 and 8), a check waits for one only while a background job holds it, far below a second.
"""
WATCH_RETRIES = 20


class StoreDown(Exception):
    """The store cannot be reached or did not answer in time."""


class Store(Protocol):
    def hit(self, key: str, window_start: float, ttl: float) -> int:
        """Count one event for *key* in the window that began at *window_start*; return the window's count.

        A newer window replaces an older one; *ttl* is how long the count must be kept.
        """

    def unhit(self, key: str, window_start: float, ttl: float) -> None:
        """Take one event back from *key*'s count, if its window is still the one that began at *window_start*."""

    def change(self, key: str, fn: Change[T], ttl: float) -> T:
        """Apply *fn* to *key*'s login failures atomically (no other instance changes them meanwhile)."""

    def forget(self, key: str) -> None:
        """Delete *key*'s login failures."""

    def prune(self, counters_before: float, failures_before: float, now: float) -> None:
        """Delete counters of windows that began before *counters_before*, and failures forgotten by then."""

    def close(self) -> None: ...


class DatabaseStore:
    """Counters and failures in the server's own database: shared by every instance that uses it.

    On PostgreSQL each call is a transaction from the server's pool. On SQLite the
    store keeps one connection of its own open per worker: opening a connection per
    call, as :class:`~server.db.Database` does, costs about a millisecond (the last
    connection to close checkpoints the WAL), too much to add to every request.
    """

    def __init__(self, db: Database):
        self.db = db
        self._sqlite = _PinnedSqlite(Path(db.url.removeprefix("sqlite:///"))) if db.dialect == "sqlite" else None

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        """Yield a write transaction; report any failure to reach the database as :class:`StoreDown`."""
        try:
            if self._sqlite is not None:
                with self._sqlite.transaction() as tx:
                    yield tx
            else:
                with self.db.transaction(wait=POOL_WAIT) as tx:
                    yield tx
        except (Unavailable, sqlite3.OperationalError) as exc:
            raise StoreDown(str(exc)) from exc

    def hit(self, key: str, window_start: float, ttl: float) -> int:
        with self._transaction() as tx:
            row = tx.one(
                "INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, 1) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN excluded.window_start > rate_counters.window_start THEN 1 "
                "ELSE rate_counters.count + 1 END, "
                "window_start = CASE WHEN excluded.window_start > rate_counters.window_start "
                "THEN excluded.window_start ELSE rate_counters.window_start END "
                "RETURNING count",
                (key, window_start),
            )
        assert row is not None
        return int(row["count"])

    def unhit(self, key: str, window_start: float, ttl: float) -> None:
        with self._transaction() as tx:
            tx.execute(
                "UPDATE rate_counters SET count = count - 1 WHERE key = ? AND window_start = ?", (key, window_start)
            )

    def change(self, key: str, fn: Change[T], ttl: float) -> T:
        with self._transaction() as tx:
            # Insert a placeholder or lock the existing row, so the read below is ours until commit.
            row = tx.one(
                "INSERT INTO login_failures (key, failures, last_at, locked_until) VALUES (?, 0, 0, NULL) "
                "ON CONFLICT (key) DO UPDATE SET failures = login_failures.failures "
                "RETURNING failures, last_at, locked_until",
                (key,),
            )
            assert row is not None
            old = Failures(int(row["failures"]), row["last_at"], row["locked_until"]) if row["failures"] else None
            new, result = fn(old)
            if new is None:
                tx.execute("DELETE FROM login_failures WHERE key = ?", (key,))
            elif new != old:
                tx.execute(
                    "UPDATE login_failures SET failures = ?, last_at = ?, locked_until = ? WHERE key = ?",
                    (new.count, new.last_at, new.blocked_until, key),
                )
        return result

    def forget(self, key: str) -> None:
        with self._transaction() as tx:
            tx.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    def prune(self, counters_before: float, failures_before: float, now: float) -> None:
        with self._transaction() as tx:
            tx.execute("DELETE FROM rate_counters WHERE window_start < ?", (counters_before,))
            tx.execute(
                "DELETE FROM login_failures WHERE last_at < ? AND (locked_until IS NULL OR locked_until < ?)",
                (failures_before, now),
            )

    def close(self) -> None:
        """Close the store's own SQLite connection; the database itself belongs to the server's context."""
        if self._sqlite is not None:
            self._sqlite.close()


class _PinnedSqlite:
    """One SQLite connection, opened on first use (in the worker, after the fork) and kept; its threads take turns.

    A connection whose BEGIN, COMMIT or ROLLBACK failed (a full disk, an I/O error) is in a state
    nobody knows: it is closed, and the next transaction opens a new one, as the server's own
    connections are handled (store/db.py).
    """

    def __init__(self, path: Path):
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            if self._conn is None:
                private_sqlite_file(self._path)
                self._conn = connect_sqlite(self._path)
            conn = self._conn
            self._control(conn, "BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(conn)
            except BaseException:
                self._control(conn, "ROLLBACK")
                raise
            self._control(conn, "COMMIT")

    def _control(self, conn: sqlite3.Connection, statement: str) -> None:
        try:
            conn.execute(statement)
        except sqlite3.Error:
            self._conn = None
            conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class RedisStore:
    """Counters and failures in Redis, for deployments that already run it: no writes to the database per request.

    Keys start with *prefix*, so several networks (or test runs) can share one Redis.
    """

    def __init__(self, url: str, *, prefix: str = "coffer:"):
        self.prefix = prefix
        self.client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True
        )

    def hit(self, key: str, window_start: float, ttl: float) -> int:
        name = self._window_key(key, window_start)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, max(1, int(ttl + 1)))
                count, _ = pipe.execute()
        except redis.RedisError as exc:
            raise StoreDown(f"Redis did not answer: {exc}") from exc
        return int(count)

    def unhit(self, key: str, window_start: float, ttl: float) -> None:
        name = self._window_key(key, window_start)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.decr(name)
                pipe.expire(name, max(1, int(ttl + 1)))
                pipe.execute()
        except redis.RedisError as exc:
            raise StoreDown(f"Redis did not answer: {exc}") from exc

    def change(self, key: str, fn: Change[T], ttl: float) -> T:
        name = self.prefix + key
        try:
            with self.client.pipeline(transaction=True) as pipe:
                for _ in range(WATCH_RETRIES):
                    try:
                        pipe.watch(name)  # type: ignore[no-untyped-call]
                        old = _failures(pipe.hgetall(name))
                        new, result = fn(old)
                        pipe.multi()
                        if new is None:
                            pipe.delete(name)
                        else:
                            pipe.hset(name, mapping=_fields(new))
                            pipe.expire(name, max(1, int(ttl + 1)))
                        pipe.execute()
                        return result
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise StoreDown(f"Redis did not answer: {exc}") from exc
        raise StoreDown(f"Redis key {name} kept changing under {WATCH_RETRIES} attempts to update it")

    def forget(self, key: str) -> None:
        try:
            self.client.delete(self.prefix + key)
        except redis.RedisError as exc:
            raise StoreDown(f"Redis did not answer: {exc}") from exc

    def prune(self, counters_before: float, failures_before: float, now: float) -> None:
        """Nothing to do: every key carries its own expiry."""

    def close(self) -> None:
        self.client.close()

    def _window_key(self, key: str, window_start: float) -> str:
        return f"{self.prefix}{key}@{window_start:.3f}"


def _failures(fields: Any) -> Failures | None:
    if not fields:
        return None
    until = fields.get("blocked_until")
    return Failures(int(fields["count"]), float(fields["last_at"]), float(until) if until else None)


def _fields(state: Failures) -> dict[Any, str]:
    until = "" if state.blocked_until is None else repr(state.blocked_until)
    return {"count": str(state.count), "last_at": repr(state.last_at), "blocked_until": until}


def open_store(db: Database, redis_url: str, redis_prefix: str) -> Store:
    """Return the Redis store if *redis_url* is set, else the database store."""
    return RedisStore(redis_url, prefix=redis_prefix) if redis_url else DatabaseStore(db)
