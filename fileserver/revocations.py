"""The list of revoked tickets: written by the agent from each heartbeat answer, read by every worker.

The server revokes a ticket (a user logged out, a share was withdrawn) and lists it
in its heartbeat answers until it expires. The agent writes that list to
``<data_dir>/revoked.json`` as ``[{"jti": ..., "exp": ...}]``, atomically; workers
stat the file on each request and reread it only when it changed, so a revocation
reaches every worker within one heartbeat and costs one ``stat`` per request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from coffer.protocol.errors import CofferError
from coffer.protocol.messages import parse_revoked_tickets as parse_revocations

from .storage.fsutil import atomic_write_json

log = logging.getLogger(__name__)

FILE_NAME = "revoked.json"


def write_revocations(path: Path, revoked: dict[str, int]) -> None:
    """Replace the file with *revoked* (jti → expiry), atomically."""
    atomic_write_json(path, [{"jti": jti, "exp": exp} for jti, exp in sorted(revoked.items())])


class RevocationList:
    """A worker's view of the revoked tickets, refreshed when the file changes."""

    def __init__(self, path: Path):
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._revoked: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def is_revoked(self, jti: str) -> bool:
        """Return whether the ticket *jti* was revoked. SECURITY: checked on every transfer."""
        self._refresh()
        return jti in self._revoked

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
                revoked = parse_revocations(json.loads(self._path.read_bytes()))
            except (OSError, ValueError, CofferError) as exc:
                # SECURITY: keep refusing what was revoked before rather than forget it.
                log.warning("cannot read the revoked-ticket list", extra={"kv": {"path": self._path, "error": exc}})
                return
            self._revoked = frozenset(revoked)
