"""One contract for every rate-limit store: the database on SQLite and PostgreSQL, and Redis."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.server.ratelimit.policy import Failures, LoginPolicy
from coffer.server.ratelimit.stores import DatabaseStore, RedisStore, Store, StoreDown
from coffer.server.store import migrations
from coffer.server.store.db import Database
from tests import postgres
from tests.redis_server import redis_space
from tests.server.sqlite_faults import CommitFails

NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "redis":
        with redis_space() as space:
            redis_store = RedisStore(space.url, prefix=space.prefix)
            yield redis_store
            redis_store.close()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'coffer.db'}"
    else:
        databases: postgres.PostgresDatabases = request.getfixturevalue("pg_databases")
        url = databases.create()
    db = Database(url)
    migrations.migrate(db)
    yield DatabaseStore(db)
    db.close()


def test_hits_count_up_within_a_window(store: Store) -> None:
    assert [store.hit("address:a", NOW, 60) for _ in range(3)] == [1, 2, 3]
    assert store.hit("address:b", NOW, 60) == 1


def test_a_new_window_starts_from_one(store: Store) -> None:
    store.hit("k", NOW, 60)
    store.hit("k", NOW, 60)
    assert store.hit("k", NOW + 60, 60) == 1
    assert store.hit("k", NOW + 60, 60) == 2


def test_unhit_takes_one_back_only_in_the_same_window(store: Store) -> None:
    store.hit("k", NOW, 60)
    store.hit("k", NOW, 60)
    store.unhit("k", NOW, 60)
    assert store.hit("k", NOW, 60) == 2


def test_hits_from_many_threads_are_all_counted(store: Store) -> None:
    def hammer() -> None:
        for _ in range(10):
            store.hit("busy", NOW, 60)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.hit("busy", NOW, 60) == 41


def test_change_reads_and_writes_failures_and_returns_the_result(store: Store) -> None:
    seen: list[Failures | None] = []

    def add(state: Failures | None) -> tuple[Failures | None, int]:
        seen.append(state)
        count = (state.count if state else 0) + 1
        return Failures(count, NOW + count, NOW + 100 if count > 1 else None), count

    assert store.change("login-name:alice", add, 3600) == 1
    assert store.change("login-name:alice", add, 3600) == 2
    assert seen == [None, Failures(1, NOW + 1, None)]
    assert store.change("login-name:alice", lambda s: (s, s), 3600) == Failures(2, NOW + 2, NOW + 100)
    store.forget("login-name:alice")
    assert store.change("login-name:alice", lambda s: (s, s), 3600) is None


def test_change_that_returns_none_deletes(store: Store) -> None:
    store.change("x", lambda s: (Failures(1, NOW), None), 3600)
    store.change("x", lambda s: (None, None), 3600)
    assert store.change("x", lambda s: (s, s), 3600) is None


def test_parallel_login_claims_are_serialised(store: Store) -> None:
    """Every claim sees the one before it, so parallel guesses cannot share one free attempt."""
    policy = LoginPolicy(free_failures=100, lock_failures=0)
    counts: list[int] = []
    lock = threading.Lock()

    def claim() -> None:
        for _ in range(5):
            count = store.change("login-name:bob", lambda s: _count(policy, s), 3600)
            with lock:
                counts.append(count)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(counts) == list(range(1, 21))


def _count(policy: LoginPolicy, state: Failures | None) -> tuple[Failures | None, int]:
    new, _ = policy.attempt(state, NOW)
    assert new is not None
    return new, new.count


def test_prune_deletes_stale_rows_only(store: Store) -> None:
    store.hit("old", NOW - 7200, 60)
    store.hit("new", NOW, 60)
    store.change("login-name:old", lambda s: (Failures(3, NOW - 90000), None), 86400)
    store.change("login-name:locked", lambda s: (Failures(30, NOW - 90000, NOW + 10), None), 86400)
    store.prune(NOW - 3600, NOW - 86400, NOW)
    assert store.hit("new", NOW, 60) == 2
    if isinstance(store, DatabaseStore):
        assert store.hit("old", NOW - 7200, 60) == 1, "the stale window's row was deleted"
        assert store.change("login-name:old", lambda s: (s, s), 86400) is None
    assert store.change("login-name:locked", lambda s: (s, s), 86400) is not None


def test_an_unreachable_redis_is_reported_as_store_down() -> None:
    dead = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(StoreDown):
        dead.hit("k", NOW, 60)
    dead.close()


def test_a_sqlite_limiter_whose_commit_failed_opens_a_new_connection(tmp_path: Path) -> None:
    """A failed COMMIT leaves SQLite's connection inside its transaction: kept, every later BEGIN would fail."""
    db = Database(f"sqlite:///{tmp_path / 'coffer.db'}")
    migrations.migrate(db)
    limiter = DatabaseStore(db)
    assert limiter.hit("k", NOW, 60) == 1
    pinned = limiter._sqlite  # noqa: SLF001
    assert pinned is not None and pinned._conn is not None  # noqa: SLF001
    kept = pinned._conn  # noqa: SLF001
    pinned._conn = CommitFails(kept)  # type: ignore[assignment]  # noqa: SLF001
    with pytest.raises(StoreDown):
        limiter.hit("k", NOW, 60)
    with pytest.raises(sqlite3.ProgrammingError):
        kept.execute("SELECT 1")  # closed, not kept in its unknown state
    assert limiter.hit("k", NOW, 60) == 2, "the failed hit was rolled back, and the next one works"
    limiter.close()
    db.close()
