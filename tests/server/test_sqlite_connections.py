"""SQLite: each thread keeps one connection from one transaction to the next, and never one in an unknown state."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.server.errors import Unavailable
from coffer.server.store.db import Database
from tests.server.sqlite_faults import CommitFails


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every SQLite connection opened from now on."""
    made: list[sqlite3.Connection] = []
    real = sqlite3.connect

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn: sqlite3.Connection = real(*args, **kwargs)  # type: ignore[call-overload]
        made.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return made


@pytest.fixture
def database(tmp_path: Path, opened: list[sqlite3.Connection]) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'coffer.db'}")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    opened.clear()
    db.close()  # each test starts with no connection kept
    yield db
    db.close()


def _count(db: Database) -> int:
    with db.transaction(readonly=True) as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM notes")
    assert row is not None
    return int(row["n"])


def test_a_thread_opens_one_connection_for_all_its_transactions(
    database: Database, opened: list[sqlite3.Connection]
) -> None:
    for i in range(5):
        with database.transaction() as tx:
            tx.execute("INSERT INTO notes (text) VALUES (?)", (f"note {i}",))
    assert _count(database) == 5
    assert len(opened) == 1
    other = threading.Thread(target=_count, args=(database,))
    other.start()
    other.join()
    assert len(opened) == 2, "another thread has a connection of its own"


def test_a_transaction_that_raised_is_rolled_back_and_the_connection_serves_on(
    database: Database, opened: list[sqlite3.Connection]
) -> None:
    with pytest.raises(ValueError), database.transaction() as tx:
        tx.execute("INSERT INTO notes (text) VALUES ('never')")
        raise ValueError("the request failed")
    assert _count(database) == 0
    assert len(opened) == 1


def test_a_nested_transaction_gets_a_connection_of_its_own_closed_at_its_end(
    database: Database, opened: list[sqlite3.Connection]
) -> None:
    with database.transaction() as outer:
        outer.execute("INSERT INTO notes (text) VALUES ('outer')")
        assert _count(database) == 0, "the inner one reads what was committed, not the outer's write"
    assert _count(database) == 1
    assert len(opened) == 2
    with pytest.raises(sqlite3.ProgrammingError):
        opened[1].execute("SELECT 1")  # closed
    opened[0].execute("SELECT 1")  # kept


def test_a_connection_whose_commit_failed_is_never_used_again(
    database: Database, opened: list[sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    _count(database)
    kept = opened[0]
    failing = CommitFails(kept)
    monkeypatch.setattr(database._connections._local, "kept", (os.getpid(), failing))  # noqa: SLF001
    with pytest.raises(Unavailable), database.transaction() as tx:
        tx.execute("INSERT INTO notes (text) VALUES ('lost')")
    with pytest.raises(sqlite3.ProgrammingError):
        kept.execute("SELECT 1")  # closed, not handed out again
    assert _count(database) == 0 and len(opened) == 2


def test_a_forked_process_opens_its_own_connection(database: Database, opened: list[sqlite3.Connection]) -> None:
    """A gunicorn worker forked from a process that had a connection must not share it."""
    _count(database)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many connections it opened for one transaction
        code = 1
        try:
            before = len(opened)
            _count(database)
            database.close()  # closes the child's own, never the parent's
            os.write(write, str(len(opened) - before).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    said = os.read(read, 16).decode()
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert said == "1"
    opened[0].execute("SELECT 1")  # the parent's is open
    assert _count(database) == 0 and len(opened) == 1


def test_closing_the_database_closes_the_kept_connections(database: Database, opened: list[sqlite3.Connection]) -> None:
    _count(database)
    database.close()
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")
    assert _count(database) == 0 and len(opened) == 2, "a later transaction opens a new one"
