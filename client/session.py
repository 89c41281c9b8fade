"""Keep the CLI's session between commands, so Argon2id runs at login and not on every command."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import private_files
from .errors import NotLoggedIn


def config_dir() -> Path:
    base = os.environ.get("COFFER_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "coffer"
    )
    return Path(base)


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
