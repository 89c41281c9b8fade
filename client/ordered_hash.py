"""Hash a download's plaintext in file order while its chunks finish in any order.

The whole file's SHA-256 (checked against the sealed metadata) needs the chunks in
order; the download's workers finish them in whatever order the fileservers answer.
A worker offers its chunk, still in its plaintext buffer, as soon as it is written:

- the next chunk the hash needs is hashed at once, followed by any kept chunks that
  come after it;
- a chunk that came early is kept in its buffer (up to *keep* of them) for whoever
  hashes next, so it is never read back;
- beyond that, the buffer goes back to its pool and the chunk is read back from the
  part file when its turn comes (:meth:`OrderedHash.catch_up`, from the main thread).

Kept buffers go back to their pool as soon as they are hashed. A worker never waits
for another thread's hashing: if one is hashing, the chunk is kept (or left to the disk).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Container

from .buffers import BufferPool
from .layout import Layout

READ_BLOCK = 1 << 20
Read = Callable[[int, int], bytes]
"""``read(size, offset)``: bytes of the part file, as ``os.pread`` without the descriptor gives them."""


class OrderedHash:
    """The SHA-256 of a file's plaintext, fed in order from chunks offered in any order (thread-safe)."""

    def __init__(self, layout: Layout, plain: BufferPool, keep: int, read: Read):
        self._layout = layout
        self._plain = plain
        self._keep = keep
        self._read = read
        self._next = 0
        self._hasher = hashlib.sha256()
        self._hashing = threading.Lock()
        self._kept: dict[int, bytearray] = {}
        self._kept_lock = threading.Lock()

    @property
    def next_index(self) -> int:
        """The chunk the hash needs next: every chunk before it is hashed."""
        return self._next

    def hexdigest(self) -> str:
        with self._hashing:
            return self._hasher.hexdigest()

    def offer(self, index: int, plain: bytearray) -> bool:
        """Hash chunk *index* (written, its plaintext at the start of *plain*) or keep it; True if *plain* was kept.

        A kept buffer belongs to this object until it is hashed, then goes back to the
        pool; otherwise the caller gives *plain* back.
        """
        if self._hashing.acquire(blocking=False):
            try:
                if index == self._next:
                    self._from_memory(plain)
                    self._hash_kept()
                    return False
            finally:
                self._hashing.release()
        with self._kept_lock:
            if len(self._kept) >= self._keep:
                return False
            self._kept[index] = plain
            return True

    def catch_up(self, written: Container[int]) -> None:
        """Hash in order as far as chunks are *written*: kept ones from memory, the others read back.

        A chunk kept by its worker is never read back: it was offered before its worker
        finished, so before the caller counts it as written, and :meth:`_hash_kept` takes it.
        """
        with self._hashing:
            while True:
                self._hash_kept()
                if self._next not in written:
                    return
                self._from_disk()

    def _from_memory(self, plain: bytearray) -> None:
        self._hasher.update(memoryview(plain)[: self._layout.plain_length(self._next)])
        self._next += 1

    def _hash_kept(self) -> None:
        while True:
            with self._kept_lock:
                plain = self._kept.pop(self._next, None)
            if plain is None:
                return
            self._from_memory(plain)
            self._plain.give(plain)

    def _from_disk(self) -> None:
        offset = self._layout.offset(self._next)
        end = offset + self._layout.plain_length(self._next)
        while offset < end:
            block = self._read(min(READ_BLOCK, end - offset), offset)
            if not block:
                break  # the part file is short: the whole-file check fails
            self._hasher.update(block)
            offset += len(block)
        self._next += 1
