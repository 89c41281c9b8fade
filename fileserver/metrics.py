"""The fileserver's own metrics: chunk transfers counted in the workers, storage figures read at each scrape.

The workers count every chunk request once, where it is logged
(:class:`~coffer.fileserver.data.middleware.TransferRecord`); the agent, which
serves the metrics, adds what it knows at scrape time (:class:`AgentCollector`):
each shard's free and used bytes, its cache's write-back queue, transfers in
progress, whether the server has taken this fileserver's registration, and the
purge orders not yet carried out.

SECURITY: labels hold methods, outcomes (error codes), shard and backend names;
never a file id, a chunk hash, a ticket or a key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .shards import ServedShard
from .storage.base import Backend
from .storage.cache import CachedBackend

log = logging.getLogger(__name__)

CHUNK_REQUESTS = Counter(
    "coffer_chunk_requests", "Chunk requests, by method and outcome (ok, or the error code)", ["method", "outcome"]
)
CHUNK_BYTES = Counter("coffer_chunk_bytes", "Chunk bytes moved: PUT in, GET out", ["method"])
BACKEND_ERRORS = Counter(
    "coffer_backend_errors", "Chunk requests a shard's storage failed (5xx), by shard and error code", ["shard", "code"]
)
BACKEND_FAILURES = frozenset({"storage_error", "storage_unavailable", "backend_unavailable", "internal"})
MAINTENANCE_ERRORS = Counter(
    "coffer_maintenance_backend_errors",
    "Storage failures the agent's background jobs met, by job (purge, scrub, flush) and backend kind",
    ["job", "backend"],
)


def count_transfer(method: str, shard: str, status: int, error: str | None, moved: int) -> None:
    """Count one chunk request as it ends."""
    CHUNK_REQUESTS.labels(method, error or ("ok" if status < 400 else str(status))).inc()
    if moved:
        CHUNK_BYTES.labels(method).inc(moved)
    if error in BACKEND_FAILURES and shard != "-":
        BACKEND_ERRORS.labels(shard, error).inc()


def backend_kind(backend: Backend) -> str:
    """Name the storage a backend stands for: behind a cache, the cloud it caches (``s3``), not ``cache``."""
    return backend.inner.kind if isinstance(backend, CachedBackend) else backend.kind


def count_maintenance_error(job: str, backend: Backend) -> None:
    """Count one storage failure of a background job (*job*: purge, scrub or flush); the job logs it itself."""
    MAINTENANCE_ERRORS.labels(job, backend_kind(backend)).inc()


@dataclass
class AgentState:
    """What the agent knows that a scrape reports: read through callables, so nothing is copied or locked here."""

    registered: Callable[[], bool]
    active_transfers: Callable[[], int]
    purge_backlog: Callable[[], int]


class AgentCollector(Collector):
    """Storage and agent figures, read when Prometheus scrapes the agent's listener."""

    def __init__(self, shards: Iterable[ServedShard], state: AgentState):
        self._shards = list(shards)
        self._state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._storage()
        registered = GaugeMetricFamily(
            "coffer_fileserver_registered", "Whether the server took this fileserver's registration (1) or not (0)"
        )
        registered.add_metric([], 1 if self._state.registered() else 0)
        yield registered
        active = GaugeMetricFamily("coffer_active_transfers", "Chunk transfers in progress, all workers together")
        active.add_metric([], self._state.active_transfers())
        yield active
        purges = GaugeMetricFamily("coffer_fileserver_purge_queue", "Purge orders received and not yet carried out")
        purges.add_metric([], self._state.purge_backlog())
        yield purges

    def _storage(self) -> Iterator[Metric]:
        labels = ["shard", "backend"]
        free = GaugeMetricFamily("coffer_shard_free_bytes", "Bytes free for chunks (local disks)", labels=labels)
        used = GaugeMetricFamily("coffer_shard_used_bytes", "Bytes used on a shard's disk", labels=labels)
        queue = GaugeMetricFamily(
            "coffer_cache_queue_depth", "Chunks in a write-back cache not yet in the cloud", labels=labels
        )
        cached = GaugeMetricFamily("coffer_cache_bytes", "Bytes held by a shard's local cache", labels=labels)
        hits = CounterMetricFamily("coffer_cache_hits", "Chunk reads a shard's cache answered", labels=labels)
        misses = CounterMetricFamily("coffer_cache_misses", "Chunk reads a shard's cache had to fetch", labels=labels)
        for shard in self._shards:
            backend = shard.backend
            names = [shard.name, backend_kind(backend)]
            try:
                room, taken = backend.free_bytes(), backend.used_bytes()
            except OSError as exc:
                log.warning("metrics cannot read a shard's space", extra={"kv": {"shard": shard.name, "error": exc}})
                room = taken = None
            if room is not None:
                free.add_metric(names, room)
            if taken is not None:
                used.add_metric(names, taken)
            if isinstance(backend, CachedBackend):
                try:
                    stats = backend.stats()
                except OSError:
                    continue
                if backend.write_back:
                    queue.add_metric(names, stats.pending)
                cached.add_metric(names, stats.cached_bytes)
                hits.add_metric(names, stats.hits)
                misses.add_metric(names, stats.misses)
        yield from (free, used, queue, cached, hits, misses)
