"""Fixtures for the fileserver tests: a test server key, settings in a tmp data dir, ticket factories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from coffer.fileserver.counters import SharedCounters, SlotCounters
from coffer.fileserver.data.app import create_app
from coffer.fileserver.identity import Identity, load_or_create
from coffer.fileserver.settings import Settings, settings_from_table
from coffer.protocol.ids import new_id
from coffer.protocol.signing import SigningKey
from tests.fileserver.fs_helpers import NOW, TicketMaker


@pytest.fixture
def server_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def cluster_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def make_settings(tmp_path: Path, server_key: SigningKey, cluster_key: SigningKey) -> Callable[..., Settings]:
    def make(shards: list[dict[str, Any]] | None = None, **fileserver: Any) -> Settings:
        table = {
            "server": {"url": "http://127.0.0.1:8000", "public_key": server_key.public_text},
            "cluster": {"id": new_id(), "name": "local", "generation": 1, "credential": cluster_key.to_text()},
            "shards": shards or [{"name": "default", "read": True, "write": True, "backend": "local"}],
            "fileserver": {"data_dir": str(tmp_path / "data"), "heartbeat_interval": 1.0} | fileserver,
        }
        return settings_from_table(table, source="test.toml", environ={})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        shards=[
            {"name": "default", "read": True, "write": True, "backend": "local"},
            {"name": "archive", "read": True, "write": False, "backend": "local"},
            {"name": "inbox", "read": False, "write": True, "backend": "local"},
        ],
        max_chunk_size=4 << 20,
    )


@pytest.fixture
def identity(settings: Settings) -> Identity:
    return load_or_create(settings.data_dir)


@pytest.fixture
def counters() -> SlotCounters:
    return SharedCounters(slots=1).slot(0)


@pytest.fixture
def clock() -> list[float]:
    """A settable clock: tests move ``clock[0]``."""
    return [float(NOW)]


@pytest.fixture
def client(
    settings: Settings, identity: Identity, counters: SlotCounters, clock: list[float]
) -> falcon.testing.TestClient:
    app = create_app(settings, identity=identity, counters=counters, clock=lambda: clock[0])
    return falcon.testing.TestClient(app)


@pytest.fixture
def tickets_(server_key: SigningKey) -> TicketMaker:
    return TicketMaker(server_key)
