"""What every CLI command family shares: the stored session, output as text or JSON, secrets on stdin."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import private_files, session
from ..api import ServerClient
from ..coffer import Coffer
from ..errors import ApiError, NotLoggedIn, UsageError, human_seconds
from ..server_address import server_url

DEFAULT_SERVER = "http://127.0.0.1:8000"


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
    """Return a client for the session every command uses (:func:`current_session`)."""
    stored = current_session()
    return ServerClient(stored.server, stored.token, on_wait=say_waiting)


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
    """Write a file only its owner can read, replacing any old one. SECURITY: used for files holding credentials."""
    private_files.write_text(path, text)


def open_coffer() -> Coffer:
    """Return a Coffer for the session every command uses (:func:`current_session`)."""
    return Coffer.from_session(current_session(), on_wait=say_waiting)


def env_credentials() -> tuple[str | None, str, str] | None:
    """Return COFFER_SERVER (if set), COFFER_USER and COFFER_PASSWORD, or None unless both of the last are set."""
    server, user, password = (os.environ.get(k) for k in ("COFFER_SERVER", "COFFER_USER", "COFFER_PASSWORD"))
    if not (user and password):
        return None
    return (server_url(server) if server else None), user, password


def current_session() -> session.StoredSession:
    """Return the session of this command: the one way every command that needs one finds it.

    Without COFFER_USER and COFFER_PASSWORD it is the session ``coffer login`` stored.
    With them, it is that session if it is the same user (and server, if COFFER_SERVER
    is set); else a session opened for them once and cached, private, in the config
    directory, so a script of many commands opens one session, not one per command
    (and runs Argon2id once).
    """
    creds = env_credentials()
    if creds is None:
        return session.load()
    _, user, password = creds
    stored, target = _env_session(creds)
    if stored is not None:
        return stored
    # SECURITY: the cache is keyed to server and user; load_cached checks both again inside the file.
    cached = session.load_cached(target, user, time.time())
    if cached is not None:
        return cached
    with Coffer.login(target, user, password, on_wait=say_waiting) as coffer:
        fresh = coffer.stored_session()
    session.save_cached(fresh)
    return fresh


def _env_session(creds: tuple[str | None, str, str]) -> tuple[session.StoredSession | None, str]:
    """Return the stored login session if it is the environment's user's (else None), and the server to use."""
    server, user, _ = creds
    try:
        stored = session.load()
    except NotLoggedIn:
        return None, server or DEFAULT_SERVER
    if stored.username == user and server in (None, stored.server):
        return stored, stored.server
    return None, server or stored.server


def drop_cached_session() -> bool:
    """Forget the environment user's cached session once the server refused it; say whether there was one."""
    creds = env_credentials()
    if creds is None:
        return False
    stored, target = _env_session(creds)
    path = session.cached_path(target, creds[1])
    if stored is not None or not path.exists():
        return False
    session.forget_cached(target, creds[1])
    return True


def say_waiting(seconds: float) -> None:
    """Tell the person at the keyboard that the server asked us to wait, above any progress bar."""
    line = f"coffer: the server is limiting requests from this client: waiting {human_seconds(seconds)}, then going on"
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)
