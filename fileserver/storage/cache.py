"""A local read cache, and optionally a write-back queue, in front of a cloud backend (opt-in per shard).

Reads: a chunk is served from ``cache/`` after its SHA-256 is checked again (a
damaged cache file is dropped and fetched anew, never served); a miss fetches the
whole chunk from the cloud into a temp file, checks it, links it into the cache
and serves it. The cache is trimmed to ``capacity`` bytes, least recently used
first (a hit touches the file's mtime).

Writes, by default *write-through*: the body is checked into a temp file, then
uploaded, and acknowledged only once the cloud has it. With ``write_back`` it is
acknowledged once it is durable in ``pending/`` (fsynced, linked); the agent's
:class:`~coffer.fileserver.maintenance.flusher.Flusher` uploads it later and only then moves it into
the read cache. Until then this fileserver's disk holds the only copy: the
trade-off is documented in ``docs/backends.md``.

Deleting a file (:meth:`CachedBackend.delete_file`, a purge or an orphan) first
drops the file's queued chunks, so the flusher cannot upload them afterwards, then
its cached copies, then the cloud objects, then the cached copies once more (a
read may have refetched one meanwhile), and verifies. One window stays open: the
flusher may be in the middle of uploading a chunk of that file when its queue
entry is dropped. Its upload then lands after the cloud was cleared; the flusher
sees the queue entry gone and deletes the object at once (:meth:`flush`), and if
the agent dies in between, the object is an orphan that the reconciliation
(:mod:`coffer.fileserver.agent.reconcile`) collects.

Several gunicorn workers and the agent share one cache root; see
:mod:`fileserver.storage.cachedir` for why that needs no lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .base import Backend, ChunkStat, ChunkStream, VerifyingReader, check_name, label
from .cachedir import CacheDir, CacheStats, file_hash, flat
from .errors import ChunkNotFound, StorageUnavailable, UploadRejected
from .local import serve_range

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"
"""Where queued chunks that no longer hash to their name are set aside (``<file id>.<hash>.<time>``)."""
COUNTER_WRITE_INTERVAL = 5.0
"""Seconds between writes of a process's hit/miss counter file: cheap enough, fresh enough for a heartbeat."""


@dataclass(frozen=True)
class CacheOptions:
    """The cache keys of a ``[[shards]]`` table; they apply to any cloud backend, so none of them knows."""

    cache_dir: str = ""
    """Where the cache lives, relative to ``data_dir`` unless absolute; empty: no cache."""
    cache_bytes: int = 1 << 30
    """The read cache's capacity; chunks waiting in the write-back queue do not count and are never evicted."""
    write_back: bool = False

    def __post_init__(self) -> None:
        if self.cache_bytes <= 0:
            raise ValueError(f"'cache_bytes' must be more than 0, got {self.cache_bytes!r}")
        if self.write_back and not self.cache_dir:
            raise ValueError("'write_back' needs a local 'cache_dir' to queue chunks in")


