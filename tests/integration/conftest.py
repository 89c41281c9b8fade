"""A real network per test module: the server under gunicorn on SQLite and on PostgreSQL, fileservers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import postgres

from .network import Network


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here ``slow``: each starts real processes, so its file goes to a worker first."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def network(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root: Path = tmp_path_factory.mktemp(f"net-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'coffer.db'}"
    else:
        databases: postgres.PostgresDatabases = request.getfixturevalue("pg_databases")
        url = databases.create()
    net = Network.launch(root, 2, database_url=url)
    try:
        yield net
    finally:
        net.stop()
