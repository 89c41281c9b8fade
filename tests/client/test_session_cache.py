"""The session COFFER_USER/COFFER_PASSWORD opened is kept for the next commands, for that server and user only."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from coffer.client import session
from coffer.client.api import ServerClient
from coffer.client.coffer import Coffer
from coffer.client.session import REUSE_MARGIN, StoredSession
from coffer.protocol.encoding import b64encode

NOW = 1_800_000_000.0


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COFFER_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def kept(server: str = "https://a.example", user: str = "alice", expires_at: float = NOW + 3600) -> StoredSession:
    return StoredSession(server, user, "token-" + user, expires_at, public_key="cHVi", private_key="cHJpdg==")


def test_a_cached_session_is_reused_for_its_own_server_and_user() -> None:
    session.save_cached(kept())
    assert session.load_cached("https://a.example", "alice", NOW) == kept()


def test_a_cached_session_is_never_reused_for_another_server_or_user() -> None:
    session.save_cached(kept())
    assert session.load_cached("https://b.example", "alice", NOW) is None
    assert session.load_cached("https://a.example", "bob", NOW) is None


def test_a_cache_file_moved_under_another_key_is_refused() -> None:
    """SECURITY: the file name is only an index; the server and user inside must match too."""
    path = session.save_cached(kept())
    stolen = session.cached_path("https://a.example", "mallory")
    shutil.copy(path, stolen)
    assert session.load_cached("https://a.example", "mallory", NOW) is None


def test_a_session_near_its_expiry_is_not_reused() -> None:
    session.save_cached(kept(expires_at=NOW + REUSE_MARGIN - 1))
    assert session.load_cached("https://a.example", "alice", NOW) is None


def test_a_damaged_cache_file_is_dropped_for_a_fresh_login() -> None:
    path = session.cached_path("https://a.example", "alice")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert session.load_cached("https://a.example", "alice", NOW) is None
    assert not path.exists()


def test_the_cache_is_readable_by_its_owner_only(config: Path) -> None:
    path = session.save_cached(kept())
    assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0
    assert path.parent.parent == config


def with_keys(stored: StoredSession, user_id: str = "") -> StoredSession:
    return replace(stored, public_key=b64encode(bytes(32)), private_key=b64encode(bytes(range(32))), user_id=user_id)


def test_a_session_stored_with_its_user_id_needs_no_request_to_name_its_user() -> None:
    asked: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(500)

    nothing = httpx.MockTransport(refuse)
    with Coffer.from_session(with_keys(kept(), user_id="a1b2"), transport=nothing) as coffer:
        assert coffer.user_id == "a1b2" and coffer.stored_session().user_id == "a1b2"
    assert asked == []


def test_a_session_an_older_version_stored_asks_the_server_whose_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def me(api: ServerClient) -> SimpleNamespace:
        asked.append("me")
        return SimpleNamespace(account=SimpleNamespace(id="from-the-server"))

    monkeypatch.setattr(ServerClient, "me", me)
    with Coffer.from_session(with_keys(kept())) as coffer:
        assert (coffer.user_id, coffer.user_id) == ("from-the-server", "from-the-server")
    assert asked == ["me"]
