"""Keep the CLI's session between commands, so Argon2id runs at login and not on every command."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from . import private_files
from .errors import NotLoggedIn
from .home import config_home


def config_dir() -> Path:
    return Path(config_home())


@dataclass(frozen=True)
class StoredSession:
    """A session kept between commands.

    SECURITY: it holds the bearer token and the user's unwrapped X25519 private key,
    so that a command needs neither the password nor Argon2id. The file is mode 0600
    in a 0700 directory; ``coffer logout`` deletes it.
    """

    server: str
    username: str
    token: str
    expires_at: float
    public_key: str = ""
    private_key: str = ""
    user_id: str = ""
    """The account's id, which keys the resume states; empty in a session an older version stored (then asked for)."""

    def __repr__(self) -> str:
        return f"StoredSession(server={self.server!r}, username={self.username!r})"


def save(session: StoredSession) -> Path:
    """Write the session file, readable by its owner only. SECURITY: it holds a bearer token."""
    path = config_dir() / "session.json"
    private_files.write_json(path, session.__dict__)
    return path


def load() -> StoredSession:
    path = config_dir() / "session.json"
    try:
        data = json.loads(path.read_text())
        return StoredSession(**data)
    except FileNotFoundError as exc:
        raise NotLoggedIn("you are not logged in: run `coffer login --server URL USERNAME`") from exc
    except (ValueError, TypeError) as exc:
        raise NotLoggedIn(f"the session file {path} is damaged: run `coffer login` again") from exc


def forget() -> None:
    (config_dir() / "session.json").unlink(missing_ok=True)


REUSE_MARGIN = 120.0
"""A cached session this close to its expiry is not reused: a command must not lose its session half way."""


def cached_path(server: str, username: str) -> Path:
    """Where the session opened from COFFER_USER/COFFER_PASSWORD for *server* and *username* is kept."""
    digest = hashlib.sha256(f"{server}\0{username}".encode()).hexdigest()[:32]
    return config_dir() / "env-sessions" / f"{digest}.json"


def load_cached(server: str, username: str, now: float) -> StoredSession | None:
    """Return the cached session of *username* on *server* while it is valid, else None.

    SECURITY: the file is found by a hash of server and user, and the server and user
    inside it must match exactly too, so a session is never reused for another server
    or another user (not even after a hash collision or a file copied by hand).
    """
    path = cached_path(server, username)
    try:
        stored = StoredSession(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)  # damaged: a fresh login replaces it
        return None
    if stored.server != server or stored.username != username or not stored.private_key:
        return None
    if stored.expires_at - REUSE_MARGIN <= now:
        return None
    return stored


def save_cached(session: StoredSession) -> Path:
    """Keep a session opened from the environment for the next commands. SECURITY: 0600, holds the private key."""
    path = cached_path(session.server, session.username)
    private_files.write_json(path, session.__dict__)
    return path


def forget_cached(server: str, username: str) -> None:
    cached_path(server, username).unlink(missing_ok=True)
