"""The client's errors: what the server said, or why we could not ask it. Each carries an exit code.

CofferError (protocol.errors)
└── ClientError                exit 1
    ├── UsageError             exit 2   the command line or a local file is wrong
    │   └── LocalFileError              a local file or directory cannot be read or written
    ├── KeyChanged             exit 7   a user's public key is not the one pinned for them earlier
    ├── ConnectionFailed       exit 3   the server or fileserver cannot be reached
    │   ├── TransferFailed     exit 3   a chunk could not be moved after its retries
    │   │   └── NoLiveFileserver        no live fileserver can take or serve the shard
    │   └── FileserverUnavailable       one fileserver failed (internal: the engine tries another)
    │       └── FileserverBusy          429: at its transfer limit; try another or come back after retry_after
    ├── NotLoggedIn            exit 4   no stored session: run `coffer login`
    └── ApiError               exit 1   the server answered with an error body
        ├── AuthError          exit 4   401: the session or credentials are not valid
        ├── PermissionDenied   exit 5   403
        ├── NotFoundError      exit 6   404, or 410 (expired)
        ├── RateLimited        exit 1   429: too many requests or failed logins; the message says when to retry
        └── FileserverRefused  exit 1   a fileserver refused a chunk for a reason a retry cannot fix
            ├── TicketRejected          401 ticket_expired/ticket_revoked (internal: fetch a new ticket)
            └── ChunkAbsent             404: this fileserver does not hold the chunk (internal)

The format's own errors (``coffer.format.errors``: integrity, link keys, unknown versions)
carry no exit code; :func:`exit_code` gives them theirs from one table:

    IntegrityError, KeyMismatch     exit 7   ciphertext or a record fails its checks
    LinkPasswordWrong               exit 7   a locked link does not open
    BadInput and its links errors   exit 2   a link, password or fingerprint in no form the format reads
    UnknownFormatVersion            exit 8   a file written by a newer coffer: upgrade
    CryptoUnavailable, the rest     exit 1
"""

from __future__ import annotations

import math

from coffer.format import errors as format_errors
from coffer.protocol.errors import CofferError


class ClientError(CofferError):
    code = "client_error"
    exit_code = 1


class UsageError(ClientError):
    code = "usage"
    exit_code = 2


class LocalFileError(UsageError):
    """This machine's filesystem refused: no such directory, no permission, a full disk, an I/O error."""

    code = "local_file"


def local_file_error(exc: OSError, doing: str, then: str = "") -> LocalFileError:
    """A :class:`LocalFileError` that says what was being done, on which file, what the system said, and *then*."""
    where = f" ({exc.filename})" if exc.filename else ""
    return LocalFileError(f"{doing} failed on this machine: {exc.strerror or exc}{where}{then}")


class KeyChanged(ClientError):
    """A user's public key differs from the fingerprint pinned for them: the server may be handing out a false key."""

    code = "key_changed"
    exit_code = 7


class ConnectionFailed(ClientError):
    code = "connection_failed"
    exit_code = 3


class NotLoggedIn(ClientError):
    code = "not_logged_in"
    exit_code = 4


class TransferFailed(ConnectionFailed):
    """A chunk could not be moved: every fileserver tried failed, for longer than the retries allow."""

    code = "transfer_failed"


class NoLiveFileserver(TransferFailed):
    code = "no_live_fileserver"


class FileserverUnavailable(ConnectionFailed):
    """One fileserver failed (no answer, 5xx, full, busy): the transfer engine moves the chunk elsewhere."""

    code = "fileserver_unavailable"


class FileserverBusy(FileserverUnavailable):
    """The fileserver runs as many transfers as it may: the engine tries another, or this one after ``retry_after``."""

    code = "fileserver_busy"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None):
        super().__init__(message, code=code, status=429)
        self.retry_after = retry_after


class ApiError(ClientError):
    """The server answered with ``{"error": code, "message": ...}``; ``code`` is its code."""


class AuthError(ApiError):
    exit_code = 4


class PermissionDenied(ApiError):
    exit_code = 5


class NotFoundError(ApiError):
    exit_code = 6


class RateLimited(ApiError):
    """The server refused for now (429); ``retry_after`` is the seconds it asked us to wait, if it said."""

    def __init__(self, message: str, *, code: str, retry_after: float | None):
        super().__init__(message, code=code, status=429)
        self.retry_after = retry_after


class FileserverRefused(ApiError):
    """A fileserver refused a transfer with a 4xx that another attempt would not change."""


class TicketRejected(FileserverRefused):
    """The ticket expired or was revoked: the engine asks the server for a fresh one."""


class ChunkAbsent(FileserverRefused):
    """This fileserver does not hold the chunk."""


FORMAT_EXIT_CODES: dict[type[format_errors.FormatError], int] = {
    format_errors.IntegrityError: 7,
    format_errors.LinkPasswordWrong: 7,
    format_errors.BadInput: 2,
    format_errors.UnknownFormatVersion: 8,
    format_errors.FormatError: 1,
}
"""The exit code of each format error, found by its nearest class in the table."""


def exit_code(error: CofferError) -> int:
    """Return the exit code the ``coffer`` command ends with when *error* stops it."""
    if isinstance(error, ClientError):
        return error.exit_code
    for cls in type(error).__mro__:
        if cls in FORMAT_EXIT_CODES:
            return FORMAT_EXIT_CODES[cls]
    return 1


_BY_STATUS: dict[int, type[ApiError]] = {401: AuthError, 403: PermissionDenied, 404: NotFoundError, 410: NotFoundError}


def from_response(status: int, code: str, message: str, retry_after: float | None = None) -> ApiError:
    """Turn an error answer back into the matching exception (the inverse of the server's mapping)."""
    if status == 429:
        return RateLimited(rate_limit_message(code, message, retry_after), code=code, retry_after=retry_after)
    return _BY_STATUS.get(status, ApiError)(message, code=code, status=status)


def rate_limit_message(code: str, message: str, retry_after: float | None) -> str:
    """Say what a 429 means for the person at the keyboard, and how long to wait."""
    wait = f"in {human_seconds(retry_after)}" if retry_after is not None else "later"
    if code == "login_locked":
        return (
            "logins for this name or from this address are locked after repeated failed attempts: "
            f"try again {wait}, or ask an administrator"
        )
    if code == "login_throttled":
        return f"too many failed logins for this name or from this address: try again {wait}"
    if retry_after is None:
        return f"the server is limiting requests: {message}"
    return f"the server is limiting requests from this client: try again {wait}"


def human_seconds(seconds: float) -> str:
    """Render a wait for people: ``45 s``, ``15 min``, ``2 h``."""
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{math.ceil(seconds / 3600)} h"
