"""Drop a file at once; have every fileserver that may hold its chunks delete them, and confirm.

Why this is safe (docs/lifecycle.md has the whole argument): fileservers store a
chunk under its file (``<file id>/<hash>``), so a chunk object is referenced by
exactly one file record. A purge names a file whose record is already gone, and
file ids are never reused, so no live or in-progress file can reference what a
purge deletes, whichever bytes two files happen to share. Tickets of the file are
revoked in the same transaction (and revocations outlive the record), so no new
chunk of it is accepted once fileservers learn of it; a straggler that lands in
between is an orphan, which reconciliation collects.

Completeness: a purge is queued for every fileserver that serves the file's shard
and every fileserver with a recorded location of it, and re-sent on each heartbeat
until that fileserver confirms the chunks are gone; only then does the server
forget the locations. A fileserver that is down catches up when it returns.
"""

from __future__ import annotations

import logging

from coffer.protocol import messages
from coffer.protocol.api.lifecycle import PurgeBacklog

from ..store.db import Tx
from . import backlog, events, revocations

log = logging.getLogger(__name__)

Reason = str
"""Why a file went: ``deleted``, ``expired``, ``abandoned`` or ``user_removed``."""


def drop_file(tx: Tx, file_id: str, shard_id: str, reason: Reason, now: float) -> int:
    """Delete the file's records in *tx*, revoke its tickets and queue its purge; return the purges queued."""
    queued = tx.execute(
        "INSERT INTO purges (fileserver_id, file_id, shard_id, reason, queued_at) "
        "SELECT holder, ?, ?, ?, ? FROM ("
        "SELECT fileserver_id AS holder FROM fileserver_shards WHERE shard_id = ? "
        "UNION SELECT fileserver_id AS holder FROM chunk_locations WHERE file_id = ?) AS holders "
        "WHERE holder IS NOT NULL ON CONFLICT (fileserver_id, file_id) DO NOTHING",
        (file_id, shard_id, reason, now, shard_id, file_id),
    )
    revocations.revoke(tx, now, file_id=file_id)
    if tx.outbox:
        _event(tx, file_id, reason, now)
    tx.execute("DELETE FROM files WHERE id = ?", (file_id,))
    log.info("file dropped", extra={"kv": {"file": file_id, "reason": reason, "purges": queued}})
    return queued


def _event(tx: Tx, file_id: str, reason: Reason, now: float) -> None:
    """Write the file's ``file.expired`` or ``file.deleted`` event (with why) while its record is still there."""
    row = tx.one(
        "SELECT f.size, f.state, u.name AS owner, s.name AS shard FROM files f JOIN users u ON u.id = f.owner_id "
        "JOIN shards s ON s.id = f.shard_id WHERE f.id = ?",
        (file_id,),
    )
    if row is None:
        return
    kind = "file.expired" if reason == "expired" else "file.deleted"
    events.record(tx, kind, now, file=file_id, user=row["owner"], shard=row["shard"], size=row["size"], reason=reason)


def confirm(tx: Tx, fileserver_id: str, done: list[messages.FilePurge]) -> int:
    """Forget the purged files' locations on this fileserver, for purges that were ordered; return how many."""
    confirmed = 0
    for purge in done:
        if tx.execute("DELETE FROM purges WHERE fileserver_id = ? AND file_id = ?", (fileserver_id, purge.file)):
            tx.execute(
                "DELETE FROM chunk_locations WHERE fileserver_id = ? AND file_id = ?", (fileserver_id, purge.file)
            )
            backlog.add(tx, purge.file)  # a file still stored (its copy at an unlinked site went) is rechecked
            confirmed += 1
    return confirmed


def orders(tx: Tx, fileserver_id: str, now: float) -> list[messages.FilePurge]:
    """Return the oldest unconfirmed purges of this fileserver (re-sent each beat until confirmed)."""
    rows = tx.all(
        "SELECT p.file_id, s.name AS shard FROM purges p JOIN shards s ON s.id = p.shard_id "
        f"WHERE p.fileserver_id = ? ORDER BY p.queued_at, p.file_id LIMIT {messages.MAX_PURGES}",
        (fileserver_id,),
    )
    if rows:
        tx.execute("UPDATE purges SET sent_at = ? WHERE fileserver_id = ? AND sent_at IS NULL", (now, fileserver_id))
    return [messages.FilePurge(r["shard"], r["file_id"]) for r in rows]


def unknown_files(tx: Tx, shard: str, file_ids: list[str]) -> list[str]:
    """Return the ids among *file_ids* that no file of *shard* has: their chunks in that shard are orphans.

    A file of another shard counts as unknown too: tickets are scoped to the file's own
    shard, so no request can ever read its chunks from this one.
    """
    if not file_ids:
        return []
    rows = tx.all(
        "SELECT f.id FROM files f JOIN shards s ON s.id = f.shard_id "
        f"WHERE s.name = ? AND f.id IN ({','.join('?' * len(file_ids))})",
        (shard, *file_ids),
    )
    known = {r["id"] for r in rows}
    return [f for f in file_ids if f not in known]


def pending(tx: Tx) -> list[PurgeBacklog]:
    """Per fileserver: how many purges wait for confirmation, and since when."""
    rows = tx.all(
        "SELECT f.id AS fileserver, f.url, COUNT(p.file_id) AS purges, MIN(p.queued_at) AS oldest "
        "FROM fileservers f JOIN purges p ON p.fileserver_id = f.id GROUP BY f.id, f.url ORDER BY f.url"
    )
    return [PurgeBacklog(**r) for r in rows]
