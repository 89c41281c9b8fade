"""Chunk-sized buffers reused from chunk to chunk, so moving a file allocates no memory per chunk.

A fresh 8 MiB ``bytes`` or ``bytearray`` per chunk is a fresh ``mmap`` from glibc, and
every page of it faults on first touch: some 300,000 page faults per GB downloaded,
paid with the GIL held. A transfer instead takes its buffers from a :class:`BufferPool`
it owns, at most as many as it has chunks in flight, and drops the pool when it ends.

A pool made with ``aligned`` hands out anonymous memory maps instead: page-aligned, as
writing a buffer with ``O_DIRECT`` requires (:mod:`client.part_writer`).
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

    def __init__(self, size: int, count: int, *, aligned: bool = False):
        if size < 0 or count < 1:
            raise ValueError("a buffer pool needs a size of at least 0 and a count of at least 1")
        self.size = size
        self.count = count
        self.aligned = aligned and size > 0  # an empty map cannot be made, and nothing is written from one
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
            return mmap.mmap(-1, self.size) if self.aligned else bytearray(self.size)
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
