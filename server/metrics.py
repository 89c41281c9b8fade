"""The server's own metrics: counted in the workers, and read from the database at each scrape.

The counters here are incremented where the event happens (tickets in the files
and link resources, refusals in the rate limiter, failed logins in the login
resource, expiries in the lifecycle job); :mod:`coffer.serving.metrics` sums
them over the workers. :class:`DatabaseCollector` runs in the metrics process:
what is true of the whole network (live fileservers, the age of each one's last
heartbeat, the purge backlog, the files and bytes stored per shard, the sync backlog and lag per shard and site)
is read from the database when Prometheus asks,
so every server instance reports the same figures and none must keep them.

SECURITY: labels hold ticket operations, error codes, rate-limit buckets,
fileserver ids and cluster names; never a user's name, a file's name or id, or a token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from coffer.protocol.api.sync import SiteSync
from coffer.protocol.errors import CofferError

from .store.db import Database, Tx

log = logging.getLogger(__name__)

TICKETS_ISSUED = Counter("coffer_tickets_issued", "Chunk tickets signed, by operation", ["op"])
TICKETS_REFUSED = Counter("coffer_tickets_refused", "Ticket requests refused, by error code", ["reason"])
LOGIN_FAILURES = Counter(
    "coffer_login_failures", "Logins refused: a wrong password (failed), locked, or held back (throttled)", ["outcome"]
)
RATE_LIMITED = Counter("coffer_rate_limited", "Requests refused by a rate limit, by bucket", ["bucket"])
EVENTS_PUBLISHED = Counter("coffer_events_published", "Events published to NATS JetStream and acknowledged")
RETENTION_DELETIONS = Counter("coffer_retention_deletions", "Files the lifecycle job removed, by reason", ["reason"])


class DatabaseCollector(Collector):
    """Figures of the whole network, read from the database at each scrape (the metrics process's own handle)."""

    def __init__(
        self,
        db: Database,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
        sites: Callable[[float], list[SiteSync]] | None = None,
    ):
        """*sites* reads the sync status at a given time (``domain.sync_status``, which this layer may not import)."""
        self._db = db
        self._lease = lease_seconds
        self._clock = clock
        self._sites = sites

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        up = GaugeMetricFamily("coffer_up", "Whether the metrics process could read the database (1) or not (0)")
        try:
            with self._db.transaction(readonly=True) as tx:
                fileservers = tx.all(
                    "SELECT f.id, c.name AS cluster, f.last_seen FROM fileservers f "
                    "JOIN clusters c ON c.id = f.cluster_id"
                )
                backlog = tx.one("SELECT COUNT(*) AS n, MIN(queued_at) AS oldest FROM purges") or {}
                outbox = tx.one("SELECT COUNT(*) AS n, MIN(at) AS oldest FROM event_outbox") or {}
                stored = _stored_rows(tx)
            sites = self._sites(now) if self._sites is not None else []
        except Exception as exc:  # a scrape must still answer, saying the database is away
            log.warning("metrics cannot read the database", extra={"kv": {"error": type(exc).__name__}})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        live = GaugeMetricFamily("coffer_fileservers_live", "Fileservers whose last heartbeat is within the lease")
        live.add_metric([], sum(1 for f in fileservers if now - float(f["last_seen"]) <= self._lease))
        yield live
        age = GaugeMetricFamily(
            "coffer_fileserver_heartbeat_age_seconds",
            "Seconds since each registered fileserver's last heartbeat",
            labels=["fileserver", "cluster"],
        )
        for f in fileservers:
            age.add_metric([str(f["id"]), str(f["cluster"])], max(0.0, now - float(f["last_seen"])))
        yield age
        pending = GaugeMetricFamily("coffer_purge_backlog", "Purge orders fileservers have not yet confirmed")
        pending.add_metric([], int(backlog.get("n") or 0))
        yield pending
        oldest = GaugeMetricFamily(
            "coffer_purge_backlog_oldest_seconds", "Age of the oldest unconfirmed purge order (0: none)"
        )
        queued = backlog.get("oldest")
        oldest.add_metric([], max(0.0, now - float(queued)) if queued is not None else 0.0)
        yield oldest
        yield from _outbox(outbox, now)
        yield from _stored(stored)
        yield from _sites(sites)


def _outbox(row: dict[str, Any], now: float) -> Iterator[Metric]:
    depth = GaugeMetricFamily("coffer_events_outbox", "Events written but not yet published to NATS")
    depth.add_metric([], int(row.get("n") or 0))
    yield depth
    age = GaugeMetricFamily("coffer_events_outbox_oldest_seconds", "Age of the oldest unpublished event (0: none)")
    oldest = row.get("oldest")
    age.add_metric([], max(0.0, now - float(oldest)) if oldest is not None else 0.0)
    yield age


STORED_SQL = (
    "SELECT shard_id, state, COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM files GROUP BY shard_id, state"
)
"""Files and bytes per shard id and state: covered by the index ``files_shard_state_size`` (migration 13)."""


def _stored_rows(tx: Tx) -> list[dict[str, Any]]:
    """Read the files and bytes per shard and state: grouped by shard id, which the index covers, names after.

    Grouping by the shard's name through a join read every file row at each scrape (a third
    of a second at 100,000 files on SQLite); see docs/performance.md.
    """
    names = {r["id"]: r["name"] for r in tx.all("SELECT id, name FROM shards")}
    rows = tx.all(STORED_SQL)
    return [r | {"shard": names.get(r["shard_id"], "?")} for r in rows]


def _stored(rows: list[dict[str, Any]]) -> Iterator[Metric]:
    """The files and plaintext bytes stored, per shard and state: what all quotas draw on together."""
    files = GaugeMetricFamily("coffer_files", "Files recorded, by shard and state", labels=["shard", "state"])
    size = GaugeMetricFamily(
        "coffer_stored_bytes", "Plaintext bytes of the files recorded, by shard and state", labels=["shard", "state"]
    )
    for row in rows:
        files.add_metric([str(row["shard"]), str(row["state"])], int(row["files"]))
        size.add_metric([str(row["shard"]), str(row["state"])], int(row["bytes"]))
    yield files
    yield size


def _sites(rows: list[SiteSync]) -> Iterator[Metric]:
    """Sync between sites, per shard and site (cluster): what is left to copy, how old it is, how fast it goes."""
    labels = ["shard", "site"]
    figures: dict[str, tuple[str, Callable[[SiteSync], float]]] = {
        "coffer_sync_backlog_chunks": ("Chunks a site linked with read lacks", lambda r: r.backlog_chunks),
        "coffer_sync_backlog_bytes": ("Bytes of the chunks a site lacks", lambda r: r.backlog_bytes),
        "coffer_sync_lag_seconds": ("Age of the oldest complete chunk a site lacks (0: none)", lambda r: r.lag_seconds),
        "coffer_sync_copy_bytes_per_second": (
            "Bytes copied to a site per second, over 5 minutes",
            lambda r: r.bytes_per_s,
        ),
        "coffer_sync_errors": ("Failed copies to a site, open or given up", lambda r: r.errors),
    }
    for name, (text, value) in figures.items():
        family = GaugeMetricFamily(name, text, labels=labels)
        for row in rows:
            family.add_metric([row.shard, row.site], float(value(row)))
        yield family
    below = GaugeMetricFamily(
        "coffer_shard_below_copies", "Chunks of a shard kept on fewer fileservers than its copies", labels=["shard"]
    )
    for shard, count in {r.shard: r.below_copies for r in rows}.items():
        below.add_metric([shard], count)
    yield below


@contextmanager
def ticket_refusals() -> Iterator[None]:
    """Count a ticket request that raises as refused, by its error code, and let the error go on."""
    try:
        yield
    except CofferError as exc:
        TICKETS_REFUSED.labels(exc.code).inc()
        raise


def tickets_issued(op: str, answer: dict[str, Any]) -> dict[str, Any]:
    """Count the tickets in a ticket answer; return the answer."""
    TICKETS_ISSUED.labels(op).inc(len(answer.get("tickets") or ()))
    return answer
