"""What every CLI command family shares: the stored session, output as text or JSON, secrets on stdin."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import session
from ..api import ServerClient
from ..coffer import Coffer
from ..errors import ApiError, NotLoggedIn, UsageError


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


@contextmanager
def naming_flags(flags: Mapping[str, str]) -> Iterator[None]:
    """Reword a server refusal that names a field of the API (``'expires_in'``) to name the option typed instead.

    The server speaks to every client in its fields' names; a person at the command
    line knows only the options (``--expires``), and must be told which one to change.
    """
    try:
        yield
    except ApiError as exc:
        message = exc.message
        for field, flag in flags.items():
            message = message.replace(f"'{field}'", flag)
        if message == exc.message:
            raise
        raise type(exc)(message, code=exc.code, status=exc.status, details=exc.details) from exc


def client() -> ServerClient:
    """Return a client for the logged-in server and session."""
    stored = session.load()
    return ServerClient(stored.server, stored.token)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def read_secret(prompt: str, from_stdin: bool, env: str | None = None) -> str:
    """Read a password from an environment variable, stdin (one line) or the terminal, in that order."""
    if env and os.environ.get(env):
        return os.environ[env]
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(prompt)


MIN_PASSWORD = 8


def read_new_password(prompt: str, from_stdin: bool, *, then: str) -> str:
    """Read a password being set; on a terminal ask for it twice, since a typo there nobody sees locks the user out.

    *then* says what the refusal leaves as it was ("nothing was changed").
    """
    new = read_secret(prompt, from_stdin)
    if not from_stdin and sys.stdin.isatty() and read_secret("Repeat: ", False) != new:
        raise UsageError(f"the passwords differ; {then}")
    if len(new) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters; {then}")
    return new


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read. SECURITY: used for files holding credentials."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def open_coffer() -> Coffer:
    """Return a Coffer for the stored session, or log in from COFFER_SERVER/USER/PASSWORD."""
    server, user, password = (os.environ.get(k) for k in ("COFFER_SERVER", "COFFER_USER", "COFFER_PASSWORD"))
    try:
        stored = session.load()
    except NotLoggedIn:
        if user and password:
            return Coffer.login(server or "http://127.0.0.1:8000", user, password)
        raise
    if user and password and (stored.username != user or (server and stored.server != server)):
        return Coffer.login(server or stored.server, user, password)
    return Coffer.from_session(stored)
