"""The one storage interface every chunk backend implements (local disk now; S3, GCS, Azure later).

Shaped like borgstore's ``BackendBase``: a small set of verbs, with name and range
checks done here in the base class before any backend code runs, so a backend
never sees a name that could escape its namespace. Chunks are named by the
SHA-256 of their content (64 lowercase hex digits) and never change once stored.

A backend implements the ``_verbs``; callers use the public verbs:

- ``put(name, stream, size, sha256_hex)``: stream a chunk in, verifying size and
  hash as it arrives; atomic (whole or absent); True if created, False if it was
  already there. A body that is short, long or has the wrong hash raises
  :class:`SizeMismatch` / :class:`HashMismatch` and leaves nothing behind.
- ``open(name, start, length)``: a :class:`ChunkStream` of the chunk or a range of it.
- ``exists``, ``stat``, ``delete``, ``list``; optional ``quarantine``, ``free_bytes``,
  ``volume`` and ``cleanup`` have defaults.
"""

from __future__ import annotations

import abc
import errno
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Protocol

from protocol.ids import CHUNK_HASH_RE, check_chunk_hash

from ..errors import ChunkNotFound, HashMismatch, SizeMismatch, StorageFull, StorageUnavailable

BLOCK_SIZE = 1 << 20
"""The largest piece read or written at once: memory stays flat whatever the chunk size."""


