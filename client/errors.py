"""The client's errors: what the server said, or why we could not ask it. Each carries an exit code.

CofferError (protocol.errors)
└── ClientError                exit 1
    ├── UsageError             exit 2   the command line or a local file is wrong
    ├── ConnectionFailed       exit 3   the server or fileserver cannot be reached
    ├── NotLoggedIn            exit 4   no stored session: run `coffer login`
    └── ApiError               exit 1   the server answered with an error body
        ├── AuthError          exit 4   401: the session or credentials are not valid
        ├── PermissionDenied   exit 5   403
        └── NotFoundError      exit 6   404
"""

from __future__ import annotations

from protocol.errors import CofferError


class ClientError(CofferError):
    code = "client_error"
    exit_code = 1


class UsageError(ClientError):
    code = "usage"
    exit_code = 2


class ConnectionFailed(ClientError):
    code = "connection_failed"
    exit_code = 3


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


_BY_STATUS: dict[int, type[ApiError]] = {401: AuthError, 403: PermissionDenied, 404: NotFoundError}


def from_response(status: int, code: str, message: str) -> ApiError:
    """Turn an error answer back into the matching exception (the inverse of the server's mapping)."""
    return _BY_STATUS.get(status, ApiError)(message, code=code, status=status)
