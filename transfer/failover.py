"""Move one chunk with failover: the best fileserver first, another when one fails, a pause only when all rest.

The policy, written once for every transfer (an upload's chunks, a download's, a
fileserver's copies):

- Each attempt goes to the fileserver the :class:`~coffer.transfer.balancer.Balancer`
  expects to finish first: among those the caller prefers (the holders of a chunk to
  read) in the client's own site (:mod:`.sites`) while any of them is healthy, else
  among those it prefers anywhere, else among all, and never to one excluded for
  this chunk (it holds a copy already, its copy was bad, it lacks the chunk).
- A fileserver that does not answer, or answers 5xx or 507, is cooled down and the
  chunk goes elsewhere at once; only when every candidate is cooling is the live
  list asked for again and the attempt delayed (capped exponential backoff with
  jitter). ``max_attempts`` failures end with :class:`~coffer.transfer.errors.TransferFailed`.
- A busy fileserver (429) is not failing: the chunk goes elsewhere, and when every
  candidate is busy it waits for the first ``Retry-After`` to end; :data:`MAX_BUSY`
  busy answers end with :class:`~coffer.transfer.errors.TransferFailed`.
- A fileserver that does not hold the chunk (404) is excluded for it.
- A refused ticket is renewed once per chunk, for every worker at once (see
  :class:`~coffer.transfer.tickets.TicketSource`); a second refusal is raised.
- Once the transfer's stop event is set, the next attempt raises
  :class:`~coffer.transfer.errors.Stopped` instead.

When no candidate is left, :meth:`ChunkMove.store` and :meth:`ChunkMove.fetch_into`
return None and the caller says why in its own words (only it knows whether a
copy failed its checks, or how many copies it needs).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from .balancer import Balancer, FileserverInfo, backoff_delay
from .errors import ChunkAbsent, FileserverBusy, FileserverUnavailable, Stopped, TicketRejected, TransferFailed
from .http import ChunkClient, Stored
from .tickets import TicketSource

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BUSY = 100
"""Busy answers one chunk may meet before the transfer gives up (each waits out a Retry-After when all are busy)."""


@dataclass(frozen=True)
class Wording:
    """How a transfer tells the person who must act that a chunk could not be moved, and what to do."""

    transfer: str
    """What moves the chunks, for the log: "upload", "download"."""
    moved: str
    """"chunk 3 could not be <moved> after 8 attempts": "stored", "fetched"."""
    give_up: str
    """What to do after ``max_attempts`` failures."""
    overloaded: str
    """What to do after :data:`MAX_BUSY` busy answers."""


@dataclass(frozen=True)
class Moved(Generic[T]):
    """A chunk moved: the fileserver that took or gave it, and what it answered (a receipt, a byte count)."""

    fileserver: FileserverInfo
    result: T


class Failover:
    """The failover policy of one transfer of one file's chunks, shared by the transfer's workers."""

    def __init__(
        self,
        chunks: ChunkClient,
        balancer: Balancer,
        tickets: TicketSource,
        *,
        shard: str,
        file_id: str,
        max_attempts: int,
        stop: threading.Event,
        rng: random.Random,
        wording: Wording,
    ):
        self.chunks = chunks
        self.balancer = balancer
        self.tickets = tickets
        self.shard = shard
        self.file_id = file_id
        self.max_attempts = max_attempts
        self.stop = stop
        self.rng = rng
        self.wording = wording

    def chunk(self, index: int, chunk_hash: str, prefer: Collection[str] | None = None) -> ChunkMove:
        """Start the attempts at chunk *index*, named *chunk_hash*; try the fileservers in *prefer* first."""
        return ChunkMove(self, index, chunk_hash, prefer)


class ChunkMove:
    """The attempts at one chunk: the fileservers out for it, how often it failed, whether its ticket was renewed.

    One worker uses it, for as many moves of the chunk as it needs (a copy on each
    of several fileservers, another copy after one failed its checks); what it
    counts spans them all.
    """

    def __init__(self, failover: Failover, index: int, chunk_hash: str, prefer: Collection[str] | None):
        self._f = failover
        self.index = index
        self.hash = chunk_hash
        self.prefer = prefer
        self.exclude: set[str] = set()
        """Fileservers not to try for this chunk; the engine adds those that lack it, the caller any other."""
        self.failures = 0
        self.busy = 0
        self._renewed = False

    @property
    def retries(self) -> int:
        """Count the attempts that did not move the chunk: failures and busy answers."""
        return self.failures + self.busy

    def store(self, blob: bytes | memoryview) -> Moved[Stored] | None:
        """Store *blob*, this chunk, on one more fileserver; return where, or None if no candidate is left.

        Every attempt sends the same *blob*, named by its hash: neither it nor the
        buffer under it may change until this returns.
        """
        f = self._f
        size = memoryview(blob).nbytes

        def put(fs: FileserverInfo, ticket: str) -> Stored:
            return f.chunks.put(fs.url, fs.id, f.shard, f.file_id, self.hash, blob, ticket)

        return self._attempts(put, lambda _: size)

    def fetch_into(self, into: memoryview) -> Moved[int] | None:
        """Read this chunk into *into* from one fileserver; return where from and its length, or None if none is left.

        Nothing in *into* is checked: the caller verifies the bytes before trusting any.
        """
        f = self._f

        def get(fs: FileserverInfo, ticket: str) -> int:
            return f.chunks.get_into(fs.url, f.shard, f.file_id, self.hash, ticket, into)

        return self._attempts(get, int)

    def _attempts(self, request: Callable[[FileserverInfo, str], T], nbytes: Callable[[T], int]) -> Moved[T] | None:
        """Make attempts with *request* until one succeeds or no candidate is left."""
        f = self._f
        while True:
            if f.stop.is_set():
                raise Stopped()
            fs = self._pick()
            if fs is None:
                return None
            generation, ticket = f.tickets.generation, f.tickets.ticket_for(self.hash)
            try:
                result = f.balancer.attempt(fs.id, partial(request, fs, ticket), nbytes)
            except FileserverBusy as exc:
                self.busy += 1
                self._wait_out_busy(exc)
            except FileserverUnavailable as exc:
                self.failures += 1
                self._failed(fs, exc)
            except ChunkAbsent:
                self.exclude.add(fs.id)
            except TicketRejected:
                if self._renewed:
                    raise
                self._renewed = True
                f.tickets.renew(generation)
            else:
                return Moved(fs, result)

    def _pick(self) -> FileserverInfo | None:
        """Return a fileserver of the first tier with a healthy one, else any healthy one, else whoever recovers first.

        The tiers (:meth:`~coffer.transfer.sites.SiteChoice.tiers`): the preferred fileservers in this
        client's site, then the preferred ones anywhere.
        """
        balancer = self._f.balancer
        for tier in self._f.chunks.site.tiers(self.prefer, balancer.servers()):
            if not balancer.all_cooling(among=tier, exclude=self.exclude):
                return balancer.choose(among=tier, exclude=self.exclude)
        return balancer.choose(exclude=self.exclude)

    def _failed(self, fs: FileserverInfo, exc: FileserverUnavailable) -> None:
        """After a failure: give up after too many; when every candidate is cooling, refresh the list, then back off."""
        f, words = self._f, self._f.wording
        log.warning(
            "chunk %s failed",
            words.transfer,
            extra={"kv": {"chunk": self.index, "fs": fs.url, "error": exc.code, "reason": exc.message}},
        )
        if self.failures >= f.max_attempts:
            raise TransferFailed(
                f"chunk {self.index} could not be {words.moved} after {self.failures} attempts; last: {exc.message}. "
                f"{words.give_up}"
            ) from exc
        if f.balancer.all_cooling(exclude=self.exclude):
            f.tickets.refresh_servers()
            if f.balancer.all_cooling(exclude=self.exclude):
                f.stop.wait(backoff_delay(self.failures, f.rng))

    def _wait_out_busy(self, exc: FileserverBusy) -> None:
        """After a busy answer: try another fileserver; when all rest, wait for the first to have room.

        A busy fileserver is not failing, so this is no failed attempt; but after
        :data:`MAX_BUSY` busy answers for the chunk the transfer gives up.
        """
        f = self._f
        if self.busy >= MAX_BUSY:
            raise TransferFailed(
                f"chunk {self.index}: the fileservers answered busy {self.busy} times; last: {exc.message}. "
                f"They are overloaded: {f.wording.overloaded}"
            ) from exc
        if f.balancer.all_cooling(exclude=self.exclude):
            f.stop.wait(f.balancer.ready_in(exclude=self.exclude))
