"""The one storage interface every chunk backend implements: local disk, S3, GCS, Azure Blob.

Shaped like borgstore's ``BackendBase``: a small set of verbs, with name and range
checks done here in the base class before any backend code runs, so a backend
never sees a name that could escape its namespace.

A chunk is stored under the file it belongs to: its name is
``protocol.ids.chunk_name(file_id, chunk_hash)`` = ``"<file id>/<sha256>"``. Two
files holding identical bytes therefore hold two objects, and deleting one file's
objects can never take a chunk another file still references; that is what makes
garbage collection provably safe. A stored chunk never changes.

A backend implements the ``_verbs``; callers use the public verbs:

- ``put(name, stream, size)``: stream a chunk in, verifying its size and that it
  hashes to the hash in its name as it arrives; atomic (whole or absent); True if
  created, False if it was already there. A body that is short, long or has the
  wrong hash raises :class:`SizeMismatch` / :class:`HashMismatch` and leaves
  nothing behind.
- ``open(name, start, length)``: a :class:`ChunkStream` of the chunk or a range of it.
- ``exists``, ``stat``, ``delete``, ``list`` (every name, ``F/H``).
- ``list_file(file_id)`` and ``delete_file(file_id)``: one file's chunks, and their
  verified removal (a purge order, an orphan). The defaults here walk ``list``;
  backends that can list one file cheaply (a directory, a key prefix) override them.
- ``file_sizes(file_id)``: one file's chunks with their sizes, which bounds what a
  pending upload may store here (counted before and after each put); the default
  lists the file and stats each chunk, the cloud backends take sizes from the listing.
- optional ``quarantine``, ``free_bytes``, ``volume`` and ``cleanup`` have defaults.
"""

from __future__ import annotations

import abc
import errno
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, ClassVar, Protocol, TypeVar

from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import check_id, split_chunk_name

from .errors import BodyStalled, ChunkNotFound, HashMismatch, SizeMismatch, StorageFull, StorageUnavailable

BLOCK_SIZE = 1 << 20
"""The largest piece read or written at once: memory stays flat whatever the chunk size."""

_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


class Readable(Protocol):
    """Anything with ``read(n)``: a request body, a file, a socket stream."""

    def read(self, size: int, /) -> bytes: ...


def filler(stream: Readable) -> Callable[[memoryview], int]:
    """Return a function that fills the start of a buffer from *stream* and says how many bytes came (0 at its end).

    It is the stream's own ``readinto`` where it has one, so each byte is copied once.
    """
    readinto: Callable[[memoryview], int] | None = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto

    def read_into(buffer: memoryview) -> int:
        piece = stream.read(buffer.nbytes)
        buffer[: len(piece)] = piece
        return len(piece)

    return read_into


_blocks = threading.local()


def block_buffer() -> memoryview:
    """Return this thread's reusable :data:`BLOCK_SIZE` buffer.

    A put streams its body through it, so storing a chunk allocates (and
    page-faults) no memory per block; a thread handles one request at a time, so
    one buffer a thread is enough.
    """
    buffer: memoryview | None = getattr(_blocks, "buffer", None)
    if buffer is None:
        buffer = _blocks.buffer = memoryview(bytearray(BLOCK_SIZE))
    return buffer


@dataclass(frozen=True)
class ChunkStat:
    size: int
    mtime: float


class LocalFile(Protocol):
    """An open local file, positioned at the first byte to send: what ``sendfile`` can send without Python."""

    def fileno(self) -> int: ...

    def read(self, size: int, /) -> bytes: ...


