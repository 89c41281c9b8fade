"""The session COFFER_USER/COFFER_PASSWORD opened is kept for the next commands, for that server and user only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coffer.client import session
from coffer.client.session import REUSE_MARGIN, StoredSession

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
