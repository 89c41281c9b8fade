"""Carry out the server's purge orders: delete every chunk of a file from a shard, verify, confirm.

The server orders a purge when a file is deleted (by its owner, by retention) in
each heartbeat answer, and repeats the order on every beat until this fileserver
confirms it; it forgets where the file's chunks were only on that confirmation.
So a purge here is at-least-once and must be idempotent, which
:meth:`~fileserver.storage.Backend.delete_file` is.

The agent hands each answer's orders to :meth:`Purger.order` and goes on beating;
a thread of the agent process runs :meth:`Purger.run`, deleting one file after
another beside the heartbeat, so a slow bucket never delays a beat. Each order
moves through three states, and an order repeated while it is in any of them is
ignored::

    queued ──▶ in progress ──▶ done (awaiting confirmation) ──▶ sending ──▶ forgotten
                    │                                             │ beat failed
                    └── failed: logged once, dropped; the         └──▶ back to done
                        server's next repeat retries it

Confirmations travel at most :data:`~coffer.protocol.messages.MAX_PURGES` a beat;
the rest wait for the next. So that a bulk delete drains in seconds rather than
one page per heartbeat interval, :meth:`Purger.wait_ready` tells the agent when a
page is worth sending now: a full page is waiting, or the queue has run dry with
confirmations waiting (the batch the last answer ordered is done).

A shard this fileserver does not serve holds nothing of the file, so such an
order is confirmed at once. Every served shard is purged whatever its flags: a
read-only shard's disk holds the file's ciphertext just the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from coffer.protocol.messages import MAX_PURGES, FilePurge

from ..errors import FileserverError, StorageError
from ..metrics import count_maintenance_error
from ..shards import ServedShard
from ..storage import Backend

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
"""The longest the worker sleeps before it looks at its stop event again."""
MAX_REMEMBERED_FAILURES = 10_000
"""Files whose failure was logged (to log it once, not on each repeat); bounded so a long outage cannot grow it."""


class Purger:
    """A queue of purge orders, the worker that carries them out, and the confirmations they earn."""

    def __init__(
        self,
        shards: Iterable[ServedShard],
        *,
        poll_interval: float = POLL_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._backends: dict[str, Backend] = {s.name: s.backend for s in shards}
        self._poll_interval = poll_interval
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._queue: deque[FilePurge] = deque()
        self._known: set[FilePurge] = set()
        """Every order queued, in progress, done or being sent: a repeat of one of these is ignored."""
        self._done: list[FilePurge] = []
        self._sending: list[FilePurge] = []
        self._failed: set[FilePurge] = set()
        self._ready = threading.Event()
        """Set while confirmations are worth a heartbeat now (see the module docstring)."""

    # -- the agent's side ---------------------------------------------------------------------------

    def order(self, purges: Iterable[FilePurge]) -> int:
        """Queue the orders not already queued, in progress or awaiting confirmation; return how many were new."""
        added = 0
        with self._cond:
            for purge in purges:
                if purge not in self._known:
                    self._known.add(purge)
                    self._queue.append(purge)
                    added += 1
            if added:
                self._cond.notify()
        return added

    def take(self, limit: int = MAX_PURGES) -> list[FilePurge]:
        """Return up to *limit* confirmations for the next heartbeat; they stay known until :meth:`delivered`."""
        with self._cond:
            taken, self._done = self._done[:limit], self._done[limit:]
            self._sending += taken
            if not self._done:
                self._ready.clear()  # more than a page stays ready: the agent beats again at once
            return taken

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for confirmations worth a heartbeat now; return whether there are."""
        return self._ready.wait(timeout)

    def _update_ready(self) -> None:
        """Under the lock: mark confirmations ready when a page is full or no order is left to carry out."""
        if len(self._done) >= MAX_PURGES or (self._done and not self._queue):
            self._ready.set()

    def put_back(self, purges: list[FilePurge]) -> None:
        """Return confirmations a failed heartbeat did not deliver, ahead of newer ones."""
        with self._cond:
            back = set(purges)
            self._sending = [p for p in self._sending if p not in back]
            self._done = purges + [p for p in self._done if p not in back]
            self._update_ready()

    def delivered(self, purges: list[FilePurge]) -> None:
        """Forget confirmations the server has received: it will not order those purges again."""
        with self._cond:
            gone = set(purges)
            self._sending = [p for p in self._sending if p not in gone]
            self._known -= gone

    def __len__(self) -> int:
        """Return the orders not yet carried out (queued or in progress)."""
        with self._cond:
            return len(self._known) - len(self._done) - len(self._sending)

    # -- the worker ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Carry out orders as they come until *stop* is set (an order in progress is finished first)."""
        while not stop.is_set():
            purge = self._next(self._poll_interval)
            if purge is None:
                continue
            try:
                self.execute(purge)
            except Exception as exc:
                # A bug must not end the purges (nor the agent): log its trace, drop the order, go on.
                log.exception("purge crashed", extra={"kv": {"shard": purge.shard, "file": purge.file}})
                self._fail(purge, f"internal: {type(exc).__name__}")

    def run_pending(self) -> int:
        """Carry out every queued order now, in this thread; return how many were tried (for tests and tools)."""
        tried = 0
        while (purge := self._next(0)) is not None:
            self.execute(purge)
            tried += 1
        return tried

    def _next(self, timeout: float) -> FilePurge | None:
        with self._cond:
            if not self._queue and timeout > 0:
                self._cond.wait(timeout)
            return self._queue.popleft() if self._queue else None

    def execute(self, purge: FilePurge) -> bool:
        """Delete one file's chunks from one shard and verify; True if it is now confirmed."""
        backend = self._backends.get(purge.shard)
        started = self._monotonic()
        if backend is None:
            log.info(
                "purge confirmed: shard not served here, nothing to delete",
                extra={"kv": {"shard": purge.shard, "file": purge.file}},
            )
            self._confirm(purge)
            return True
        try:
            deleted = backend.delete_file(purge.file)
        except (FileserverError, StorageError, OSError) as exc:
            count_maintenance_error("purge", backend)
            self._fail(
                purge,
                exc.message if isinstance(exc, (FileserverError, StorageError)) else f"{type(exc).__name__}: {exc}",
            )
            return False
        log.info(
            "purged file",
            extra={
                "kv": {
                    "shard": purge.shard,
                    "file": purge.file,
                    "chunks": deleted,
                    "ms": round((self._monotonic() - started) * 1000),
                }
            },
        )
        self._confirm(purge)
        return True

    def _confirm(self, purge: FilePurge) -> None:
        with self._cond:
            self._failed.discard(purge)
            self._done.append(purge)
            self._update_ready()

    def _fail(self, purge: FilePurge, reason: str) -> None:
        """Drop a failed order (the server repeats it, which retries it); log it the first time only."""
        with self._cond:
            self._known.discard(purge)
            self._update_ready()
            first = purge not in self._failed
            if first:
                if len(self._failed) >= MAX_REMEMBERED_FAILURES:
                    self._failed.clear()
                self._failed.add(purge)
        if first:
            log.warning(
                "purge failed; retried when the server repeats the order",
                extra={"kv": {"shard": purge.shard, "file": purge.file, "reason": reason}},
            )
