"""How ``coffer devnet`` tells that a restarted fileserver is back, even after its own session ran out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coffer.client.errors import AuthError, ConnectionFailed
from coffer.devnet import command
from coffer.devnet.network import Fileserver


@dataclass
class FakeAdmin:
    logins: list[tuple[str, str]] = field(default_factory=list)
    fail_login: bool = False

    def login(self, name: str, password: str) -> None:
        if self.fail_login:
            raise ConnectionFailed("the server cannot be reached")
        self.logins.append((name, password))


@dataclass
class FakeNet:
    answers: list[Any]
    admin: FakeAdmin = field(default_factory=FakeAdmin)
    admin_name: str = "devnet"
    admin_password: str = "devnet-pw"

    def live(self, fs: Fileserver) -> bool:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return bool(answer)


@pytest.fixture
def fs(monkeypatch: pytest.MonkeyPatch) -> Fileserver:
    monkeypatch.setattr(command, "http_ok", lambda url: True)
    return Fileserver("fileserver2", 8102, Path("fileserver2"), proc=None)  # type: ignore[arg-type]


def test_an_expired_session_is_renewed_and_the_next_check_sees_the_fileserver_live(fs: Fileserver) -> None:
    net = FakeNet([AuthError("the session expired"), True])
    assert command.fileserver_back(net, fs) is False  # type: ignore[arg-type]
    assert net.admin.logins == [("devnet", "devnet-pw")]
    assert command.fileserver_back(net, fs) is True  # type: ignore[arg-type]


def test_a_server_that_cannot_be_reached_is_not_yet_back(fs: Fileserver) -> None:
    net = FakeNet([ConnectionFailed("down"), AuthError("expired")], admin=FakeAdmin(fail_login=True))
    assert command.fileserver_back(net, fs) is False  # type: ignore[arg-type]
    assert command.fileserver_back(net, fs) is False  # type: ignore[arg-type]
