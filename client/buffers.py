"""Chunk-sized buffers reused from chunk to chunk, so moving a file allocates no memory per chunk.

A fresh 8 MiB ``bytes`` or ``bytearray`` per chunk is a fresh ``mmap`` from glibc, and
every page of it faults on first touch: some 300,000 page faults per GB downloaded,
paid with the GIL held. A transfer instead takes its buffers from a :class:`BufferPool`
it owns, at most as many as it has chunks in flight, and drops the pool when it ends.

The buffers are anonymous memory maps, not ``bytearray``: a ``bytearray`` is zeroed
when made, 6-7 ms for 8 MiB here with the GIL held, so a 25 MB download's workers
started their chunks 6 ms apart, one after another; a map's pages are zeroed by the
kernel as they are first written, by the ``recv_into`` or ``readinto`` that fills them
with the GIL released. Maps are page-aligned too, as writing a buffer with ``O_DIRECT``
requires (:mod:`client.part_writer`).
"""

from __future__ import annotations

import mmap
import threading

Buffer = bytearray | mmap.mmap
"""A chunk-sized writable buffer; both kinds take slice assignment and give a ``memoryview``."""


class BufferPool:
    """Up to *count* writable buffers of *size* bytes, made when first needed and handed out one at a time.

    :meth:`take` blocks while all *count* are out; whoever takes a buffer gives it back
    with :meth:`give` once nothing reads it any more (it may be another thread). The
    buffer given back last is handed out next, while its pages are still warm.
    """

    def __init__(self, size: int, count: int):
        if size < 0 or count < 1:
            raise ValueError("a buffer pool needs a size of at least 0 and a count of at least 1")
        self.size = size
        self.count = count
        self._free: list[Buffer] = []
        self._made = 0
        self._changed = threading.Condition()

    def take(self) -> Buffer:
        """Return a free buffer (its contents are whatever the last user left), waiting for one if need be."""
        with self._changed:
            while not self._free and self._made >= self.count:
                self._changed.wait()
            if self._free:
                return self._free.pop()
            self._made += 1
        try:
            return mmap.mmap(-1, self.size) if self.size else bytearray()  # an empty map cannot be made
        except BaseException:
            with self._changed:
                self._made -= 1
                self._changed.notify()
            raise

    def give(self, buffer: Buffer) -> None:
        """Hand *buffer* back for the next :meth:`take`."""
        with self._changed:
            self._free.append(buffer)
            self._changed.notify()

    @property
    def made(self) -> int:
        """How many buffers this pool has allocated so far."""
        return self._made

    @property
    def out(self) -> int:
        """How many buffers are taken and not yet given back."""
        with self._changed:
            return self._made - len(self._free)
