"""The fileserver's errors: each has the HTTP status and wire code it is answered with.

The tree (ticket errors come from :mod:`coffer.protocol.tickets` and are answered the same way)::

    CofferError                                  protocol.errors
    ├── ProtocolError              400 bad_request, invalid_<id>   protocol.errors / protocol.ids
    │   └── TicketError            401 ticket_invalid              protocol.tickets
    │       ├── TicketExpired      401 ticket_expired
    │       ├── TicketUnknownKey   401 ticket_unknown_key
    │       ├── TicketRevoked      401 ticket_revoked
    │       ├── TicketScope        403 ticket_scope
    │       ├── UploadExceedsDeclared 413 upload_exceeds_declared: past the file's declared count or bytes
    │       └── TicketMissing      401 ticket_missing              (here)
    ├── FileserverError            500 fileserver_error
    │   ├── ShardNotServed         404 shard_not_served
    │   ├── ShardReadOnly          403 shard_read_only
    │   ├── ShardWriteOnly         403 shard_write_only
    │   ├── LengthRequired         411 length_required
    │   ├── ChunkTooLarge          413 chunk_too_large
    │   ├── HeadersTooLarge        431 headers_too_large
    │   ├── FileserverBusy         429 fileserver_busy: at max_transfers; Retry-After says when to come back
    │   └── NotReady               503 not_ready: /api/ready, a shard not writable or not registered
    └── StorageError               500 storage_error: the backends' own tree, in storage/errors.py
        ├── ChunkNotFound          404 chunk_not_found
        ├── BadRange               416 range_not_satisfiable
        ├── UploadRejected         4xx: the body is not the chunk it claims to be
        │   ├── SizeMismatch       400 size_mismatch
        │   ├── HashMismatch       422 hash_mismatch
        │   └── BodyStalled        408 body_timeout: no byte for body_idle_timeout seconds
        ├── StorageFull            507 storage_full
        ├── StorageUnavailable     503 storage_unavailable
        └── BackendUnavailable     500 backend_unavailable  (configuration: an unknown or uninstalled backend)

Errors that come from bad input say what was wrong and what the client should do;
:func:`coffer.fileserver.data.app` turns every one of them into ``{"error": code, "message": text}``.
"""

from __future__ import annotations

from coffer.protocol.errors import CofferError
from coffer.protocol.tickets import TicketError

from .storage.errors import BackendUnavailable as BackendUnavailable
from .storage.errors import BadRange as BadRange
from .storage.errors import BodyStalled as BodyStalled
from .storage.errors import ChunkNotFound as ChunkNotFound
from .storage.errors import HashMismatch as HashMismatch
from .storage.errors import SizeMismatch as SizeMismatch
from .storage.errors import StorageError as StorageError
from .storage.errors import StorageFull as StorageFull
from .storage.errors import StorageUnavailable as StorageUnavailable
from .storage.errors import UploadRejected as UploadRejected


class TicketMissing(TicketError):
    """The request carries no ``Authorization: Ticket <token>`` header."""

    code = "ticket_missing"
    status = 401


class FileserverError(CofferError):
    """Base of the errors this fileserver raises itself; ``headers`` go out with the answer."""

    code = "fileserver_error"
    status = 500


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


class HeadersTooLarge(FileserverError):
    code = "headers_too_large"
    status = 431


class NotReady(FileserverError):
    """Answered by the readiness probe while a shard cannot be written or the server has not accepted us."""

    code = "not_ready"
    status = 503


class FileserverBusy(FileserverError):
    """This fileserver already runs as many transfers as it may: try another one, or come back after Retry-After."""

    code = "fileserver_busy"
    status = 429

    def __init__(self, message: str, *, retry_after: int = 1):
        seconds = max(1, retry_after)
        super().__init__(message, headers={"Retry-After": str(seconds)}, details={"retry_after": seconds})
        self.retry_after = seconds
