"""The shards this fileserver serves, each with its access flags and its storage backend."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from coffer.protocol.messages import ShardAnnouncement

from .errors import ShardNotServed, ShardReadOnly, ShardWriteOnly, StorageFull
from .settings import Settings, ShardSettings
from .storage import Backend, create_backend
from .storage.cache import CachedBackend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedShard:
    name: str
    read: bool
    write: bool
    backend: Backend
    min_free: int = 0
    """Free bytes below which the shard's storage counts as full (``min_free_bytes``)."""

    def announcement(self, *, with_free_bytes: bool) -> ShardAnnouncement:
        """Describe this shard for a registration or heartbeat: not writable while its storage is full."""
        free = self.free_bytes() if with_free_bytes else None
        write = self.write and not self._below_reserve(free)
        backend = self.backend
        if not isinstance(backend, CachedBackend):
            return ShardAnnouncement(self.name, self.read, write, backend.kind, free)
        try:
            stats = backend.stats()
        except OSError as exc:
            log.warning("cannot read the cache's figures", extra={"kv": {"shard": self.name, "error": exc}})
            return ShardAnnouncement(self.name, self.read, write, backend.inner.kind, free)
        return ShardAnnouncement(
            self.name,
            self.read,
            write,
            backend.inner.kind,
            free,
            queue_depth=stats.pending if backend.write_back else None,
            cache_bytes=stats.cached_bytes,
            cache_hits=stats.hits,
            cache_misses=stats.misses,
        )

    def free_bytes(self) -> int | None:
        """Return the backend's free space, or None if it cannot tell right now (a failing disk)."""
        try:
            return self.backend.free_bytes()
        except OSError as exc:
            log.warning("cannot read free space", extra={"kv": {"shard": self.name, "error": exc}})
            return None

    def full(self) -> str | None:
        """Say why the storage is full (free space below the reserve), or None while it has room or cannot tell.

        Read per upload (one ``statvfs`` for a local disk), so every worker sees the disk as it is now.
        """
        try:
            free = self.backend.free_bytes()
        except OSError:
            return None  # a failing disk is the write's own error to report
        if not self._below_reserve(free):
            return None
        return (
            f"shard {self.name!r} on this fileserver is full ({free} bytes free, below its reserve of "
            f"{self.min_free}): upload to another fileserver; an operator must free space or add a disk"
        )

    def _below_reserve(self, free: int | None) -> bool:
        return free is not None and free < self.min_free


class Shards:
    """Look up a served shard by name, refusing shards and operations this fileserver does not offer."""

    def __init__(self, shards: dict[str, ServedShard]):
        self._shards = shards

    @classmethod
    def open(cls, settings: Settings) -> Shards:
        """Create the backend of every configured shard (directories are made as needed)."""
        reserve = settings.fileserver.min_free_bytes
        return cls(
            {
                s.name: ServedShard(s.name, s.read, s.write, _backend(s, settings.data_dir), reserve)
                for s in settings.shards
            }
        )

    def __iter__(self) -> Iterator[ServedShard]:
        return iter(self._shards.values())

    def for_read(self, name: str) -> ServedShard:
        shard = self._get(name)
        if not shard.read:
            raise ShardWriteOnly(f"shard {name!r} takes uploads only on this fileserver: download from another one")
        return shard

    def for_write(self, name: str) -> ServedShard:
        shard = self._get(name)
        if not shard.write:
            raise ShardReadOnly(f"shard {name!r} is read-only on this fileserver: upload to another one")
        return shard

    def for_put(self, name: str) -> ServedShard:
        """Return the shard to store a new chunk in; refuse it, before reading a byte, while its storage is full."""
        shard = self.for_write(name)
        full = shard.full()
        if full is not None:
            raise StorageFull(full)
        return shard

    def cached(self) -> list[CachedBackend]:
        """Return the backends with a local cache (the agent's flusher drains their write-back queues)."""
        return [s.backend for s in self if isinstance(s.backend, CachedBackend)]

    def _get(self, name: str) -> ServedShard:
        shard = self._shards.get(name)
        if shard is None:
            raise ShardNotServed(f"this fileserver does not serve shard {name!r}: ask the server which fileservers do")
        return shard


def _backend(shard: ShardSettings, data_dir: Path) -> Backend:
    """Create a shard's backend, wrapped in its local cache if the config asks for one."""
    backend = create_backend(shard.backend, shard.options, shard=shard.name, data_dir=data_dir)
    if shard.cache is None:
        return backend
    c = shard.cache
    return CachedBackend(backend, data_dir / c.cache_dir, c.cache_bytes, c.write_back)
