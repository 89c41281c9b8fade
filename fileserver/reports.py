"""What the agent tells the server: the registration and heartbeat bodies, and the figures in them.

Plain values and small classes, no network: the agent does the I/O and these are
unit-tested on their own.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from coffer.protocol import __version__, cluster
from coffer.protocol.copies import CopyFailure
from coffer.protocol.messages import MAX_CORRUPT_REPORTS, FilePurge, Heartbeat, Registration, ShardAnnouncement

from .identity import Identity
from .settings import Settings
from .shards import ServedShard

log = logging.getLogger(__name__)

CorruptChunk = tuple[str, str, str]
"""``(shard, file id, chunk hash)`` of a chunk the scrub quarantined, as the heartbeat reports it."""


def announcements(shards: Iterable[ServedShard], *, with_free_bytes: bool) -> list[ShardAnnouncement]:
    return [s.announcement(with_free_bytes=with_free_bytes) for s in shards]


def total_free_bytes(shards: Iterable[ServedShard]) -> int | None:
    """Sum the free space of the writable shards, counting each disk (volume) once."""
    volumes: dict[str, int] = {}
    for shard in shards:
        if shard.write:
            free = shard.free_bytes()
            if free is not None:
                volumes[shard.backend.volume()] = free
    return sum(volumes.values()) if volumes else None


def registration_body(settings: Settings, identity: Identity, shards: Iterable[ServedShard]) -> dict[str, Any]:
    return Registration(
        url=settings.public_url,
        public_key=identity.key.public_key,
        version=__version__,
        shards=announcements(shards, with_free_bytes=True),
    ).to_json()


def heartbeat_body(
    shards: list[ServedShard],
    *,
    active_transfers: int,
    bytes_per_s: int,
    chunk_count: int,
    corrupt: list[CorruptChunk],
    purged: list[FilePurge] | None = None,
    revocations_after: int = 0,
    copied: list[str] | None = None,
    copy_failed: list[CopyFailure] | None = None,
) -> dict[str, Any]:
    return Heartbeat(
        version=__version__,
        shards=announcements(shards, with_free_bytes=True),
        active_transfers=active_transfers,
        bytes_per_s=bytes_per_s,
        free_bytes=total_free_bytes(shards),
        chunk_count=chunk_count,
        corrupt=corrupt,
        purged=purged or [],
        revocations_after=revocations_after,
        copied=copied or [],
        copy_failed=copy_failed or [],
    ).to_json()


def signed(
    settings: Settings, identity: Identity, action: cluster.Action, body: dict[str, Any], now: float
) -> dict[str, str]:
    """Return the HTTP body of a cluster-signed request, proven by this fileserver's identity key.

    SECURITY: signs with the cluster credential, and proves with the identity key that no peer holds.
    """
    c = settings.cluster
    request = cluster.sign_request(c.signing_key, c.id, c.generation, identity.fileserver_id, action, body, now)
    return cluster.prove(identity.key, request)


class RateMeter:
    """Turn a monotonic byte total into bytes per second since the previous reading."""

    def __init__(self) -> None:
        self._last: tuple[int, float] | None = None

    def update(self, total: int, now: float) -> int:
        last, self._last = self._last, (total, now)
        if last is None or now <= last[1]:
            return 0
        return max(int((total - last[0]) / (now - last[1])), 0)


class ChunkCensus:
    """Count stored chunks: list every backend now and then, add the chunks created since.

    Listing millions of chunks takes seconds, longer than a heartbeat may wait, so a
    listing runs in the background (*spawn*) at most every *interval* seconds and
    the heartbeat reports the last count plus the chunks the workers created since.
    """

    def __init__(
        self,
        shards: list[ServedShard],
        interval: float = 300.0,
        spawn: Callable[[Callable[[], None]], None] | None = None,
    ):
        self._shards = shards
        self._interval = interval
        self._spawn = spawn or _in_background
        self._count = 0
        self._created_base = 0
        self._at = -math.inf
        self._running = False
        self._lock = threading.Lock()

    def count(self, created_total: int, now: float) -> int:
        """Return the chunk count, starting a new listing if one is due."""
        with self._lock:
            due = not self._running and now - self._at >= self._interval
            if due:
                self._running, self._at = True, now
        if due:
            self._spawn(lambda: self._recount(created_total))
        with self._lock:
            return self._count + max(created_total - self._created_base, 0)

    def _recount(self, created_total: int) -> None:
        try:
            count = sum(1 for shard in self._shards for _ in shard.backend.list())
        except OSError as exc:
            log.warning("cannot count the stored chunks", extra={"kv": {"error": exc}})
            with self._lock:
                self._running = False
            return
        with self._lock:
            self._count, self._created_base, self._running = count, created_total, False


def _in_background(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="census", daemon=True).start()


class CorruptReports:
    """Chunks the scrub found damaged, waiting to be reported; kept until a heartbeat carries them."""

    def __init__(self) -> None:
        self._pending: list[CorruptChunk] = []
        self._lock = threading.Lock()

    def add(self, shard: str, file_id: str, chunk_hash: str) -> None:
        with self._lock:
            if (shard, file_id, chunk_hash) not in self._pending:
                self._pending.append((shard, file_id, chunk_hash))

    def take(self, limit: int = MAX_CORRUPT_REPORTS) -> list[CorruptChunk]:
        with self._lock:
            taken, self._pending = self._pending[:limit], self._pending[limit:]
            return taken

    def put_back(self, reports: list[CorruptChunk]) -> None:
        """Return reports a failed heartbeat did not deliver, ahead of newer ones."""
        with self._lock:
            self._pending = reports + [r for r in self._pending if r not in reports]

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
