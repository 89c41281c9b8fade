"""Find and delete orphans: chunks stored here whose file the server no longer knows.

Purge orders remove a deleted file's chunks, but a few can escape them: a
fileserver that crashed mid-purge or was offline when the server gave up on it, a
server database restored from an older backup, an upload that was still in flight
(or in a write-back queue's flusher) when the file was purged. Every
``reconcile_interval`` seconds (first after ``reconcile_delay``) the agent lists
each served shard, groups the names by file id, and asks the server, at most
1,000 file ids a request, which of them it does not know. A file the server does
not know is deleted here, but only if every one of its chunks is older than the
``grace_seconds`` the server answers with: a file whose upload has only just begun
may not be visible to every server instance yet, and must not lose its chunks.

Each batch also carries an inventory (``held``): the chunks held of each of its files.
The server drops the copies it recorded here that the inventory lacks (a chunk deleted
from disk behind the fileserver's back), so they stop counting, sites copy them again,
and ``coffer admin verify`` reports them from this fileserver's own word.

The listing is streamed: file ids are asked about batch by batch as the listing
yields them, so memory stays flat however many chunks a shard holds. A backend
that does not list a file's chunks together (a write-back queue is listed before
the cloud) may have one file asked about twice; that costs a lookup, never a
wrong deletion. Only the ids this fileserver asked about are ever deleted,
whatever the answer holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from coffer.protocol import routes
from coffer.protocol.errors import CofferError
from coffer.protocol.ids import split_chunk_name
from coffer.protocol.messages import (
    MAX_RECONCILE_CHUNKS,
    MAX_RECONCILE_FILES,
    ReconcileAnswer,
    ReconcileQuery,
    parse_reconcile_answer,
)

from ..errors import ChunkNotFound, FileserverError, StorageError
from ..identity import Identity
from ..settings import Settings
from ..shards import ServedShard
from ..storage import Backend
from .heartbeats import ServerRefused, post_signed

log = logging.getLogger(__name__)

RECONCILE_PATH = routes.RECONCILE

Ask = Callable[[ReconcileQuery], ReconcileAnswer]
"""Ask the server which files of a batch it does not know (the HTTP call, or a fake in tests)."""


@dataclass
class ShardResult:
    """What one shard's reconciliation found and did, for its summary log line."""

    shard: str
    files: int = 0
    orphans: int = 0
    deleted: int = 0
    """Orphan files whose chunks were deleted (and verified gone)."""
    chunks: int = 0
    """Chunks those deletions removed."""
    too_young: int = 0
    """Orphan files kept because a chunk is younger than the grace period."""
    failed: int = 0
    """Orphan files whose deletion failed (tried again next time)."""
    complete: bool = True


def server_asker(client: httpx.Client, settings: Settings, identity: Identity, clock: Callable[[], float]) -> Ask:
    """Return an :data:`Ask` that POSTs a cluster-signed ``reconcile`` request to the server."""

    def ask(query: ReconcileQuery) -> ReconcileAnswer:
        answer = post_signed(client, settings, identity, "reconcile", RECONCILE_PATH, query.to_json(), clock())
        return parse_reconcile_answer(answer)

    return ask


