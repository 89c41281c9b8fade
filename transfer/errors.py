"""The transfer engine's errors: how one request to a fileserver went, or why a chunk could not be moved.

CofferError (protocol.errors)
└── TransferError
    ├── TransferFailed                 a chunk could not be moved after its retries
    │   └── NoLiveFileserver           no live fileserver can take or serve the chunk
    ├── FileserverUnavailable          one fileserver failed (the engine tries another)
    │   └── FileserverBusy             429: at its transfer limit; another, or this one after retry_after
    └── FileserverRefused              a fileserver refused for a reason a retry cannot fix
        ├── TicketRejected             401 ticket_expired/ticket_revoked (the engine renews the ticket once)
        └── ChunkAbsent                404: this fileserver does not hold the chunk (the engine tries another)

Stopped (Exception) is no error: the transfer is being abandoned, and a worker
gives up between attempts. These errors carry no exit code: each program decides
what they mean for its user (the client's table is in ``client.errors``).
"""

from __future__ import annotations

from coffer.protocol.errors import CofferError


class TransferError(CofferError):
    code = "transfer_error"


class TransferFailed(TransferError):
    """A chunk could not be moved: every fileserver tried failed, for longer than the retries allow."""

    code = "transfer_failed"


class NoLiveFileserver(TransferFailed):
    code = "no_live_fileserver"


class FileserverUnavailable(TransferError):
    """One fileserver failed (no answer, 5xx, full, busy): the transfer engine moves the chunk elsewhere."""

    code = "fileserver_unavailable"


class FileserverBusy(FileserverUnavailable):
    """The fileserver runs as many transfers as it may: the engine tries another, or this one after ``retry_after``."""

    code = "fileserver_busy"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None):
        super().__init__(message, code=code, status=429)
        self.retry_after = retry_after


class FileserverRefused(TransferError):
    """A fileserver refused a transfer with a 4xx that another attempt would not change."""

    code = "fileserver_refused"


class TicketRejected(FileserverRefused):
    """The ticket expired or was revoked: the engine asks for a fresh one."""


class ChunkAbsent(FileserverRefused):
    """This fileserver does not hold the chunk."""


class Stopped(Exception):
    """The transfer is being abandoned: a worker gives up between attempts."""