class Readable(Protocol):
    """Anything with ``read(n)``: a request body, a file, a socket stream."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class ChunkStat:
    size: int
    mtime: float


class ChunkStream(abc.ABC):
    """The bytes of one chunk (or range of it), as blocks of at most :data:`BLOCK_SIZE`.

    It is an iterator with ``close()``, which is what a WSGI server streams and then
    closes (PEP 3333), so a download never holds a whole chunk in memory.
    """

    def __iter__(self) -> Iterator[bytes]:
        return self

    @abc.abstractmethod
    def __next__(self) -> bytes: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class VerifyingReader:
    """Read exactly *size* bytes from *stream*, hashing them; the read that ends it checks the result.

    The final ``read`` (the one that returns ``b""``) raises :class:`SizeMismatch`
    or :class:`HashMismatch` if the body was not the chunk it claimed to be, so a
    backend that copies until ``b""`` and only then commits can never commit a bad
    chunk. Cloud SDKs that pull from a file-like object get the same guarantee.
    """

    def __init__(self, stream: Readable, size: int, sha256_hex: str):
        self._stream = stream
        self.size = size
        self.expected = sha256_hex
        self.received = 0
        self.verified = False
        self._hash = hashlib.sha256()

    def read(self, size: int = BLOCK_SIZE, /) -> bytes:
        """Return the next piece of at most *size* (and at most 1 MiB) bytes, or b"" once verified."""
        if self.verified:
            return b""
        want = min(size if size > 0 else BLOCK_SIZE, BLOCK_SIZE, self.size - self.received)
        if want <= 0:
            self._finish()
            return b""
        piece = self._read(want)
        if not piece:
            raise SizeMismatch(
                f"the body ended after {self.received} of the {self.size} bytes its Content-Length declared: "
                "the upload was interrupted; send the chunk again (nothing was stored)"
            )
        self.received += len(piece)
        if self.received > self.size:
            raise SizeMismatch(f"the body is longer than the {self.size} bytes declared (nothing was stored)")
        self._hash.update(piece)
        return piece

    def _read(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except OSError as exc:
            # The client went away or stalled: the body is short, not our storage at fault.
            raise SizeMismatch(
                f"reading the body failed after {self.received} of {self.size} bytes ({exc.__class__.__name__}): "
                "send the chunk again (nothing was stored)"
            ) from exc

    def _finish(self) -> None:
        if self._read(1):
            raise SizeMismatch(f"the body is longer than the {self.size} bytes declared (nothing was stored)")
        actual = self._hash.hexdigest()
        if actual != self.expected:
            raise HashMismatch(
                f"the body's SHA-256 is {actual}, not {self.expected}: the chunk was damaged in transit or "
                "the client hashed something else; nothing was stored, send it again"
            )
        self.verified = True


def check_name(name: object) -> str:
    """Return *name* if it is a chunk name (64 lowercase hex digits); anything else is a 400.

    SECURITY: the only names a backend ever sees, so none can reach outside its namespace.
    """
    return check_chunk_hash(name)


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Turn the storage's own OS errors into 507/503 answers that say what failed."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"{what}: the storage is full; try another fileserver") from exc
        raise StorageUnavailable(
            f"{what}: the storage failed ({exc.strerror or exc.__class__.__name__}); try another fileserver"
        ) from exc


class Backend(abc.ABC):
    """Where one shard's chunks live. Subclasses implement the ``_verbs``; see the module docstring."""

    kind: ClassVar[str] = ""
    """The name configs use for this backend (``backend = "local"``)."""

    Options: ClassVar[type[Any]]
    """A dataclass of the backend's own keys in a ``[[shards]]`` table (``path``, ``bucket``…)."""

    @classmethod
    @abc.abstractmethod
    def from_options(cls, options: Any, *, shard: str, data_dir: Path) -> Backend:
        """Return a backend for *shard* from its validated *options*."""

    # -- the public verbs: checks here, work in the subclass --------------------------------

    def put(self, name: str, stream: Readable, size: int, sha256_hex: str) -> bool:
        """Store *size* bytes from *stream* as chunk *name* if they hash to *sha256_hex*; True if created."""
        name = check_name(name)
        sha256_hex = check_chunk_hash(sha256_hex)
        if size < 0:
            raise SizeMismatch("a chunk size cannot be negative")
        with storage_errors(f"storing chunk {name[:12]}"):
            return self._put(name, VerifyingReader(stream, size, sha256_hex))

    def open(self, name: str, start: int = 0, length: int | None = None) -> ChunkStream:
        """Return the bytes of chunk *name* from *start*, *length* of them (to the end if None)."""
        name = check_name(name)
        if start < 0 or (length is not None and length < 0):
            raise ValueError("start and length must not be negative")
        with storage_errors(f"reading chunk {name[:12]}"):
            return self._open(name, start, length)

    def exists(self, name: str) -> bool:
        name = check_name(name)
        with storage_errors(f"looking up chunk {name[:12]}"):
            return self._exists(name)

    def stat(self, name: str) -> ChunkStat:
        """Return size and modification time of chunk *name*; :class:`ChunkNotFound` if absent."""
        name = check_name(name)
        with storage_errors(f"looking up chunk {name[:12]}"):
            return self._stat(name)

    def delete(self, name: str) -> None:
        """Remove chunk *name*; :class:`ChunkNotFound` if absent."""
        name = check_name(name)
        with storage_errors(f"deleting chunk {name[:12]}"):
            self._delete(name)

    def list(self) -> Iterator[str]:
        """Yield the name of every stored chunk, in no particular order."""
        for name in self._list():
            if CHUNK_HASH_RE.match(name):
                yield name

    def quarantine(self, name: str) -> None:
        """Take a chunk that failed its scrub out of service; :class:`ChunkNotFound` if absent."""
        name = check_name(name)
        with storage_errors(f"quarantining chunk {name[:12]}"):
            self._quarantine(name)

    def free_bytes(self) -> int | None:
        """Return the bytes still free for chunks, or None if the backend has no useful limit."""
        return None

    def volume(self) -> str:
        """Name the capacity pool this backend draws from, so shards on one disk are counted once."""
        return f"{self.kind}:{id(self)}"

    def cleanup(self, older_than: float) -> int:
        """Remove leftovers of interrupted writes older than *older_than* seconds; return how many."""
        return 0

    # -- what a backend implements ----------------------------------------------------------

    @abc.abstractmethod
    def _put(self, name: str, reader: VerifyingReader) -> bool:
        """Copy *reader* until it returns b"" (which verifies it), then commit atomically."""

    @abc.abstractmethod
    def _open(self, name: str, start: int, length: int | None) -> ChunkStream: ...

    def _exists(self, name: str) -> bool:
        try:
            self._stat(name)
        except ChunkNotFound:
            return False
        return True

    @abc.abstractmethod
    def _stat(self, name: str) -> ChunkStat:
        """Return the chunk's size and mtime; raise :class:`ChunkNotFound` if it is absent."""

    @abc.abstractmethod
    def _delete(self, name: str) -> None:
        """Remove the chunk; raise :class:`ChunkNotFound` if it is absent."""

    @abc.abstractmethod
    def _list(self) -> Iterator[str]: ...

    def _quarantine(self, name: str) -> None:
        """Take the chunk out of service; backends with somewhere to keep it for inspection override this."""
        self._delete(name)
