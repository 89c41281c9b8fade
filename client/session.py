"""Keep the CLI's session between commands, so Argon2id runs at login and not on every command."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

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
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(session.__dict__, f)
    os.replace(tmp, path)
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