class CachedBackend(Backend):
    """Serve *inner*'s chunks through a cache at *root* of *capacity* bytes; queue writes if *write_back*."""

    kind = "cache"
    Options = CacheOptions

    def __init__(self, inner: Backend, root: Path, capacity: int, write_back: bool = False):
        self.inner = inner
        self.files = CacheDir(root)
        self.capacity = capacity
        self.write_back = write_back
        self._lock = threading.Lock()
        self._hits = self._misses = 0
        self._counters_written = 0.0

    @classmethod
    def from_options(cls, options: Any, *, shard: str, data_dir: Path) -> CachedBackend:
        raise TypeError("a CachedBackend wraps another backend: Shards.open builds it from the shard's settings")

    def __repr__(self) -> str:
        mode = "write-back" if self.write_back else "write-through"
        return f"CachedBackend({self.inner!r}, {str(self.files.root)!r}, {self.capacity}, {mode})"

    # -- writes ------------------------------------------------------------------------------------

    def _put(self, name: str, reader: VerifyingReader) -> bool:
        f, tmp = self.files.temp_file()
        try:
            with f:
                reader.write_to(f)
                f.flush()
                os.fsync(f.fileno())
                assert reader.verified  # a bad body raised above: nothing reaches pending/ or the cloud
                if self.write_back:
                    return self._queue(name, tmp)
                f.seek(0)
                created = self.inner.put(name, f, reader.size)
            self._remember(tmp, name, reader.size)
            return created
        finally:
            tmp.unlink(missing_ok=True)

    def _queue(self, name: str, tmp: Path) -> bool:
        """Acknowledge a write-back put: durable in pending/ once this returns.

        The cloud is asked first only so a repeat upload reports "not created"; when it
        cannot answer, the chunk is queued anyway (a write-back shard keeps taking
        uploads through a cloud outage) and the flusher's create-only put settles it.
        """
        if self.files.queued(name).exists():
            return False
        try:
            if self.inner.exists(name):
                return False
        except StorageUnavailable:
            pass
        return self.files.link(tmp, self.files.queued(name), durable=True)

    def _remember(self, tmp: Path, name: str, size: int) -> None:
        """Put a verified file into the read cache if it fits, then trim the cache."""
        if size <= self.capacity and self.files.link(tmp, self.files.cached(name), durable=False):
            self.files.evict(self.capacity)

    # -- reads -------------------------------------------------------------------------------------

    def _open(self, name: str, start: int, length: int | None) -> ChunkStream:
        for path in (self.files.queued(name), self.files.cached(name)):
            f = self._open_verified(path, name)
            if f is not None:
                self._count(hit=True)
                return serve_range(f, start, length)
        self._count(hit=False)
        return serve_range(self._fetch(name), start, length)

    def _open_verified(self, path: Path, name: str) -> BinaryIO | None:
        """Open a local copy if it still hashes to *name*; drop a damaged cache file (never a pending one)."""
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return None
        if file_hash(f) == check_name(name)[1]:
            if path.parent == self.files.cache:
                _touch(path)
            return f
        f.close()
        if path.parent == self.files.pending:
            log.error("a queued chunk is damaged; it cannot be served", extra={"kv": {"chunk": label(name)}})
            return None
        log.warning("dropping a damaged cache file; fetching the chunk again", extra={"kv": {"chunk": label(name)}})
        path.unlink(missing_ok=True)
        return None

    def _fetch(self, name: str) -> BinaryIO:
        """Copy the chunk from the cloud into a temp file, check it, cache it; return it open at its start."""
        f, tmp = self.files.temp_file()
        try:
            with self.inner.open(name) as stream:
                for block in stream:
                    f.write(block)
            f.flush()
            if file_hash(f) != check_name(name)[1]:
                f.close()
                raise StorageUnavailable(
                    f"the cloud copy of chunk {label(name)}… does not hash to its name: it was not served; "
                    "try another fileserver and tell the administrator"
                )
            size = f.tell()
            self._remember(tmp, name, size)
        except BaseException:
            f.close()
            raise
        finally:
            tmp.unlink(missing_ok=True)  # the open file (and the cache's link) keep the bytes
        return f

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1
            now = time.monotonic()
            if now - self._counters_written < COUNTER_WRITE_INTERVAL:
                return
            self._counters_written = now
            hits, misses = self._hits, self._misses
        try:
            self.files.write_counters(hits, misses)
        except OSError as exc:
            log.warning("cannot record cache hit counts", extra={"kv": {"error": exc}})

    # -- lookups and removal -------------------------------------------------------------------------

    def _exists(self, name: str) -> bool:
        return self.files.queued(name).exists() or self.files.cached(name).exists() or self.inner.exists(name)

    def _stat(self, name: str) -> ChunkStat:
        try:
            st = os.stat(self.files.queued(name))
        except FileNotFoundError:
            return self.inner.stat(name)
        return ChunkStat(size=st.st_size, mtime=st.st_mtime)

    def _delete(self, name: str) -> None:
        """Remove the chunk from pending/, the cache and the cloud; not found only if none had it."""
        found = _unlink(self.files.queued(name))
        found = _unlink(self.files.cached(name)) or found
        try:
            self.inner.delete(name)
        except ChunkNotFound:
            if not found:
                raise

    def _quarantine(self, name: str) -> None:
        found = _unlink(self.files.queued(name))
        found = _unlink(self.files.cached(name)) or found
        try:
            self.inner.quarantine(name)
        except ChunkNotFound:
            if not found:
                raise

    def _list(self) -> Iterator[str]:
        queued = set(self.files.chunks(self.files.pending))
        yield from queued
        for name in self.inner.list():
            if name not in queued:
                yield name

    def _list_file(self, file_id: str) -> Iterator[str]:
        queued = set(self.files.chunks(self.files.pending, file_id))
        yield from queued
        for name in self.inner.list_file(file_id):
            if name not in queued:
                yield name

    def _file_sizes(self, file_id: str) -> dict[str, int]:
        """Count the chunks still queued for the cloud from pending/, the rest from the cloud's own listing.

        A write-back shard takes chunks while its cloud is away, so then it counts what it
        knows here: the queue and the read cache. What was flushed before the cloud went
        away goes uncounted until it is back (a bound looser by at most that, never a refusal).
        """
        try:
            sizes = self.inner.file_sizes(file_id)
        except StorageUnavailable:
            if not self.write_back:
                raise
            log.warning("counting a file's chunks without its cloud (unavailable)", extra={"kv": {"file": file_id}})
            sizes = self._cached_sizes(file_id)
        for name in self.files.chunks(self.files.pending, file_id):
            try:
                sizes[name] = os.stat(self.files.queued(name)).st_size
            except FileNotFoundError:
                continue  # flushed (and so listed in the cloud) or purged meanwhile
        return sizes

    def _delete_file(self, file_id: str) -> int:
        """Drop the file's queued chunks, its cached copies, then its cloud objects; see the module docstring."""
        queued = set(self.files.chunks(self.files.pending, file_id))
        for name in queued:
            _unlink(self.files.queued(name))  # first: the flusher must not upload them after this
        self._uncache(file_id)
        in_cloud = set(self.inner.list_file(file_id))
        self.inner.delete_file(file_id)  # verifies the cloud itself
        left = self._uncache(file_id)
        if left:
            log.info("dropped chunks a read refetched during a purge", extra={"kv": {"file": file_id, "count": left}})
        return len(queued | in_cloud)

    def _cached_sizes(self, file_id: str) -> dict[str, int]:
        """The chunks of *file_id* in the read cache now, with their sizes (any may be evicted meanwhile)."""
        sizes: dict[str, int] = {}
        for name in self.files.chunks(self.files.cache, file_id):
            try:
                sizes[name] = os.stat(self.files.cached(name)).st_size
            except FileNotFoundError:
                continue
        return sizes

    def _uncache(self, file_id: str) -> int:
        """Remove the read cache's copies of one file's chunks; return how many there were."""
        removed = 0
        for name in list(self.files.chunks(self.files.cache, file_id)):
            removed += _unlink(self.files.cached(name))
        return removed

    def _delete_quarantined(self, file_id: str) -> int:
        """Remove the queued chunks of this file that were set aside as damaged (the cloud's go with it)."""
        directory = self.files.root / QUARANTINE
        start = f"{file_id}."
        try:
            entries = [e for e in self.files.names(directory) if e.startswith(start)]
        except FileNotFoundError:
            return 0
        return sum(_unlink(directory / e) for e in entries)

    # -- the write-back queue (run by the agent's flusher only) -----------------------------------------

    def pending(self) -> list[str]:
        """Return the chunks acknowledged but not yet in the cloud."""
        return list(self.files.chunks(self.files.pending))

    def flush(self, name: str) -> bool:
        """Upload one queued chunk, then move it into the read cache; False if it was no longer queued."""
        path = self.files.queued(name)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return False
        with f:
            size = os.fstat(f.fileno()).st_size
            try:
                self.inner.put(name, f, size)
            except UploadRejected:
                self._set_aside(path, name)
                return False
        try:
            os.rename(path, self.files.cached(name))
        except FileNotFoundError:
            # Deleted while it was uploading: the delete missed the cloud copy, so finish it here.
            try:
                self.inner.delete(name)
            except ChunkNotFound:
                pass
            return True
        _touch(self.files.cached(name))
        self.files.evict(self.capacity)
        return True

    def _set_aside(self, path: Path, name: str) -> None:
        """Move a queued chunk that no longer hashes to its name out of the queue, for inspection."""
        target = self.files.root / QUARANTINE
        target.mkdir(mode=0o700, exist_ok=True)
        try:
            os.replace(path, target / f"{flat(name)}.{int(time.time())}")
        except FileNotFoundError:
            return
        log.error(
            "a queued chunk was damaged on the local disk before it reached the cloud; it is lost here",
            extra={"kv": {"chunk": label(name), "kept_in": str(target)}},
        )

    def stats(self) -> CacheStats:
        return self.files.stats()

    # -- capacity and housekeeping -------------------------------------------------------------------

    def free_bytes(self) -> int | None:
        return self.inner.free_bytes()

    def volume(self) -> str:
        return self.inner.volume()

    def cleanup(self, older_than: float) -> int:
        """Remove stale temp files here and the inner backend's leftovers."""
        limit = time.time() - older_than
        removed = 0
        for name in self.files.names(self.files.tmp):
            path = self.files.tmp / name
            try:
                if path.stat().st_mtime <= limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed + self.inner.cleanup(older_than)


def _touch(path: Path) -> None:
    """Mark a cache file as just used (its mtime is its recency); it may already be gone."""
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