class Reconciler:
    """Run a reconciliation of every served shard now and then; see the module docstring."""

    def __init__(
        self,
        shards: list[ServedShard],
        ask: Ask,
        *,
        interval: float,
        first_delay: float,
        batch: int = MAX_RECONCILE_FILES,
        clock: Callable[[], float] = time.time,
    ):
        self._shards = shards
        self._ask = ask
        self._interval = interval
        self._first_delay = first_delay
        self._batch = max(1, min(batch, MAX_RECONCILE_FILES))
        self._clock = clock

    def run(self, stop: threading.Event) -> None:
        """Reconcile every shard after the first delay, then every interval, until *stop* is set."""
        if self._interval <= 0:
            log.info("orphan reconciliation disabled (reconcile_interval = 0)")
            return
        delay = self._first_delay
        while not stop.wait(delay):
            try:
                self.reconcile_all(stop)
            except Exception:
                # A bug must not stop the agent: say so, and try again at the next interval rather than in a loop.
                log.exception("orphan reconciliation failed; the next one is due after the interval")
            delay = self._interval

    def reconcile_all(self, stop: threading.Event) -> list[ShardResult]:
        """Reconcile each served shard in turn; a shard that fails is logged and the next one goes on."""
        results = []
        for shard in self._shards:
            if stop.is_set():
                break
            results.append(self.reconcile_shard(shard, stop))
        return results

    def reconcile_shard(self, shard: ServedShard, stop: threading.Event) -> ShardResult:
        """List one shard, ask the server about its files a batch at a time, delete the old orphans."""
        result = ShardResult(shard.name)
        started = self._clock()
        try:
            for batch in _batches(_file_ids(shard.backend), self._batch):
                if stop.is_set():
                    result.complete = False
                    break
                self._reconcile_batch(shard, batch, result, stop)
        except (FileserverError, StorageError, OSError, ServerRefused, httpx.HTTPError, CofferError, ValueError) as exc:
            result.complete = False
            log.warning(
                "orphan reconciliation of a shard stopped; it is tried again at the next interval",
                extra={"kv": {"shard": shard.name, "reason": _reason(exc)}},
            )
        log.info(
            "orphan reconciliation finished" if result.complete else "orphan reconciliation interrupted",
            extra={
                "kv": {
                    "shard": shard.name,
                    "files": result.files,
                    "orphans": result.orphans,
                    "deleted": result.deleted,
                    "chunks": result.chunks,
                    "too_young": result.too_young,
                    "failed": result.failed,
                    "s": round(self._clock() - started, 1),
                }
            },
        )
        return result

    def _reconcile_batch(
        self, shard: ServedShard, files: list[str], result: ShardResult, stop: threading.Event
    ) -> None:
        result.files += len(files)
        answer = self._ask(ReconcileQuery(shard.name, files, _inventory(shard.backend, files)))
        asked = set(files)
        unknown = [f for f in dict.fromkeys(answer.unknown) if f in asked]  # SECURITY: only what we asked about
        result.orphans += len(unknown)
        for file_id in unknown:
            if stop.is_set():
                result.complete = False
                return
            self._collect(shard, file_id, answer.grace_seconds, result)

    def _collect(self, shard: ServedShard, file_id: str, grace: float, result: ShardResult) -> None:
        """Delete one orphan file's chunks if every one is older than *grace* seconds."""
        backend = shard.backend
        try:
            if not self._old_enough(backend, file_id, grace):
                result.too_young += 1
                return
            chunks = backend.delete_file(file_id)
        except (FileserverError, StorageError, OSError) as exc:
            result.failed += 1
            log.warning(
                "cannot delete an orphan file; tried again at the next reconciliation",
                extra={"kv": {"shard": shard.name, "file": file_id, "reason": _reason(exc)}},
            )
            return
        result.deleted += 1
        result.chunks += chunks
        log.info("deleted orphan file", extra={"kv": {"shard": shard.name, "file": file_id, "chunks": chunks}})

    def _old_enough(self, backend: Backend, file_id: str, grace: float) -> bool:
        """Return whether no chunk of the file was stored within the last *grace* seconds."""
        limit = self._clock() - grace
        for name in backend.list_file(file_id):
            try:
                if backend.stat(name).mtime > limit:
                    return False
            except ChunkNotFound:
                continue  # gone meanwhile
        return True


def _file_ids(backend: Backend) -> Iterator[str]:
    """Yield the file id of each run of a shard's listing (each id once while its chunks come together)."""
    last = None
    for name in backend.list():
        file_id, _ = split_chunk_name(name)
        if file_id != last:
            last = file_id
            yield file_id


def _inventory(backend: Backend, files: list[str], cap: int = MAX_RECONCILE_CHUNKS) -> dict[str, list[str]]:
    """List the chunks held of each file, as many files whole as *cap* hashes allow: the server's evidence.

    Each file is listed on its own (the bulk listing gives names in no particular order),
    and a file is either listed whole or left out: a partial list would pass for lost copies.
    """
    held: dict[str, list[str]] = {}
    count = 0
    for file_id in files:
        hashes = [split_chunk_name(name)[1] for name in backend.list_file(file_id)]
        if count + len(hashes) > cap:
            continue
        held[file_id] = hashes
        count += len(hashes)
    return held


def _batches(file_ids: Iterator[str], size: int) -> Iterator[list[str]]:
    """Group *file_ids* into lists of at most *size* distinct ids."""
    batch: dict[str, None] = {}
    for file_id in file_ids:
        batch[file_id] = None
        if len(batch) >= size:
            yield list(batch)
            batch = {}
    if batch:
        yield list(batch)


def _reason(exc: BaseException) -> str:
    """Describe a failure for the log: our errors' messages (they name no secret), else the exception's class."""
    if isinstance(exc, CofferError):
        return exc.message
    if isinstance(exc, ServerRefused):
        return f"the server refused: {exc.status} {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if isinstance(exc, (OSError, ValueError)) else type(exc).__name__
