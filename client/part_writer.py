"""Write a download's verified chunks into its part file, around the page cache where the filesystem allows it.

A download writes each byte once and never reads it back (the whole-file hash is taken
from the chunk's buffer), so copying it into the page cache only to write it back
later is pure cost: on a machine of the bench's kind a buffered ``pwrite`` of 8 MiB
into fresh page cache, its writeback and the ``fsync`` took 0.3-0.5 CPU-s per GB and
ran at 370-700 MB/s, where the same writes with ``O_DIRECT`` (the disk reads the
caller's buffer) took 0.04 CPU-s and ran at 1,200-1,700 MB/s. In a 1 GB download the
kernel's copy into the page cache was the largest single item of the client's CPU
(``perf``: 15%, more than AES-GCM).

``O_DIRECT`` needs the buffer's address, the file offset and the length all aligned
to the device's block; :data:`ALIGN` (4096) covers 512- and 4096-byte devices. The
download's plaintext buffers are page-aligned (:class:`client.buffers.BufferPool` makes
memory maps) and its chunks 8 MiB, so every chunk but a short last one goes direct;
the rest, and everything on a filesystem that refuses ``O_DIRECT`` (at open, or at
the first write), goes through the ordinary descriptor. Durability is unchanged: the
caller still fsyncs before it records a chunk as written (a direct write may sit in
the disk's own cache until then), and reads of the file through the page cache see
direct writes (the kernel drops the cached pages they overlap).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

ALIGN = 4096
"""Offsets and lengths written direct are multiples of this, from a buffer aligned to it."""


class PartWriter:
    """``pwrite`` into one file through *fd*, or direct (``O_DIRECT``) where the write is aligned and allowed."""

    def __init__(self, fd: int, path: Path, *, direct: bool = True):
        self._fd = fd
        self._direct = _open_direct(path) if direct else None

    @property
    def direct(self) -> bool:
        """Whether aligned writes still go around the page cache."""
        return self._direct is not None

    def write(self, data: memoryview, offset: int) -> None:
        """Write all of *data* at *offset*; direct if *data* (which starts a buffer aligned to ALIGN) allows it."""
        view = data.cast("B") if data.format != "B" else data
        if self._direct is not None and offset % ALIGN == 0 and view.nbytes % ALIGN == 0 and view.nbytes:
            done = self._write_direct(view, offset)
            view, offset = view[done:], offset + done
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def _write_direct(self, view: memoryview, offset: int) -> int:
        """Write what of *view* goes direct; return how many bytes went (the rest is the caller's)."""
        assert self._direct is not None
        done = 0
        try:
            while done < view.nbytes:
                written = os.pwrite(self._direct, view[done:], offset + done)
                if written % ALIGN:
                    return done + written  # a short write leaves the rest unaligned: the ordinary descriptor ends it
                done += written
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            log.info("direct writes refused, writing through the page cache", extra={"kv": {"error": str(exc)}})
            self.close_direct()
        return done

    def close_direct(self) -> None:
        """Stop writing direct; close the direct descriptor (the ordinary one is the caller's to close)."""
        if self._direct is not None:
            fd, self._direct = self._direct, None
            os.close(fd)


def _open_direct(path: Path) -> int | None:
    """Open *path* for direct writes, or return None where the system or filesystem has none."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_WRONLY | flag | os.O_NOFOLLOW)
    except OSError:
        return None
