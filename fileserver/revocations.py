"""The revocations: kept by the agent from each heartbeat answer, read by every worker.

The server revokes tickets by holder, file and op (a share was ended, a link revoked, a
file deleted), numbers each revocation, and answers each heartbeat with those after the
cursor the fileserver sent, a page at a time. The agent merges each page into
``<data_dir>/revoked.json`` as ``{"v": 2, "cursor": n, "entries": [...]}``, atomically,
dropping entries whose tickets have all expired. Workers stat the file on each request
and reread it only when it changed, so a revocation reaches every worker within one
heartbeat and costs one ``stat`` per request. A file that is missing, damaged or of the
older format (a list of ticket ids) makes the agent start again from cursor 0: the
server then sends every live revocation, page after page, at once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffer.protocol.errors import CofferError, ProtocolError
from coffer.protocol.messages import Revocation, RevocationPage, parse_revocation
from coffer.protocol.tickets import Ticket

from .storage.fsutil import atomic_write_json

log = logging.getLogger(__name__)

FILE_NAME = "revoked.json"
VERSION = 2


@dataclass(frozen=True)
class Revocations:
    """What a fileserver knows of the server's revocations: the entries, and the cursor to ask after."""

    cursor: int = 0
    entries: tuple[Revocation, ...] = field(default_factory=tuple)

    def merge(self, page: RevocationPage, now: float) -> Revocations:
        """Return the state after *page*; a page that does not start at our cursor replaces what we hold."""
        kept = self.entries if page.after == self.cursor else ()
        merged = dict.fromkeys(e for e in (*kept, *page.entries) if e.exp > now)
        return Revocations(page.next, tuple(merged))

    def to_json(self) -> dict[str, Any]:
        return {"v": VERSION, "cursor": self.cursor, "entries": [e.to_json() for e in self.entries]}


def parse_revocations(value: object) -> Revocations:
    if not isinstance(value, dict) or value.get("v") != VERSION:
        raise ProtocolError("not a version 2 revocation file")
    cursor, entries = value.get("cursor"), value.get("entries")
    if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0 or not isinstance(entries, list):
        raise ProtocolError("a revocation file holds a cursor and a list of entries")
    return Revocations(cursor, tuple(parse_revocation(e) for e in entries))


def load(path: Path) -> Revocations:
    """Return what the agent wrote last, or a start from cursor 0 if there is nothing usable."""
    try:
        return parse_revocations(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return Revocations()
    except (OSError, ValueError, CofferError) as exc:
        log.info("starting the revocations from the beginning", extra={"kv": {"path": path, "reason": exc}})
        return Revocations()


def write_revocations(path: Path, revocations: Revocations) -> None:
    """Replace the file with *revocations*, atomically."""
    atomic_write_json(path, revocations.to_json())


class _Index:
    """The entries by file, so a check reads the few entries of one file and those of no file."""

    def __init__(self, entries: tuple[Revocation, ...] = ()):
        self.by_file: dict[str, list[Revocation]] = {}
        self.any_file: list[Revocation] = []
        for e in entries:
            (self.any_file if e.file is None else self.by_file.setdefault(e.file, [])).append(e)

    def covers(self, ticket: Ticket) -> bool:
        return any(
            e.covers(ticket.file, ticket.sub, ticket.op, ticket.iat)
            for e in (*self.by_file.get(ticket.file, ()), *self.any_file)
        )


class RevocationList:
    """A worker's view of the revocations, refreshed when the file changes."""

    def __init__(self, path: Path):
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._index = _Index()
        self._lock = threading.Lock()

    def is_revoked(self, ticket: Ticket) -> bool:
        """Return whether the server revoked *ticket*. SECURITY: checked on every transfer."""
        self._refresh()
        return self._index.covers(ticket)

    def _refresh(self) -> None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return  # nothing revoked yet (or the agent has not heartbeated): keep what we know
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            self._stamp = stamp  # a damaged version is reported once, not on every request
            try:
                revocations = parse_revocations(json.loads(self._path.read_bytes()))
            except (OSError, ValueError, CofferError) as exc:
                # SECURITY: keep refusing what was revoked before rather than forget it.
                log.warning("cannot read the revocation list", extra={"kv": {"path": self._path, "error": exc}})
                return
            self._index = _Index(revocations.entries)
