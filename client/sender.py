"""Store one sealed chunk on as many fileservers as asked, moving it on when a fileserver fails.

Each attempt goes to the fileserver the :class:`~coffer.transfer.balancer.Balancer` expects to
finish first, excluding those that already hold a copy. A fileserver that does not
answer, or answers 5xx or 507, is cooled down and the chunk goes elsewhere at
once; only when every fileserver is cooling is the live list asked for again and the
attempt delayed (capped exponential backoff with jitter). ``max_attempts`` failures
end with :class:`~coffer.transfer.errors.TransferFailed`. A refused ticket is renewed once.
A busy fileserver (429) is not a failure: the chunk goes elsewhere, and when every
fileserver is busy it waits for the first ``Retry-After`` to end (at most
:data:`~coffer.transfer.balancer.MAX_BUSY` busy answers per chunk).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from functools import partial

from coffer.transfer import errors
from coffer.transfer.balancer import Balancer, FileserverInfo, backoff_delay
from coffer.transfer.errors import Stopped
from coffer.transfer.http import ChunkClient

from . import crypto
from .channels import PutChannel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    """A chunk stored: its hash and size, one receipt per copy, and where the copies went."""

    index: int
    hash: str
    size: int
    receipts: tuple[str, ...]
    urls: tuple[str, ...]
    failures: int


@dataclass
class ChunkSender:
    chunks: ChunkClient
    balancer: Balancer
    channel: PutChannel
    shard: str
    file_id: str
    copies: int
    max_attempts: int
    stop: threading.Event
    rng: random.Random

    def send(self, index: int, blob: bytes | memoryview) -> Sent:
        """Store *blob*, chunk *index* of the file, on ``copies`` distinct fileservers.

        Every attempt sends the same *blob*, named by its SHA-256; the caller must not
        change it (nor reuse its buffer) until this returns.
        """
        size = memoryview(blob).nbytes
        chunk_hash = crypto.chunk_hash(blob)
        holders: list[FileserverInfo] = []
        receipts: list[str] = []
        failures = busy = 0
        renewed = False
        while len(receipts) < self.copies:
            if self.stop.is_set():
                raise Stopped()
            exclude = {h.id for h in holders}
            fs = self.balancer.choose(exclude=exclude)
            if fs is None:
                raise errors.NoLiveFileserver(
                    f"chunk {index} needs {self.copies} fileservers of shard {self.shard!r} but only "
                    f"{len(holders)} live one(s) could take it"
                )
            generation, ticket = self.channel.generation, self.channel.ticket
            try:
                stored = self.balancer.attempt(
                    fs.id,
                    partial(self.chunks.put, fs.url, fs.id, self.shard, self.file_id, chunk_hash, blob, ticket),
                    lambda _: size,
                )
            except errors.FileserverBusy as exc:
                busy += 1
                self.balancer.wait_out_busy("upload", index, busy, exc, self.stop, exclude)
                continue
            except errors.FileserverUnavailable as exc:
                failures += 1
                self._failed(fs, index, failures, exc, exclude)
                continue
            except errors.TicketRejected:
                if renewed:
                    raise
                renewed = True
                self.channel.renew(generation)
                continue
            holders.append(fs)
            receipts.append(stored.receipt)
        return Sent(index, chunk_hash, size, tuple(receipts), tuple(h.url for h in holders), failures + busy)

    def _failed(
        self, fs: FileserverInfo, index: int, failures: int, exc: errors.FileserverUnavailable, exclude: set[str]
    ) -> None:
        log.warning("chunk upload failed", extra={"kv": {"chunk": index, "fs": fs.url, "error": exc.code}})
        if failures >= self.max_attempts:
            raise errors.TransferFailed(
                f"chunk {index} could not be stored after {failures} attempts; last: {exc.message}. "
                "Check the fileservers, then run the same upload again: it resumes"
            ) from exc
        if self.balancer.all_cooling(exclude=exclude):
            self.channel.refresh_servers()
            if self.balancer.all_cooling(exclude=exclude):
                self.stop.wait(backoff_delay(failures, self.rng))
