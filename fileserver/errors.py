"""The fileserver's errors: each has the HTTP status and wire code it is answered with.

The tree (ticket errors come from :mod:`protocol.tickets` and are answered the same way)::

    CofferError                                  protocol.errors
    ├── ProtocolError              400 bad_request, invalid_<id>   protocol.errors / protocol.ids
    │   └── TicketError            401 ticket_invalid              protocol.tickets
    │       ├── TicketExpired      401 ticket_expired
    │       ├── TicketUnknownKey   401 ticket_unknown_key
    │       ├── TicketRevoked      401 ticket_revoked
    │       ├── TicketScope        403 ticket_scope
    │       └── TicketMissing      401 ticket_missing              (here)
    └── FileserverError            500 fileserver_error
        ├── ChunkNotFound          404 chunk_not_found
        ├── ShardNotServed         404 shard_not_served
        ├── ShardReadOnly          403 shard_read_only
        ├── ShardWriteOnly         403 shard_write_only
        ├── LengthRequired         411 length_required
        ├── ChunkTooLarge          413 chunk_too_large
        ├── BadRange               416 range_not_satisfiable
        ├── HeadersTooLarge        431 headers_too_large
        ├── FileserverBusy         429 fileserver_busy: at max_transfers; Retry-After says when to come back
        ├── UploadRejected         4xx: the body is not the chunk it claims to be
        │   ├── SizeMismatch       400 size_mismatch
        │   └── HashMismatch       422 hash_mismatch
        ├── StorageFull            507 storage_full
        ├── StorageUnavailable     503 storage_unavailable
        └── BackendUnavailable     500 backend_unavailable  (configuration: an unknown or uninstalled backend)

Errors that come from bad input say what was wrong and what the client should do;
:func:`fileserver.app` turns every one of them into ``{"error": code, "message": text}``.
"""

from __future__ import annotations

from coffer.protocol.errors import CofferError
from coffer.protocol.tickets import TicketError


class TicketMissing(TicketError):
    """The request carries no ``Authorization: Ticket <token>`` header."""

    code = "ticket_missing"
    status = 401


class FileserverError(CofferError):
    """Base of the errors this fileserver raises itself; ``headers`` go out with the answer."""

    code = "fileserver_error"
    status = 500


class ChunkNotFound(FileserverError):
    code = "chunk_not_found"
    status = 404


class ShardNotServed(FileserverError):
    code = "shard_not_served"
    status = 404


class ShardReadOnly(FileserverError):
    code = "shard_read_only"
    status = 403


class ShardWriteOnly(FileserverError):
    code = "shard_write_only"
    status = 403


class LengthRequired(FileserverError):
    code = "length_required"
    status = 411


class ChunkTooLarge(FileserverError):
    code = "chunk_too_large"
    status = 413


class BadRange(FileserverError):
    """The Range header is malformed or outside the chunk; the answer names the chunk size."""

    code = "range_not_satisfiable"
    status = 416

    def __init__(self, message: str, *, size: int | None = None):
        super().__init__(message, headers={"Content-Range": f"bytes */{size}"} if size is not None else None)
        self.size = size


class HeadersTooLarge(FileserverError):
    code = "headers_too_large"
    status = 431


class FileserverBusy(FileserverError):
    """This fileserver already runs as many transfers as it may: try another one, or come back after Retry-After."""

    code = "fileserver_busy"
    status = 429

    def __init__(self, message: str, *, retry_after: int = 1):
        seconds = max(1, retry_after)
        super().__init__(message, headers={"Retry-After": str(seconds)}, details={"retry_after": seconds})
        self.retry_after = seconds


class UploadRejected(FileserverError):
    """The uploaded body is not the chunk it claims to be; nothing was stored."""

    status = 400


class SizeMismatch(UploadRejected):
    code = "size_mismatch"
    status = 400


class HashMismatch(UploadRejected):
    code = "hash_mismatch"
    status = 422


class StorageFull(FileserverError):
    code = "storage_full"
    status = 507


class StorageUnavailable(FileserverError):
    code = "storage_unavailable"
    status = 503


class BackendUnavailable(FileserverError):
    """A shard names a backend this installation cannot provide."""

    code = "backend_unavailable"
    status = 500
