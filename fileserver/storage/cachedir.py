"""The local files of a :class:`~fileserver.storage.cache.CachedBackend`, safe for many processes at once.

Layout under the cache root::

    tmp/        temp files being written (a fetch, an upload); stale ones are removed at start
    cache/      the read cache: verified chunks, mtime = last use
    pending/    write-back queue: chunks acknowledged but not yet in the cloud (never evicted)
    stats/      one small hit/miss counter file per process that serves reads

In ``cache/`` and ``pending/`` chunk ``<file id>/<hash>`` is the file
``<file id>.<hash>``: flat, so a file enters and leaves by one atomic link,
rename or unlink with no per-file directory that another process could be
removing at that moment. A chunk name holds no ``.`` (a UUID and hex digits),
so the mapping is one-to-one, and only names that map back to a valid chunk
name are ever read from these directories.

Every gunicorn worker and the agent share these directories, with no lock between
them: a file enters by ``link``/``rename`` (atomic, whole or absent), and every
reader tolerates a file vanishing between a listing and its use, because another
process may evict, flush or delete it at any moment.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .base import BLOCK_SIZE, is_chunk_name
from .fsutil import fsync_dir, private_dir

TMP = "tmp"
CACHE = "cache"
PENDING = "pending"
STATS = "stats"


@dataclass(frozen=True)
class CacheStats:
    """What the heartbeat reports about one cache: write-back queue depth, bytes cached, hit counts."""

    pending: int
    cached_bytes: int
    hits: int
    misses: int

    @property
    def hit_ratio(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None


class CacheDir:
    """The directories of one cache root, and the few operations on them that must be atomic."""

    def __init__(self, root: Path):
        self.root = root
        self.tmp, self.cache, self.pending, self.stats_dir = (root / d for d in (TMP, CACHE, PENDING, STATS))
        for directory in (self.tmp, self.cache, self.pending, self.stats_dir):
            private_dir(directory)

    def cached(self, name: str) -> Path:
        return self.cache / flat(name)

    def queued(self, name: str) -> Path:
        return self.pending / flat(name)

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """Return a new temp file open for writing, and its path."""
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix=".part")
        return os.fdopen(fd, "w+b"), Path(path)

    def names(self, directory: Path) -> Iterator[str]:
        """Yield the file names in *directory*, whatever they are."""
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    yield entry.name

    def chunks(self, directory: Path, file_id: str | None = None) -> Iterator[str]:
        """Yield the chunk names held in *directory* (pending/ or cache/), only file *file_id*'s if given."""
        start = f"{file_id}." if file_id is not None else ""
        for entry in self.names(directory):
            if entry.startswith(start):
                name = entry.replace(".", "/", 1)
                if is_chunk_name(name):
                    yield name

    def link(self, tmp: Path, target: Path, *, durable: bool) -> bool:
        """Link the finished *tmp* into place; False if *target* already existed (same content, by its name)."""
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        if durable:
            fsync_dir(target.parent)
        return True

    def evict(self, capacity: int) -> int:
        """Remove the least recently used cached chunks until the cache fits *capacity*; return bytes freed.

        Each process evicts on its own after adding a file; two evicting at once may
        free a little more than needed, which costs a refetch, never a wrong answer.
        """
        entries: list[tuple[float, int, str]] = []
        total = 0
        with os.scandir(self.cache) as scan:
            for entry in scan:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime, st.st_size, entry.path))
                total += st.st_size
        freed = 0
        for _mtime, size, path in sorted(entries):
            if total - freed <= capacity:
                break
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            freed += size
        return freed

    def usage(self, directory: Path) -> tuple[int, int]:
        """Return (file count, total bytes) of *directory*."""
        count = size = 0
        with os.scandir(directory) as scan:
            for entry in scan:
                try:
                    size += entry.stat(follow_symlinks=False).st_size
                    count += 1
                except FileNotFoundError:
                    continue
        return count, size

    def write_counters(self, hits: int, misses: int) -> None:
        """Record this process's hit and miss totals (the agent sums every process's file)."""
        path = self.stats_dir / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"hits": hits, "misses": misses}))
        os.replace(tmp, path)

    def read_counters(self) -> tuple[int, int]:
        hits = misses = 0
        for name in self.names(self.stats_dir):
            if not name.endswith(".json"):
                continue
            try:
                counts = json.loads((self.stats_dir / name).read_text())
                hits += int(counts["hits"])
                misses += int(counts["misses"])
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                continue
        return hits, misses

    def stats(self) -> CacheStats:
        pending, _ = self.usage(self.pending)
        _, cached_bytes = self.usage(self.cache)
        hits, misses = self.read_counters()
        return CacheStats(pending=pending, cached_bytes=cached_bytes, hits=hits, misses=misses)


def flat(name: str) -> str:
    """Return the file name of chunk *name* (``F/H``) in cache/ or pending/: ``F.H``."""
    return name.replace("/", ".")


def file_hash(f: BinaryIO) -> str:
    """Return the SHA-256 of an open file from its start, leaving it at its end."""
    f.seek(0)
    digest = hashlib.sha256()
    while block := f.read(BLOCK_SIZE):
        digest.update(block)
    return digest.hexdigest()