class ChunkStream(abc.ABC):
    """The bytes of one chunk (or range of it), as blocks of at most :data:`BLOCK_SIZE`.

    It is an iterator with ``close()``, which is what a WSGI server streams and then
    closes (PEP 3333), so a download never holds a whole chunk in memory.
    """

    def local_file(self) -> LocalFile | None:
        """Return the open file this stream reads, positioned at its next byte, if it is a plain local file.

        The server can then hand it to the WSGI server's ``wsgi.file_wrapper``, which sends it
        with ``sendfile``: the kernel copies page cache to socket, and no block passes through
        Python. None (the default) for a stream that is not one (a cloud body, a decoder).
        """
        return None

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
        self._fill = filler(stream)
        self.size = size
        self.expected = sha256_hex
        self.received = 0
        self.verified = False
        self._hash = hashlib.sha256()

    def read(self, size: int = BLOCK_SIZE, /) -> bytes:
        """Return the next piece of at most *size* (and at most 1 MiB) bytes, or b"" once verified."""
        want = self._wanted(size if size > 0 else BLOCK_SIZE)
        if want == 0:
            return b""
        piece = self._guarded(self._stream.read, want)
        self._took(piece)
        return piece

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill the start of *buffer* with the next piece and return its length, or 0 once verified.

        The body goes from the socket into *buffer* and from there to the storage,
        with no ``bytes`` object made per piece when the stream can ``readinto``.
        """
        want = self._wanted(min(buffer.nbytes, BLOCK_SIZE))
        if want == 0:
            return 0
        into = buffer[:want]
        got = self._guarded(self._fill, into)
        self._took(into[:got])
        return got

    def write_to(self, f: BinaryIO) -> None:
        """Copy the whole body into the open file *f*, verified when this returns (fsync is the caller's)."""
        buffer = block_buffer()
        while got := self.readinto(buffer):
            f.write(buffer[:got])

    def _wanted(self, size: int) -> int:
        """Return how many bytes the next read may take: 0 once the body is verified (verifying it first)."""
        if self.verified:
            return 0
        want = min(size, BLOCK_SIZE, self.size - self.received)
        if want <= 0:
            self._finish()
            return 0
        return want

    def _took(self, piece: bytes | memoryview) -> None:
        if not piece:
            raise SizeMismatch(
                f"the body ended after {self.received} of the {self.size} bytes its Content-Length declared: "
                "the upload was interrupted; send the chunk again (nothing was stored)"
            )
        self.received += len(piece)
        if self.received > self.size:
            raise SizeMismatch(f"the body is longer than the {self.size} bytes declared (nothing was stored)")
        self._hash.update(piece)

    def _guarded(self, read: Callable[[_Arg], _Result], arg: _Arg) -> _Result:
        try:
            return read(arg)
        except TimeoutError as exc:
            raise BodyStalled(
                f"the body stopped arriving after {self.received} of the {self.size} bytes declared: the client "
                "stalled or its link dropped; send the chunk again (nothing was stored)"
            ) from exc
        except OSError as exc:
            # The client went away or stalled: the body is short, not our storage at fault.
            raise SizeMismatch(
                f"reading the body failed after {self.received} of {self.size} bytes ({exc.__class__.__name__}): "
                "send the chunk again (nothing was stored)"
            ) from exc

    def _finish(self) -> None:
        if self._guarded(self._stream.read, 1):
            raise SizeMismatch(f"the body is longer than the {self.size} bytes declared (nothing was stored)")
        actual = self._hash.hexdigest()
        if actual != self.expected:
            raise HashMismatch(
                f"the body's SHA-256 is {actual}, not {self.expected}: the chunk was damaged in transit or "
                "the client hashed something else; nothing was stored, send it again"
            )
        self.verified = True


def check_name(name: object) -> tuple[str, str]:
    """Return ``(file id, hash)`` of *name* if it is a chunk name ``"<file id>/<hash>"``; anything else is a 400.

    SECURITY: the only names a backend ever sees, so none can reach outside its namespace.
    """
    return split_chunk_name(name)


def is_chunk_name(name: str) -> bool:
    """Return whether *name* is a well-formed chunk name (a listing skips anything else)."""
    try:
        split_chunk_name(name)
    except ProtocolError:
        return False
    return True


def label(name: str) -> str:
    """Return a short form of chunk *name* for messages and logs: ``<file id>/<first 12 hex digits>``."""
    return name[:49]


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

    def put(self, name: str, stream: Readable, size: int) -> bool:
        """Store *size* bytes from *stream* as chunk *name* if they hash to the hash in the name; True if created."""
        _, chunk_hash = check_name(name)
        if size < 0:
            raise SizeMismatch("a chunk size cannot be negative")
        with storage_errors(f"storing chunk {label(name)}"):
            return self._put(name, VerifyingReader(stream, size, chunk_hash))

    def open(self, name: str, start: int = 0, length: int | None = None) -> ChunkStream:
        """Return the bytes of chunk *name* from *start*, *length* of them (to the end if None)."""
        check_name(name)
        if start < 0 or (length is not None and length < 0):
            raise ValueError("start and length must not be negative")
        with storage_errors(f"reading chunk {label(name)}"):
            return self._open(name, start, length)

    def exists(self, name: str) -> bool:
        check_name(name)
        with storage_errors(f"looking up chunk {label(name)}"):
            return self._exists(name)

    def stat(self, name: str) -> ChunkStat:
        """Return size and modification time of chunk *name*; :class:`ChunkNotFound` if absent."""
        check_name(name)
        with storage_errors(f"looking up chunk {label(name)}"):
            return self._stat(name)

    def delete(self, name: str) -> None:
        """Remove chunk *name*; :class:`ChunkNotFound` if absent."""
        check_name(name)
        with storage_errors(f"deleting chunk {label(name)}"):
            self._delete(name)

    def list(self) -> Iterator[str]:
        """Yield the name (``F/H``) of every stored chunk, in no particular order."""
        for name in self._list():
            if is_chunk_name(name):
                yield name

    def list_file(self, file_id: str) -> Iterator[str]:
        """Yield the names of the chunks stored for file *file_id*, in no particular order."""
        file_id = check_id(file_id, "file_id")
        prefix = f"{file_id}/"
        for name in self._list_file(file_id):
            if name.startswith(prefix) and is_chunk_name(name):
                yield name

    def file_sizes(self, file_id: str) -> dict[str, int]:
        """Return the chunks stored for file *file_id*, name to size in bytes.

        What is stored is the count that holds across workers and restarts, so the
        bound on a pending upload is taken from here rather than kept beside it.
        """
        file_id = check_id(file_id, "file_id")
        prefix = f"{file_id}/"
        with storage_errors(f"listing the chunks of file {file_id}"):
            sizes = self._file_sizes(file_id)
        return {name: size for name, size in sizes.items() if name.startswith(prefix) and is_chunk_name(name)}

    def delete_file(self, file_id: str) -> int:
        """Delete every chunk of file *file_id*, then list again to prove none is left; return how many went.

        Idempotent: a file with no chunks here returns 0. Copies the scrub
        quarantined go too, so a deleted file leaves no ciphertext behind. If a
        chunk is still listed afterwards (a delete the service acknowledged but did
        not do, an upload racing the purge) this raises :class:`StorageUnavailable`
        and the caller tries again later.
        """
        file_id = check_id(file_id, "file_id")
        what = f"deleting the chunks of file {file_id}"
        with storage_errors(what):
            deleted = self._delete_file(file_id)
            self._delete_quarantined(file_id)
            left = sum(1 for _ in self.list_file(file_id))
        if left:
            raise StorageUnavailable(
                f"{what}: {left} chunk(s) are still listed after deleting them (the storage did not delete "
                "them, or an upload of this file raced the deletion); it is retried at the next order"
            )
        return deleted

    def quarantine(self, name: str) -> None:
        """Take a chunk that failed its scrub out of service; :class:`ChunkNotFound` if absent."""
        check_name(name)
        with storage_errors(f"quarantining chunk {label(name)}"):
            self._quarantine(name)

    def free_bytes(self) -> int | None:
        """Return the bytes still free for chunks, or None if the backend has no useful limit."""
        return None

    def check_writable(self) -> None:
        """Raise OSError if a chunk could not be written here now (the readiness probe asks).

        By default nothing is checked: a cloud store's own answers to each upload say
        more than a probe object written every few seconds would, and cost nothing.
        """
        return None

    def used_bytes(self) -> int | None:
        """Return the bytes used where the chunks live (a disk), or None if the backend cannot tell cheaply."""
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
    def _list(self) -> Iterator[str]:
        """Yield every stored name; the base class drops anything that is not a chunk name."""

    def _list_file(self, file_id: str) -> Iterator[str]:
        """Yield the names of one file's chunks; this default walks everything, backends narrow it."""
        prefix = f"{file_id}/"
        return (name for name in self._list() if name.startswith(prefix))

    def _file_sizes(self, file_id: str) -> dict[str, int]:
        """Return one file's chunks and sizes; this default stats each listed chunk, services list sizes at once."""
        sizes: dict[str, int] = {}
        for name in self.list_file(file_id):
            try:
                sizes[name] = self._stat(name).size
            except ChunkNotFound:
                continue  # deleted since it was listed: it no longer counts
        return sizes

    def _delete_file(self, file_id: str) -> int:
        """Delete the chunks of one file; return how many were there. Backends with a bulk delete override it."""
        deleted = 0
        for name in list(self.list_file(file_id)):
            try:
                self._delete(name)
            except ChunkNotFound:
                continue  # gone meanwhile (a concurrent purge): the listing afterwards is what counts
            deleted += 1
        return deleted

    def _delete_quarantined(self, file_id: str) -> int:
        """Remove the copies of one file's chunks the scrub set aside; backends that keep them override this."""
        return 0

    def _quarantine(self, name: str) -> None:
        """Take the chunk out of service; backends with somewhere to keep it for inspection override this."""
        self._delete(name)
