"""Carry out the server's copy orders: fetch a chunk from a peer, store it verified, report a signed receipt.

Repair (the server's ``domain.repair``) hands this fileserver, in a heartbeat answer,
chunks of its shards that are kept on too few fileservers, each with a copy ticket for
one source. The copier fetches each with the transfer engine's chunk client, stores it
through the backend's verifying put (the bytes must hash to the chunk's name and be
its size, then are written atomically, as for any upload), and signs a receipt that
the next beat reports; the server then counts the copy. A source whose bytes do not
hash to the chunk is reported ``corrupt`` and nothing is stored: a corrupt copy is
never copied. One that cannot be reached is reported ``unreachable``; either way the
server picks another source or gives up, so nothing here retries.

Orders run one at a time in their own thread, so a slow peer never delays a beat,
and the rate is the server's (``repair_batch`` orders per beat at most), and at most the
cap of this cluster's link to the shard (``bandwidth``, a :class:`~.bandwidth.TokenBucket`).
The same orders carry site copies (a cluster keeping a shard's chunks, ``domain.sites``),
so a fileserver that only reads a shard stores copies of it too. Each copy
holds one chunk in memory once, as a download does.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from coffer.protocol import receipts
from coffer.protocol.copies import CopyFailure, CopyOrder, FailureReason
from coffer.protocol.ids import chunk_name
from coffer.transfer.errors import TransferError
from coffer.transfer.http import ChunkClient

from ..identity import Identity
from ..shards import ServedShard
from ..storage.errors import ChunkNotFound, StorageError, UploadRejected
from .bandwidth import Buckets

log = logging.getLogger(__name__)

WAKE_CHECK = 0.5
"""How often an idle copier looks at its stop event."""


class Copier:
    def __init__(
        self,
        shards: Iterable[ServedShard],
        identity: Identity,
        client: ChunkClient,
        clock: Callable[[], float] = time.time,
        buckets: Buckets | None = None,
    ):
        self._shards = {s.name: s for s in shards}
        self._buckets = buckets or Buckets()
        self._identity = identity
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._queue: deque[CopyOrder] = deque()
        self._queued: set[tuple[str, str]] = set()
        self._copied: list[str] = []
        self._failed: list[CopyFailure] = []
        self._wake = threading.Event()

    def order(self, orders: Iterable[CopyOrder]) -> None:
        """Queue the orders not queued yet (the server may send an order again before its report arrives)."""
        with self._lock:
            for order in orders:
                if (order.file, order.chunk) not in self._queued:
                    self._queued.add((order.file, order.chunk))
                    self._queue.append(order)
                    self._wake.set()

    def take(self, limit: int) -> tuple[list[str], list[CopyFailure]]:
        """Hand the next beat up to *limit* receipts and *limit* failures to report."""
        with self._lock:
            copied, self._copied = self._copied[:limit], self._copied[limit:]
            failed, self._failed = self._failed[:limit], self._failed[limit:]
        return copied, failed

    def put_back(self, copied: list[str], failed: list[CopyFailure]) -> None:
        """Keep reports a beat could not deliver for the next one."""
        with self._lock:
            self._copied[:0] = copied
            self._failed[:0] = failed

    def pending(self) -> int:
        """Reports waiting for a beat."""
        with self._lock:
            return len(self._copied) + len(self._failed)

    def drained(self) -> bool:
        """Whether every order handed out is carried out and reports wait: worth a beat now, not after the interval.

        The beat delivers the receipts (the copies count at once) and brings the next orders,
        so a backlog drains at the copying's own pace rather than a batch per heartbeat.
        """
        with self._lock:
            return not self._queued and bool(self._copied or self._failed)

    def run(self, stop: threading.Event) -> None:
        """Copy queued chunks one at a time until *stop* is set."""
        while not stop.is_set():
            with self._lock:
                order = self._queue.popleft() if self._queue else None
                if order is None:
                    self._wake.clear()
            if order is None:
                self._wake.wait(WAKE_CHECK)
                continue
            try:
                self.copy(order)
            finally:
                with self._lock:
                    self._queued.discard((order.file, order.chunk))

    def copy(self, order: CopyOrder) -> None:
        """Carry out one order and queue its report (a receipt, or a failure naming the source)."""
        kv: dict[str, object] = {"shard": order.shard, "file": order.file, "chunk": order.chunk, "source": order.source}
        served = self._shards.get(order.shard)
        if served is None:
            log.warning("copy order for a shard this fileserver does not serve: ignored", extra={"kv": kv})
            return
        name = chunk_name(order.file, order.chunk)
        started = self._clock()
        try:
            if not self._holds(served, name, order.size):
                self._buckets.take(order.shard, order.bandwidth, order.size)  # the link's cap, if it has one
                buffer = bytearray(order.size)
                view = memoryview(buffer)
                # SECURITY: order.ticket is a bearer capability for this one chunk; never logged.
                got = self._client.get_into(order.source_url, order.shard, order.file, order.chunk, order.ticket, view)
                served.backend.put(name, io.BytesIO(view[:got]), order.size)  # verifies size and hash, atomic
        except UploadRejected as exc:
            self._fail(order, "corrupt", kv, str(exc))
            return
        except TransferError as exc:
            self._fail(order, "unreachable", kv, str(exc))
            return
        except (StorageError, OSError) as exc:
            # Our own storage failed, not the source: report nothing, the server orders the chunk again later.
            log.error("copy could not be stored here", extra={"kv": kv | {"error": str(exc)}})
            return
        receipt = receipts.Receipt(
            fs=self._identity.fileserver_id,
            shard=order.shard,
            file=order.file,
            chunk=order.chunk,
            size=order.size,
            iat=int(self._clock()),
        )
        signed = receipts.sign(self._identity.key, receipt)  # SECURITY: only once stored and verified
        with self._lock:
            self._copied.append(signed)
        log.info("chunk copied", extra={"kv": kv | {"bytes": order.size, "seconds": round(self._clock() - started, 3)}})

    @staticmethod
    def _holds(served: ServedShard, name: str, size: int) -> bool:
        try:
            return served.backend.stat(name).size == size
        except ChunkNotFound:
            return False

    def _fail(self, order: CopyOrder, reason: FailureReason, kv: dict[str, object], detail: str) -> None:
        log.warning("chunk copy failed", extra={"kv": kv | {"reason": reason, "detail": detail}})
        with self._lock:
            self._failed.append(CopyFailure(order.file, order.chunk, order.source, reason))
