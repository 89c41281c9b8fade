"""Request ids: one per request on the programs' side, one per command on the client's, so one upload can be followed.

A client makes an id for a whole command or transfer (:func:`begin`) and sends it
as ``X-Request-Id`` on every request to the server and the fileservers; each
program takes a sane incoming id as its own (:func:`adopt`), else makes one,
returns it in the same header and puts it on every log line of that request (the
formatter in :mod:`.logs` reads :data:`current`). Grep one id through the three
programs' logs to follow a transfer.

An id is a short token (letters, digits, ``.``, ``_``, ``-``, at most 64): anything
else a client sends is replaced, so no log line carries what a client chose to
smuggle in (a newline, a name). SECURITY: an id is random, never derived from a
user, a file or a key.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar

HEADER = "X-Request-Id"
MAX_LENGTH = 64
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

current: ContextVar[str | None] = ContextVar("coffer_request_id", default=None)
"""The id of the request this thread serves now (the programs), or None outside any request."""

_command: str | None = None
"""The id of this client process's command, shared by the threads of its transfers."""


def new() -> str:
    """Return a fresh id: 16 hex digits, random."""
    return secrets.token_hex(8)


def sane(value: str | None) -> bool:
    """Say whether *value* may be taken as an id as it is."""
    return value is not None and _SANE.fullmatch(value) is not None


def adopt(incoming: str | None) -> str:
    """Make *incoming* (if sane, else a fresh id) the current request's id; return it."""
    request_id = incoming if incoming is not None and sane(incoming) else new()
    current.set(request_id)
    return request_id


def begin(request_id: str | None = None) -> str:
    """Start a client command: every request this process sends from now carries one id; return it."""
    global _command
    _command = request_id if request_id is not None and sane(request_id) else new()
    return _command


def end() -> None:
    """End the client command: requests sent after it get fresh ids again."""
    global _command
    _command = None


def command() -> str | None:
    """Return the id of the command this client process runs, if one began."""
    return _command


def outgoing() -> str:
    """Return the id to send: the current request's, else the command's, else a fresh one."""
    return current.get() or _command or new()


def stamp(headers: MutableMapping[str, str]) -> None:
    """Add the id to an outgoing request's *headers*, unless it has one."""
    if HEADER not in headers:
        headers[HEADER] = outgoing()
