"""Upload the write-back queues of cached shards to their cloud backends; run once per fileserver.

The flusher is a thread of the agent process (:mod:`coffer.fileserver.agent.process`),
never of a gunicorn worker: one flusher per fileserver means one upload per queued
chunk, and the queue is only a directory (``pending/``), so a fileserver that
crashed simply finds the chunks there at its next start and uploads them then.
On a graceful stop it keeps uploading for up to *drain_timeout* seconds and logs
what is left; nothing left is lost, it waits on disk for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from ..errors import FileserverError, StorageError
from ..metrics import count_maintenance_error
from ..storage.cache import CachedBackend

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
DRAIN_TIMEOUT = 3.0
"""Seconds a stopping agent keeps uploading; below the 5 s after which the master kills it."""


class Flusher:
    """Poll every write-back queue and upload what is in it."""

    def __init__(
        self,
        backends: Iterable[CachedBackend],
        *,
        interval: float = POLL_INTERVAL,
        drain_timeout: float = DRAIN_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._backends = [b for b in backends if b.write_back]
        self._interval = interval
        self._drain_timeout = drain_timeout
        self._clock = clock

    def __bool__(self) -> bool:
        return bool(self._backends)

    def run(self, stop: threading.Event) -> None:
        """Flush until *stop* is set, then drain for at most the drain timeout."""
        while not stop.is_set():
            self.flush_all()
            stop.wait(self._interval)
        self.drain()

    def drain(self) -> int:
        """Upload what is queued within the drain timeout; log and return how many chunks are left."""
        self.flush_all(deadline=self._clock() + self._drain_timeout)
        left = sum(len(b.pending()) for b in self._backends)
        if left:
            log.warning(
                "write-back queue not empty at stop; the chunks stay on disk and are uploaded at the next start",
                extra={"kv": {"chunks": left}},
            )
        else:
            log.info("write-back queue drained")
        return left

    def flush_all(self, deadline: float | None = None) -> int:
        """Upload every queued chunk (until *deadline*, if given); return how many were uploaded."""
        done = 0
        for backend in self._backends:
            try:
                names = backend.pending()
            except OSError as exc:
                count_maintenance_error("flush", backend)
                log.warning("cannot list the write-back queue", extra={"kv": {"error": exc}})
                continue
            for name in names:
                if deadline is not None and self._clock() >= deadline:
                    return done
                try:
                    done += backend.flush(name)
                except (FileserverError, StorageError, OSError) as exc:
                    # The cloud is down or refusing, or the local disk failed: retry next round, not now.
                    error = exc.message if isinstance(exc, (FileserverError, StorageError)) else str(exc)
                    count_maintenance_error("flush", backend)
                    log.warning(
                        "cannot upload queued chunks yet; retrying",
                        extra={"kv": {"backend": backend.inner.kind, "error": error}},
                    )
                    break
        return done
