"""The server's SQLite database holds the ticket-signing seed: it is its owner's alone, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.server.store import migrations
from coffer.server.store.db import Database


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
