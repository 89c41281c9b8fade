"""Run the lifecycle sweep on a schedule, on one server process at a time.

Every gunicorn worker of every server instance runs an APScheduler job; before
each run it takes a lease row in the database (``job_leases``), so only the
holder sweeps while the others skip. The lease is an upsert that succeeds only if
the row is free, expired, or already ours, which both SQLite and PostgreSQL do
atomically; a holder that dies stops renewing and another takes over once the
lease expires. This is the "advisory lock" the design asks for, in a form that
survives connection pooling and works the same on both engines.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from coffer.protocol.ids import new_id

from ..errors import Unavailable
from ..settings import ServerSettings
from ..store.db import Database
from . import retention

log = logging.getLogger(__name__)

LIFECYCLE = "lifecycle"


def try_lease(db: Database, name: str, holder: str, ttl: float, now: float) -> bool:
    """Take or renew the lease *name* for *ttl* seconds; return whether *holder* has it now."""
    with db.transaction() as tx:
        return (
            tx.execute(
                "INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE job_leases.expires_at < ? OR job_leases.holder = excluded.holder",
                (name, holder, now + ttl, now),
            )
            == 1
        )


class Housekeeper:
    """The scheduled lifecycle sweep of one server process."""

    def __init__(self, db: Database, settings: ServerSettings, clock: Callable[[], float]):
        self._db = db
        self._settings = settings
        self._clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._scheduler: BackgroundScheduler | None = None

    def run_once(self) -> retention.SweepResult | None:
        """Sweep if this process holds the lease; return the result, or None if another process holds it."""
        s = self._settings
        now = self._clock()
        try:
            if not try_lease(self._db, LIFECYCLE, self.holder, 3 * s.lifecycle_interval, now):
                return None
            return retention.sweep(
                self._db, now, upload_grace=s.upload_grace, lease=s.lease_seconds, upload_deadline=s.upload_deadline
            )
        except Unavailable as exc:
            log.warning("lifecycle sweep skipped: the database is unavailable", extra={"kv": {"reason": str(exc)}})
            return None

    def start(self) -> None:
        if self._settings.lifecycle_interval <= 0 or self._scheduler is not None:
            return
        self._scheduler = BackgroundScheduler(daemon=True)
        self._scheduler.add_job(
            self.run_once,
            "interval",
            seconds=self._settings.lifecycle_interval,
            id=LIFECYCLE,
            max_instances=1,
            coalesce=True,
        )
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
