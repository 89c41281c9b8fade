"""Fixtures shared by the whole suite: databases on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres
from tests.backends.azure_emulator import azure_emulator
from tests.backends.gcs_emulator import gcs_emulator
from tests.backends.s3_emulator import s3_emulator

__all__ = ["azure_emulator", "gcs_emulator", "s3_emulator"]


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[postgres.PostgresDatabases]:
    postgres.require()
    databases = postgres.PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coffer.db'}"
    databases: postgres.PostgresDatabases = request.getfixturevalue("pg_databases")
    return databases.create()
