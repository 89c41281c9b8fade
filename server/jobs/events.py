"""Publish the outbox's events to NATS JetStream, in order, at least once, on one server process at a time.

Every worker runs a :class:`Publisher` thread when events are on; like the lifecycle
sweep it takes the ``events`` lease in ``job_leases`` first, so one process publishes
while the others wait. A round reads at most ``events_batch`` rows in outbox order,
publishes each with its event id as ``Nats-Msg-Id`` and waits for JetStream's ack,
and only then deletes the rows that were acknowledged. A crash between the ack and
the delete publishes those events again; the stream's duplicate window drops the
repeat, and a consumer that de-duplicates by id sees each event once. Publishing is
one message at a time, so a failure can never leave a later event stored before an
earlier one.

While NATS is unreachable the rows stay in the outbox; the publisher waits longer
between attempts (up to :data:`MAX_BACKOFF`) and logs the outage once when it
starts and once when it ends, never once per retry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from coffer.protocol.ids import new_id

from .. import metrics
from ..domain import events
from ..errors import Unavailable
from ..settings import ServerSettings
from ..store.db import Database
from .housekeeper import try_lease

log = logging.getLogger(__name__)

LEASE = "events"
MAX_BACKOFF = 30.0
ACK_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0


class Publisher:
    """One process's publishing job: :meth:`run_once` is a round; :meth:`start` runs rounds on a thread."""

    def __init__(self, db: Database, settings: ServerSettings, clock: Callable[[], float] = time.time):
        self._db = db
        self._settings = settings
        self._clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._lease_ttl = max(10.0, 10 * settings.events_interval)
        self._lease_until = 0.0
        self._held = False
        self._loop = asyncio.new_event_loop()
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._outage_since: float | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Publish one batch if this process holds the lease and NATS is not in backoff; return how many."""
        now = self._clock()
        if now < self._retry_at:
            return 0
        try:
            if not self._has_lease(now):
                return 0
            rows = self._pending()
        except Unavailable as exc:
            log.warning("event publishing skipped: the database is unavailable", extra={"kv": {"reason": str(exc)}})
            return 0
        if not rows:
            return 0
        return self._loop.run_until_complete(self._publish(rows))

    def drain(self, rounds: int = 1000) -> int:
        """Run rounds until one publishes nothing; return the events published (for tests and the benchmark)."""
        total = 0
        for _ in range(rounds):
            done = self.run_once()
            total += done
            if not done:
                break
        return total

    def _has_lease(self, now: float) -> bool:
        """Take or renew the lease, asking the database only once a third of its time has passed."""
        if now >= self._lease_until:
            self._held = try_lease(self._db, LEASE, self.holder, self._lease_ttl, now)
            self._lease_until = now + self._lease_ttl / 3
        return self._held

    def _pending(self) -> list[dict[str, Any]]:
        with self._db.transaction(readonly=True) as tx:
            return tx.all(
                f"SELECT seq, id, type, body FROM event_outbox ORDER BY seq LIMIT {int(self._settings.events_batch)}"
            )

    async def _publish(self, rows: list[dict[str, Any]]) -> int:
        done: list[int] = []
        try:
            js = await self._jetstream()
            prefix = self._settings.events_subject_prefix
            for row in rows:
                await js.publish(
                    events.subject(prefix, row["type"]),
                    row["body"].encode(),
                    timeout=ACK_TIMEOUT,
                    stream=self._settings.events_stream,
                    headers={"Nats-Msg-Id": row["id"]},
                )
                done.append(row["seq"])
        except Exception as exc:  # any failure of NATS: keep the rest for later, in order
            await self._outage(exc)
        finally:
            self._forget(done)
        if done and len(done) == len(rows):
            self._recovered()
        return len(done)

    def _forget(self, seqs: list[int]) -> None:
        """Delete the acknowledged rows: from here on they live in the stream."""
        if not seqs:
            return
        with self._db.transaction() as tx:
            tx.execute(f"DELETE FROM event_outbox WHERE seq IN ({', '.join('?' * len(seqs))})", tuple(seqs))
        metrics.EVENTS_PUBLISHED.inc(len(seqs))

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        await self._close()
        # nats-py may keep trying a refused address past connect_timeout: bound the whole attempt.
        nc = await asyncio.wait_for(
            nats.connect(
                self._settings.events_url,
                name="coffer-server",
                allow_reconnect=False,
                connect_timeout=CONNECT_TIMEOUT,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=_quiet,
            ),
            timeout=2 * CONNECT_TIMEOUT,
        )
        self._nc, js = nc, nc.jetstream()
        await self._ensure_stream(js)
        self._js = js
        return js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Create the stream if it is missing, with the duplicate window that makes a republished event a no-op."""
        s = self._settings
        try:
            await js.stream_info(s.events_stream)
        except NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=s.events_stream,
                    subjects=[f"{s.events_subject_prefix}.>"],
                    duplicate_window=s.events_duplicate_window,
                )
            )
            log.info("event stream created", extra={"kv": {"stream": s.events_stream}})

    async def _outage(self, exc: Exception) -> None:
        await self._close()
        now = self._clock()
        self._failures += 1
        self._retry_at = now + min(MAX_BACKOFF, self._settings.events_interval * 2**self._failures)
        if self._outage_since is None:
            self._outage_since = now
            # SECURITY: only the error's kind: its text may repeat the URL, which may hold a password.
            log.warning(
                "event publishing paused: NATS unreachable, events wait in the outbox",
                extra={"kv": {"error": type(exc).__name__}},
            )

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.info(
                "event publishing resumed",
                extra={"kv": {"outage_s": round(self._clock() - self._outage_since, 1), "attempts": self._failures}},
            )
        self._outage_since = None
        self._failures = 0
        self._retry_at = 0.0

    async def _close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception:  # a connection already broken has nothing to flush
                pass

    def start(self) -> None:
        """Run rounds on a daemon thread, every ``events_interval`` seconds (at once again after a full batch)."""
        if not self._settings.events_url or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="coffer-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                full = self.run_once() >= self._settings.events_batch
            except Exception:  # the thread must outlive any one round's surprise
                log.exception("event publishing round failed")
                full = False
            if not full:
                self._stop.wait(self._settings.events_interval)

    def stop(self) -> None:
        """Stop the thread, release the lease's connection; rows not yet published stay in the outbox."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._loop.run_until_complete(self._close())
        self._loop.close()
        if self._held:
            try:
                with self._db.transaction() as tx:
                    tx.execute("DELETE FROM job_leases WHERE name = ? AND holder = ?", (LEASE, self.holder))
            except Unavailable:
                pass  # the lease runs out by itself


async def _quiet(exc: Exception) -> None:
    """Swallow nats-py's own error reports: the publisher logs each outage once, itself."""
