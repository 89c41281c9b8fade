"""SQLite connections that fail as a full or vanished disk makes them fail, for the tests of what is kept after."""

from __future__ import annotations

import sqlite3


class CommitFails:
    """A connection whose COMMIT fails, as a full or vanished disk fails it; everything else is the connection's."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)
