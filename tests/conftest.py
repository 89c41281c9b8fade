"""Fixtures shared by the whole suite (databases on both engines), and how the suite is spread over workers.

``pytest`` runs the suite on several pytest-xdist workers (``-n auto --dist loadfile`` in
pyproject.toml): tests/README.md says how a fixture must be written to be safe there.
"""

from __future__ import annotations

import compileall
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import postgres
from tests.backends.azure_emulator import azure_emulator
from tests.backends.gcs_emulator import gcs_emulator
from tests.backends.s3_emulator import s3_emulator

__all__ = ["azure_emulator", "gcs_emulator", "s3_emulator"]

SOURCE = Path(__file__).resolve().parents[1] / "src" / "coffer"

# More workers than this mostly add copies of the session's emulators, not speed.
MAX_WORKERS = 6


def pytest_configure(config: pytest.Config) -> None:
    """Compile the project's modules to bytecode once, before any worker or test starts a program.

    An editable install leaves that to the first import, and where PYTHONDONTWRITEBYTECODE is
    set every process the suite starts (hundreds of servers, fileservers and ``coffer`` commands)
    would compile them again: a second or more each on a busy machine (the benchmarks do the same).
    """
    if hasattr(config, "workerinput"):
        return  # a worker: the controller compiled before starting it
    # compileall does not follow the symlinked packages under src/coffer: compile where they point.
    for directory in [SOURCE, *(p.resolve() for p in SOURCE.iterdir() if p.is_dir())]:
        compileall.compile_dir(directory, quiet=1)


# The id a test gets from a database engine parameter alone, as from the integration ``network`` fixture.
ENGINE_ID = re.compile(r"\[(sqlite|postgresql|redis)\]$")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Run twice as many workers as cores (``-n auto``): the suite mostly waits on the processes it starts."""
    return max(2, min(MAX_WORKERS, 2 * (os.cpu_count() or 1)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Hand out a file's tests on each database engine as a unit of their own (``--dist loadfile``).

    A module fixture parametrized by engine (a whole network on SQLite, another on PostgreSQL) is
    set up once per engine anyway, so the halves can run on two workers: the longest files
    (tests/integration/test_cli.py) are what the run waits for last.
    """
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadFileAndEngineScheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            scope: str = super()._split_scope(nodeid)
            engine = ENGINE_ID.search(nodeid)
            return f"{scope}[{engine.group(1)}]" if engine else scope

    return LoadFileAndEngineScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the files holding ``slow`` tests first, each file whole and in its own order.

    Workers take one file at a time: a file of real networks taken last would keep one
    worker busy long after the others ran dry. Whole files keep module fixtures set up once.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)


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
