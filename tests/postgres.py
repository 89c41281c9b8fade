"""Fresh PostgreSQL databases for tests, on the server at 127.0.0.1:5432 (or COFFER_TEST_POSTGRES).

A test run makes its own databases, named ``coffer_test_<random>_...``, and drops
them at the end. Where PostgreSQL is missing the PostgreSQL tests are skipped,
except under CI (``CI`` set), where a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import secrets

import psycopg

from tests.services import unavailable

ADMIN_URL = os.environ.get("COFFER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresDatabases:
    def __init__(self) -> None:
        self.prefix = f"coffer_test_{secrets.token_hex(4)}"
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)

    def create(self) -> str:
        """Create an empty database and return its URL."""
        name = f"{self.prefix}_{len(self.created)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def available() -> str | None:
    """Return None if PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def require() -> None:
    """Skip (or, under CI, fail) the calling test when PostgreSQL is not there."""
    reason = available()
    if reason is None:
        return
    unavailable(f"PostgreSQL is not reachable at {ADMIN_URL}: {reason}", "CI needs it: start PostgreSQL")
