"""The server's errors, each with the HTTP status and code it is answered with.

    CofferError (protocol.errors)
    ├── ProtocolError                 400 a request breaks the wire protocol
    └── ServerError
        ├── BadRequest                400 a field is missing or out of range
        ├── Unauthorized              401 no valid session, or wrong credentials
        ├── Forbidden                 403 authenticated, but not allowed
        │   ├── ShardNotAllowed       403 a fileserver announced more than its cluster has
        │   ├── QuotaExceeded         403 the upload would pass the user's byte or file quota
        │   └── OnHold                403 the file is under legal hold: it cannot be deleted
        ├── NotFound                  404
        │   └── FileserverUnknown     404 the fileserver must register again
        ├── Conflict                  409 the request contradicts the current state
        ├── Gone                      410 the file expired and is being deleted
        ├── Replay                    401 a signed request was seen before
        ├── BodyTimeout               408 the request body stopped arriving (``body_idle_timeout``)
        ├── RateLimited               429 too many requests: retry after ``Retry-After`` seconds
        ├── Unavailable               503 the database or a dependency is down
        └── NotReady                  503 /api/ready: this instance cannot serve yet (its database)

The Falcon app maps every one of them to ``{"error": code, "message": text}``
in one place (``server.app``); the client maps the codes back.
"""

from __future__ import annotations

from coffer.protocol.errors import CofferError


class ServerError(CofferError):
    code = "server_error"
    status = 500


class BadRequest(ServerError):
    code = "bad_request"
    status = 400


class Unauthorized(ServerError):
    code = "unauthorized"
    status = 401


class Forbidden(ServerError):
    code = "forbidden"
    status = 403


class ShardNotAllowed(Forbidden):
    code = "shard_not_allowed"


class QuotaExceeded(Forbidden):
    code = "quota_exceeded"


class OnHold(Forbidden):
    code = "file_on_hold"


class NotFound(ServerError):
    code = "not_found"
    status = 404


class FileserverUnknown(NotFound):
    code = "fileserver_unknown"


class Conflict(ServerError):
    code = "conflict"
    status = 409


class Gone(ServerError):
    code = "gone"
    status = 410


class Replay(ServerError):
    code = "replayed_request"
    status = 401


class BodyTimeout(ServerError):
    code = "body_timeout"
    status = 408


class Unavailable(ServerError):
    code = "unavailable"
    status = 503


class NotReady(ServerError):
    """Answered by the readiness probe while a dependency this instance needs does not answer."""

    code = "not_ready"
    status = 503


class RateLimited(ServerError):
    """Answered as 429 with ``Retry-After``, so a well-behaved client knows when to come back."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, code: str | None = None):
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, code=code, details={"retry_after": seconds}, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds
