"""Hash a download's plaintext in file order while its chunks finish in any order.

The whole file's SHA-256 (checked against the sealed metadata) needs the chunks in
order; the download's workers finish them in whatever order the fileservers answer.
A worker offers its chunk, still in its plaintext buffer, as soon as it is written;
the buffer is parked until every chunk before it is hashed, and goes back to its pool
once it is hashed itself. Whichever thread offers the chunk the hash needs next hashes
it and every parked chunk that follows, with the GIL released; the others go on
fetching. Chunks an earlier, interrupted run wrote are read back from the part file
when their turn comes, and only those.

Parking never spills to disk, so the download must not start more chunks than it has
buffers: it takes each chunk's plaintext buffer before it starts the chunk, in file
order (:meth:`client.download._Job._fetch_missing`). The chunk the hash needs next then
always holds a buffer of its own, and the parked ones wait for it, never the reverse.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable

from coffer.format.records import Layout

from .buffers import Buffer, BufferPool

READ_BLOCK = 1 << 20
Read = Callable[[int, int], bytes]
"""``read(size, offset)``: bytes of the part file, as ``os.pread`` without the descriptor gives them."""


class OrderedHash:
    """The SHA-256 of a file's plaintext, fed in order from chunks offered in any order (thread-safe)."""

    def __init__(self, layout: Layout, plain: BufferPool, read: Read, on_disk: Iterable[int] = ()):
        self._layout = layout
        self._plain = plain
        self._read = read
        self._on_disk = frozenset(on_disk)
        self._next = 0
        self._hasher = hashlib.sha256()
        self._parked: dict[int, Buffer] = {}
        self._lock = threading.Lock()
        self._draining = False

    @property
    def next_index(self) -> int:
        """The chunk the hash needs next: every chunk before it is hashed."""
        return self._next

    def hexdigest(self) -> str:
        """The digest so far; read it once every chunk was offered and :meth:`catch_up` returned."""
        return self._hasher.hexdigest()

    def offer(self, index: int, plain: Buffer) -> None:
        """Hand over chunk *index*, written, its plaintext at the start of *plain* (a buffer of the pool).

        The buffer belongs to this object from now on and goes back to the pool once
        the chunk is hashed: by this call, if the hash needed it, or by a later one.
        """
        with self._lock:
            self._parked[index] = plain
            if self._draining:
                return  # the thread that is hashing takes it, if it is next
            self._draining = True
        self._drain()

    def catch_up(self) -> None:
        """Hash, from the calling thread, every chunk that can be hashed now (an earlier run's, chiefly)."""
        with self._lock:
            if self._draining:
                return
            self._draining = True
        self._drain()

    def _drain(self) -> None:
        """Hash in order while the next chunk is parked or on disk; only one thread drains at a time."""
        try:
            while True:
                with self._lock:
                    plain = self._parked.pop(self._next, None)
                    if plain is None and self._next not in self._on_disk:
                        self._draining = False
                        return
                if plain is None:
                    self._from_disk()
                else:
                    self._hasher.update(memoryview(plain)[: self._layout.plain_length(self._next)])
                    self._plain.give(plain)
                self._next += 1
        except BaseException:
            with self._lock:
                self._draining = False
            raise

    def _from_disk(self) -> None:
        offset = self._layout.offset(self._next)
        end = offset + self._layout.plain_length(self._next)
        while offset < end:
            block = self._read(min(READ_BLOCK, end - offset), offset)
            if not block:
                break  # the part file is short: the whole-file check fails
            self._hasher.update(block)
            offset += len(block)
