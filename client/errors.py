"""The client's errors: what the server said, or why we could not ask it; and the exit code of every error.

CofferError (protocol.errors)
├── ClientError                exit 1
│   ├── UsageError             exit 2   the command line or a local file is wrong
│   │   └── LocalFileError              a local file or directory cannot be read or written
│   ├── KeyChanged             exit 7   a user's public key is not the one pinned for them earlier
│   ├── ConnectionFailed       exit 3   the server cannot be reached
│   │   └── GatewayFailed               a proxy in front of the server answered 502/504 with no Coffer body
│   ├── NotLoggedIn            exit 4   no stored session: run `coffer login`
│   └── ApiError               exit 1   the server answered with an error body
│       ├── AuthError          exit 4   401: the session or credentials are not valid
│       ├── PermissionDenied   exit 5   403
│       ├── NotFoundError      exit 6   404, or 410 (expired)
│       └── RateLimited        exit 1   429: too many requests or failed logins; the message says when to retry
├── TransferError              exit 1   moving chunks (coffer.transfer.errors)
│   ├── TransferFailed         exit 3   a chunk could not be moved after its retries
│   │   └── NoLiveFileserver            no live fileserver can take or serve the shard
│   ├── FileserverUnavailable  exit 3   one fileserver failed (internal: the engine tries another)
│   │   └── FileserverBusy              429: at its transfer limit; try another or come back after retry_after
│   └── FileserverRefused      exit 1   a fileserver refused a chunk for a reason a retry cannot fix
│       ├── TicketRejected              401 ticket_expired/ticket_revoked (internal: fetch a new ticket)
│       └── ChunkAbsent                 404: this fileserver does not hold the chunk (internal)
└── FormatError                exit 1   the format's own (coffer.format.errors)
    ├── IntegrityError, KeyMismatch     exit 7   ciphertext or a record fails its checks
    ├── LinkPasswordWrong               exit 7   a locked link does not open
    ├── BadInput and its link errors    exit 2   a link, password or fingerprint in no form the format reads
    └── UnknownFormatVersion            exit 8   a file written by a newer coffer: upgrade

Client errors carry their exit code; the transfer engine's and the format's carry none, and
:func:`exit_code` gives them theirs from one table, :data:`EXIT_CODES`.
"""

from __future__ import annotations

import math

from coffer.format import errors as format_errors
from coffer.protocol.errors import CofferError
from coffer.transfer import errors as transfer


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


class GatewayFailed(ConnectionFailed):
    """A load balancer answered for a server instance it could not reach or that died mid-request.

    Nothing says whether the instance acted, exactly as when a connection drops before the answer,
    so it is retried where a dropped connection is.
    """

    code = "gateway_failed"


class NotLoggedIn(ClientError):
    code = "not_logged_in"
    exit_code = 4


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


EXIT_CODES: dict[type[CofferError], int] = {
    format_errors.IntegrityError: 7,
    format_errors.LinkPasswordWrong: 7,
    format_errors.BadInput: 2,
    format_errors.UnknownFormatVersion: 8,
    format_errors.FormatError: 1,
    transfer.TransferFailed: 3,
    transfer.FileserverUnavailable: 3,
    transfer.FileserverRefused: 1,
    transfer.TransferError: 1,
}
"""The exit code of each format and transfer error, found by its nearest class here. A chunk that cannot be
moved is a connection failure (3), as a server that cannot be reached is; a fileserver that refuses is a
refusal (1), as the server's are."""


def exit_code(error: CofferError) -> int:
    """Return the exit code the ``coffer`` command ends with when *error* stops it."""
    if isinstance(error, ClientError):
        return error.exit_code
    return next((EXIT_CODES[cls] for cls in type(error).__mro__ if cls in EXIT_CODES), 1)


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
