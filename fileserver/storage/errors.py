"""The storage backends' errors: each has the HTTP status and wire code the fileserver answers it with.

They depend on nothing of the fileserver, so the backend package stands on its own::

    CofferError                                  coffer.protocol.errors
    └── StorageError               500 storage_error
        ├── ChunkNotFound          404 chunk_not_found
        ├── BadRange               416 range_not_satisfiable
        ├── UploadRejected         4xx: the body is not the chunk it claims to be
        │   ├── SizeMismatch       400 size_mismatch
        │   ├── HashMismatch       422 hash_mismatch
        │   └── BodyStalled        408 body_timeout: no byte for body_idle_timeout seconds
        ├── StorageFull            507 storage_full
        ├── StorageUnavailable     503 storage_unavailable
        └── BackendUnavailable     500 backend_unavailable  (configuration: an unknown or uninstalled backend)
"""

from __future__ import annotations

from coffer.protocol.errors import CofferError


class StorageError(CofferError):
    """Base of the errors a storage backend raises."""

    code = "storage_error"
    status = 500


class ChunkNotFound(StorageError):
    code = "chunk_not_found"
    status = 404


class BadRange(StorageError):
    """The Range header is malformed or outside the chunk; the answer names the chunk size."""

    code = "range_not_satisfiable"
    status = 416

    def __init__(self, message: str, *, size: int | None = None):
        super().__init__(message, headers={"Content-Range": f"bytes */{size}"} if size is not None else None)
        self.size = size


class UploadRejected(StorageError):
    """The uploaded body is not the chunk it claims to be; nothing was stored."""

    status = 400


class SizeMismatch(UploadRejected):
    code = "size_mismatch"
    status = 400


class HashMismatch(UploadRejected):
    code = "hash_mismatch"
    status = 422


class BodyStalled(UploadRejected):
    """The body stopped arriving for longer than the socket's read timeout; the connection is closed."""

    code = "body_timeout"
    status = 408


class StorageFull(StorageError):
    code = "storage_full"
    status = 507


class StorageUnavailable(StorageError):
    code = "storage_unavailable"
    status = 503


class BackendUnavailable(StorageError):
    """A shard names a backend this installation cannot provide."""

    code = "backend_unavailable"
    status = 500
