"""The client engine's tests share one in-process fake network and a Coffer logged in to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.format.keys import UserKeys

from .fakenet import SERVER, FakeNet

Person = Callable[[str], Coffer]


@pytest.fixture
def net() -> FakeNet:
    return FakeNet(fileservers=3)


@pytest.fixture
def person(net: FakeNet, tmp_path: Path) -> Iterator[Person]:
    """Make a user of the fake network with keys of their own and a config directory of their own."""
    made: list[Coffer] = []

    def make(name: str) -> Coffer:
        keys = UserKeys.generate()
        user = net.user(name, keys)
        transport = net.transport()
        c = Coffer(
            SERVER,
            user.token,
            keys,
            username=name,
            config_dir=tmp_path / ("config" if name == "alice" else f"config-{name}"),
            transport=transport,
            chunk_transport=transport,
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def coffer(person: Person) -> Coffer:
    return person("alice")
