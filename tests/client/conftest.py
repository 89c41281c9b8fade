"""The client engine's tests share one in-process fake network and a Coffer logged in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client import crypto
from client.coffer import Coffer

from .fakenet import SERVER, FakeNet


@pytest.fixture
def net() -> FakeNet:
    return FakeNet(fileservers=3)


@pytest.fixture
def coffer(net: FakeNet, tmp_path: Path) -> Iterator[Coffer]:
    transport = net.transport()
    c = Coffer(
        SERVER,
        "token",
        crypto.UserKeys.generate(),
        config_dir=tmp_path / "config",
        transport=transport,
        chunk_transport=transport,
    )
    yield c
    c.close()
