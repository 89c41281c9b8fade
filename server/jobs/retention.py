"""The lifecycle sweep: expire files, collect abandoned uploads, note lost fileservers, tidy tables.

One function, :func:`sweep`, run by the scheduler in :mod:`coffer.server.jobs.housekeeper` and
callable directly with any ``now`` (tests move the clock instead of sleeping). It
works in small batches, each its own transaction, so a long backlog never holds
the database's write lock for long; every step is idempotent, so two sweeps that
overlapped would only repeat a query, never a deletion.

- A file whose ``expires_at`` has passed is dropped unless it, or its owner, is
  under legal hold; released, it goes at the next sweep.
- An upload that was never finalized is dropped once ``upload_grace`` has passed
  since its last put ticket expired (``active_at``), or once ``upload_deadline``
  has passed since its file was created, however often its tickets were renewed;
  either frees its quota and orders the purge of what it stored.
- A fileserver whose lease ran out is recorded as lost, once, in the audit log.
- A download started through a share link is forgotten once its window closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import metrics
from ..domain import audit, deletion, events, revocations
from ..store.db import Database

log = logging.getLogger(__name__)

BATCH = 200
NONCE_MEMORY = 120.0
TICKET_MEMORY = 3600.0
SESSION_MEMORY = 86400.0
"""Seconds an ended session is kept, so a client that comes back with it is told it expired, not that it is unknown."""


@dataclass
class SweepResult:
    expired: int = 0
    abandoned: int = 0
    lost: int = 0


def sweep(
    db: Database, now: float, *, upload_grace: float, lease: float, upload_deadline: float | None = None
) -> SweepResult:
    """Run one lifecycle pass at time *now*; return what it did (*upload_deadline* None: uploads have none)."""
    deadline_passed = -1.0 if upload_deadline is None else now - upload_deadline
    result = SweepResult(
        expired=_drop_due(
            db,
            now,
            "expired",
            "f.expires_at <= ?",
            (now,),
        ),
        abandoned=_drop_due(
            db,
            now,
            "abandoned",
            "f.state = 'pending' AND (f.active_at <= ? OR f.created_at <= ?)",
            (now - upload_grace, deadline_passed),
        ),
        lost=_note_lost(db, now, lease),
    )
    _tidy(db, now)
    metrics.RETENTION_DELETIONS.labels("expired").inc(result.expired)
    metrics.RETENTION_DELETIONS.labels("abandoned").inc(result.abandoned)
    if result.expired or result.abandoned or result.lost:
        log.info(
            "lifecycle sweep",
            extra={"kv": {"expired": result.expired, "abandoned": result.abandoned, "lost": result.lost}},
        )
    return result


def _drop_due(db: Database, now: float, reason: str, condition: str, params: tuple[float, ...]) -> int:
    """Drop, batch by batch, the files that meet *condition* and are not held."""
    action = "file.expired" if reason == "expired" else "upload.abandoned"
    dropped = 0
    while True:
        with db.transaction() as tx:
            rows = tx.all(
                "SELECT f.id, f.shard_id, f.size, f.state, u.name AS owner FROM files f "
                f"JOIN users u ON u.id = f.owner_id WHERE {condition} AND f.hold = ? AND u.hold = ? "
                f"ORDER BY f.expires_at LIMIT {BATCH}",
                (*params, False, False),
            )
            for r in rows:
                deletion.drop_file(tx, r["id"], r["shard_id"], reason, now)
                audit.record(
                    tx,
                    action,
                    now,
                    audit.SYSTEM,
                    object=f"file:{r['id']}",
                    owner=r["owner"],
                    size=r["size"],
                    state=r["state"],
                )
        dropped += len(rows)
        if len(rows) < BATCH:
            return dropped


def _note_lost(db: Database, now: float, lease: float) -> int:
    with db.transaction() as tx:
        rows = tx.all(
            "SELECT f.id, f.url, f.last_seen, c.name AS cluster FROM fileservers f "
            "JOIN clusters c ON c.id = f.cluster_id WHERE f.last_seen < ? AND f.lost_at IS NULL",
            (now - lease,),
        )
        for r in rows:
            tx.execute("UPDATE fileservers SET lost_at = ? WHERE id = ?", (now, r["id"]))
            where = {"cluster": r["cluster"], "url": r["url"]}
            events.record(tx, "fileserver.down", now, fileserver=r["id"], reason="lease lapsed", **where)
            audit.record(
                tx,
                "fileserver.lost",
                now,
                audit.SYSTEM,
                object=f"fileserver:{r['id']}",
                url=r["url"],
                silent_s=round(now - r["last_seen"], 1),
            )
    return len(rows)


def _tidy(db: Database, now: float) -> None:
    """Forget what no longer matters: spent nonces, long-expired tickets and revocations, sessions, link downloads."""
    with db.transaction() as tx:
        tx.execute("DELETE FROM request_nonces WHERE seen_at < ?", (now - NONCE_MEMORY,))
        tx.execute("DELETE FROM tickets WHERE expires_at < ?", (now - TICKET_MEMORY,))
        revocations.forget_expired(tx, now)
        tx.execute("DELETE FROM sessions WHERE expires_at < ?", (now - SESSION_MEMORY,))
        tx.execute("DELETE FROM link_downloads WHERE expires_at <= ?", (now,))
