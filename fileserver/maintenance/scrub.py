"""Re-hash every stored chunk now and then, at a set pace, and take damaged ones out of service.

Disks rot quietly; a chunk whose bytes no longer hash to the hash in its name
(``<file id>/<hash>``) is worse than a missing one, because the fileserver would keep serving it until a client
complained. The scrub walks each shard's backend at ``scrub_bytes_per_second``,
moves a damaged chunk out of the way (``Backend.quarantine``) and queues a report
``(shard, file id, hash)`` that the next heartbeat carries to the server, which
then stops sending clients here for that file's chunk. One pass per
``scrub_interval``; the time of the last finished pass is kept in
``<data_dir>/scrub.json`` so a restart does not start over at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from coffer.protocol.ids import split_chunk_name

from ..errors import ChunkNotFound, FileserverError, StorageError
from ..metrics import count_maintenance_error
from ..reports import CorruptReports
from ..shards import ServedShard
from ..storage import Backend
from ..storage.cache import CachedBackend
from ..storage.fsutil import atomic_write_json

log = logging.getLogger(__name__)

STATE_FILE = "scrub.json"
STALE_TEMP_AGE = 3600.0
"""A temp file this old belongs to an upload that died (a worker killed mid-body)."""


class Pacer:
    """Hold a long job to *rate* bytes per second: after each piece, say how long to pause."""

    def __init__(self, rate: int, now: float):
        self._rate = rate
        self._start = now
        self._done = 0

    def pause_after(self, nbytes: int, now: float) -> float:
        """Count *nbytes* as done at *now*; return the seconds to wait to stay under the rate."""
        self._done += nbytes
        due = self._start + self._done / self._rate
        if now - due > 1.0:
            # We were held up (a slow disk, a long stop): do not burst to catch up.
            self._start = now - self._done / self._rate
            return 0.0
        return max(due - now, 0.0)


class Checked(NamedTuple):
    size: int
    damaged: bool


@dataclass
class PassResult:
    checked: int = 0
    bytes: int = 0
    corrupt: int = 0
    complete: bool = True


class Scrubber:
    def __init__(
        self,
        shards: list[ServedShard],
        reports: CorruptReports,
        *,
        rate: int,
        interval: float,
        data_dir: Path,
        first_delay: float = 60.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._shards = shards
        self._reports = reports
        self._rate = rate
        self._interval = interval
        self._state = data_dir / STATE_FILE
        self._first_delay = first_delay
        self._clock = clock
        self._monotonic = monotonic

    def run(self, stop: threading.Event) -> None:
        """Scrub a pass per interval until *stop* is set; do nothing if the rate is 0."""
        if self._rate <= 0:
            log.info("scrub disabled (scrub_bytes_per_second = 0)")
            return
        while not stop.wait(self.due_in()):
            started = self._clock()
            try:
                result = self.scrub_pass(stop)
            except Exception:
                # A failing disk or a bug: say so, and try again at the next interval rather than in a loop.
                log.exception("scrub pass failed; the next one is due after the interval")
                result = PassResult()
            if result.complete:
                atomic_write_json(self._state, {"v": 1, "last_pass": started})
            log.info(
                "scrub pass finished" if result.complete else "scrub pass interrupted",
                extra={
                    "kv": {
                        "chunks": result.checked,
                        "bytes": result.bytes,
                        "corrupt": result.corrupt,
                        "s": round(self._clock() - started, 1),
                    }
                },
            )

    def due_in(self) -> float:
        """Return the seconds until the next pass is due."""
        try:
            last = float(json.loads(self._state.read_bytes())["last_pass"])
        except (OSError, ValueError, KeyError, TypeError):
            return self._first_delay
        return max(last + self._interval - self._clock(), 0.0)

    def scrub_pass(self, stop: threading.Event) -> PassResult:
        """Check every chunk of every shard once (stopping early if *stop* is set)."""
        result = PassResult()
        pacer = Pacer(self._rate, self._monotonic())
        for shard in self._shards:
            try:
                if not self._scrub_shard(shard, pacer, stop, result):
                    result.complete = False
                    return result
            except (FileserverError, StorageError, OSError):
                count_maintenance_error("scrub", shard.backend)
                raise  # the pass ends, logged by run(); the next one is due after the interval
        return result

    def _scrub_shard(self, shard: ServedShard, pacer: Pacer, stop: threading.Event, result: PassResult) -> bool:
        """Check every chunk of one shard into *result*; False if the scrub was told to stop."""
        shard.backend.cleanup(older_than=STALE_TEMP_AGE)
        for name in shard.backend.list():
            if stop.is_set():
                return False
            checked = self.check(shard, name, pacer, stop)
            if checked is None:
                continue
            result.checked += 1
            result.bytes += checked.size
            result.corrupt += checked.damaged
        return True

    def check(self, shard: ServedShard, name: str, pacer: Pacer, stop: threading.Event) -> Checked | None:
        """Re-hash one chunk; quarantine and report it if damaged. None if it vanished or the scrub stopped."""
        digest = hashlib.sha256()
        size = 0
        try:
            with _scrubbed(shard).open(name) as blocks:
                for block in blocks:
                    digest.update(block)
                    size += len(block)
                    if stop.wait(pacer.pause_after(len(block), self._monotonic())):
                        return None
        except ChunkNotFound:
            return None  # deleted while we walked
        file_id, chunk_hash = split_chunk_name(name)
        if digest.hexdigest() == chunk_hash:
            return Checked(size, damaged=False)
        try:
            shard.backend.quarantine(name)
        except ChunkNotFound:
            return None
        self._reports.add(shard.name, file_id, chunk_hash)
        log.error(
            "corrupt chunk quarantined",
            extra={"kv": {"shard": shard.name, "file": file_id, "chunk": chunk_hash, "bytes": size}},
        )
        return Checked(size, damaged=True)


def _scrubbed(shard: ServedShard) -> Backend:
    """Return what to re-hash: behind a cache, the cloud copy itself.

    Reading through the cache would fill it with every chunk (evicting the ones in
    use) and refuse a damaged cloud copy instead of letting the scrub quarantine it.
    Cached and queued copies need no scrub: each is re-hashed whenever it is read
    or flushed.
    """
    backend = shard.backend
    return backend.inner if isinstance(backend, CachedBackend) else backend
