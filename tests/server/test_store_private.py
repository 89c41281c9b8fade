"""The server's SQLite database holds the ticket-signing seed: it is its owner's alone, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.server.store import migrations
from coffer.server.store.db import Database
from coffer.server.store.private import private_sqlite_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_database_and_its_journal_files_are_private_under_a_permissive_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "state" / "coffer.db"
    db = Database(f"sqlite:///{path}")
    migrations.migrate(db)
    with db.transaction() as tx:  # while a connection is open, SQLite keeps its -wal and -shm files
        tx.one("SELECT 1")
        modes = {p.name: mode(p) for p in tmp_path.rglob("*")}
    assert modes == {"state": 0o700, "coffer.db": 0o600, "coffer.db-wal": 0o600, "coffer.db-shm": 0o600}


def test_a_database_left_readable_by_an_older_version_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "coffer.db"
    migrations.migrate(Database(f"sqlite:///{path}"))
    path.chmod(0o644)
    db = Database(f"sqlite:///{path}")
    with db.transaction() as tx:
        tx.one("SELECT 1")
    assert mode(path) == 0o600


def test_making_an_open_database_private_keeps_the_locks_its_connections_hold(tmp_path: Path) -> None:
    """Closing any descriptor of a file drops the process's POSIX locks on it: SQLite's, held by its connections.

    Found when the server kept its connections: the rate limiter's first use made the database private
    again, and the next process to close a connection took itself for the last one and deleted the WAL
    under the server's open connections ("disk I/O error", then "database disk image is malformed").
    """
    path = tmp_path / "coffer.db"
    private_sqlite_file(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("INSERT INTO t VALUES (1)")
    private_sqlite_file(path)
    subprocess.run([sys.executable, "-c", OPEN_AND_CLOSE, str(path)], check=True, timeout=30)
    wal = path.with_name(path.name + "-wal")
    assert wal.exists(), "another process took itself for the last connection and removed the WAL"
    assert holder.execute("SELECT x FROM t").fetchall() == [(1,)]
    holder.close()


OPEN_AND_CLOSE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT COUNT(*) FROM t").fetchall()
conn.close()
"""
