"""What every CLI command family shares: the stored session, output as text or JSON, secrets on stdin."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import session
from ..api import ServerClient
from ..coffer import Coffer
from ..errors import NotLoggedIn


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def client() -> ServerClient:
    """Return a client for the logged-in server and session."""
    stored = session.load()
    return ServerClient(stored.server, stored.token)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_json_pages(pages: Iterable[Iterable[Any]]) -> None:
    """Print one JSON array of every item of *pages* as they come, flushing each page: what :func:`print_json` prints.

    Scripts read the same array they always did; a listing of 100,000 files is never
    held whole, and a reader sees the first items before the last page is fetched.
    """
    opened = False
    for page in pages:
        for item in page:
            sys.stdout.write(",\n" if opened else "[\n")
            sys.stdout.write(textwrap.indent(json.dumps(item, indent=2), "  "))
            opened = True
        sys.stdout.flush()
    sys.stdout.write("\n]\n" if opened else "[]\n")


def read_secret(prompt: str, from_stdin: bool, env: str | None = None) -> str:
    """Read a password from an environment variable, stdin (one line) or the terminal, in that order."""
    if env and os.environ.get(env):
        return os.environ[env]
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass(prompt)


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
