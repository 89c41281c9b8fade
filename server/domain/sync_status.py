"""What is left to copy between sites, and what each site holds wrong: the figures behind sync status and verify.

Read-only queries over the same facts the planner (:mod:`.sites`) works from: the chunk
locations (uploads, and copies whose signed receipts arrived), the fileservers' last
beats, the open and failed copy orders, and the faults the fileservers reported
(:mod:`.faults`). A copy counts as it does for repair: its fileserver was seen within the
repair grace and it was not found corrupt or missing.
"""

from __future__ import annotations

from typing import Any

from coffer.protocol.api.sync import (
    MAX_SYNC_ERRORS,
    MAX_SYNC_SITES,
    MAX_VERIFY_ENTRIES,
    RATE_WINDOW,
    SiteSync,
    SiteVerified,
    SyncError,
    Verification,
    VerifyEntry,
)
from coffer.protocol.ids import check_name

from ..errors import NotFound
from ..store.db import Database, Tx
from . import backlog, copies
from .copies import MAX_REPAIR_TRIES

CORRUPT_SOURCE_SHOWN = 86400.0
"""Seconds a copier's report of a corrupt source counts against a copy its source still holds."""

_LACKS = (
    "NOT EXISTS (SELECT 1 FROM chunk_locations h JOIN fileservers w ON w.id = h.fileserver_id "
    "WHERE h.file_id = c.file_id AND h.hash = c.hash AND w.cluster_id = l.cluster_id AND w.last_seen >= ?)"
)
"""SQL: the site ``l.cluster_id`` holds no counted copy of chunk ``c`` (one argument: the counted cut)."""


def _links(tx: Tx, shard: str | None = None) -> list[dict[str, Any]]:
    where, args = ("WHERE s.name = ? ", (shard,)) if shard else ("", ())
    return tx.all(
        "SELECT s.id AS shard_id, s.name AS shard, c.id AS cluster_id, c.name AS site, l.can_read, l.can_write "
        f"FROM cluster_shards l JOIN shards s ON s.id = l.shard_id JOIN clusters c ON c.id = l.cluster_id {where}"
        f"ORDER BY s.name, c.name LIMIT {MAX_SYNC_SITES}",
        args,
    )


def status(db: Database, now: float, grace: float) -> list[SiteSync]:
    """Return, per shard and linked site, the backlog, lag, chunks below the count, errors and copy rate."""
    with db.transaction(readonly=True) as tx:
        chunks = backlog.chunks_read(tx, now - grace)
        health = copies.health(tx, now, grace, chunks)
        return [_site_status(tx, link, health, chunks, now, grace) for link in _links(tx)]


def _site_status(
    tx: Tx, link: dict[str, Any], health: dict[str, copies.Health], chunks: str, now: float, grace: float
) -> SiteSync:
    backlog: dict[str, Any] = {"n": 0, "bytes": 0, "oldest": None}
    if link["can_read"]:
        backlog = (
            tx.one(
                "SELECT COUNT(*) AS n, COALESCE(SUM(c.size), 0) AS bytes, MIN(f.completed_at) AS oldest "
                f"FROM {chunks} JOIN cluster_shards l ON l.shard_id = f.shard_id "
                f"WHERE f.shard_id = ? AND l.cluster_id = ? AND f.state = 'complete' AND {_LACKS}",
                (link["shard_id"], link["cluster_id"], now - grace),
            )
            or backlog
        )
    copied = tx.one(
        "SELECT COALESCE(SUM(c.size), 0) AS bytes FROM chunk_locations h "
        "JOIN fileservers w ON w.id = h.fileserver_id JOIN chunks c ON c.file_id = h.file_id AND c.hash = h.hash "
        "WHERE h.copied = ? AND h.stored_at >= ? AND h.shard_id = ? AND w.cluster_id = ?",
        (True, now - RATE_WINDOW, link["shard_id"], link["cluster_id"]),
    )
    failed_where = (
        f"FROM repairs r {copies.pinned_join(tx)} files f ON f.id = r.file_id "
        "LEFT JOIN fileservers t ON t.id = r.target_id "
        "WHERE f.shard_id = ? AND (r.site = ? OR (r.site = '' AND t.cluster_id = ?)) "
        "AND (r.problem <> '' OR r.tries >= ?)"
    )
    args = (link["shard_id"], link["cluster_id"], link["cluster_id"], MAX_REPAIR_TRIES)
    failed = tx.one(f"SELECT COUNT(*) AS n {failed_where}", args)
    recent = tx.all(
        f"SELECT r.file_id, r.hash, r.problem, r.tries {failed_where} ORDER BY r.ordered_at DESC "
        f"LIMIT {MAX_SYNC_ERRORS}",
        args,
    )
    oldest = backlog["oldest"]
    return SiteSync(
        shard=link["shard"],
        site=link["site"],
        read=bool(link["can_read"]),
        write=bool(link["can_write"]),
        backlog_chunks=int(backlog["n"]),
        backlog_bytes=int(backlog["bytes"]),
        lag_seconds=round(max(0.0, now - float(oldest)), 3) if oldest is not None else 0.0,
        below_copies=health.get(link["shard_id"], copies.Health()).below_copies,
        bytes_per_s=round(int(copied["bytes"] if copied else 0) / RATE_WINDOW, 1),
        errors=int(failed["n"]) if failed else 0,
        recent_errors=tuple(
            SyncError(
                r["file_id"], r["hash"], r["problem"] or "failed", int(r["tries"]), r["tries"] >= MAX_REPAIR_TRIES
            )
            for r in recent
        ),
    )


def verify(db: Database, shard: str, now: float, grace: float, lease: float) -> Verification:
    """Check every chunk of *shard* at every linked site: MISSING, EXTRA or CORRUPT, from the fileservers' reports.

    - MISSING: a site linked with read holds no counted copy (never copied yet, or its
      copy's fileserver is gone past the grace, or its own listing lacks the chunk).
    - CORRUPT: a fileserver of the site reported its copy corrupt (a scrub), or a copier
      reported it sent corrupt bytes, and the site has no good copy since.
    - EXTRA: a copy at a cluster not linked to the shard at all, or a deleted file's copy
      its fileserver has not confirmed purged yet.
    """
    check_name(shard, "shard")
    with db.transaction(readonly=True) as tx:
        row = tx.one("SELECT id FROM shards WHERE name = ?", (shard,))
        if row is None:
            raise NotFound(f"no shard named {shard!r}: list them with `coffer admin shards`", code="shard_not_found")
        shard_id = row["id"]
        links = _links(tx, shard)
        entries = _lacking(tx, shard_id, now - grace) + _corrupt_held(tx, shard_id, now) + _extra(tx, shard_id)
        total = tx.one(
            "SELECT COUNT(*) AS n FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE f.shard_id = ? AND f.state = 'complete'",
            (shard_id,),
        )
        seen = {
            r["cluster_id"]: r["oldest"]
            for r in tx.all(
                "SELECT cluster_id, MIN(inventory_at) AS oldest FROM fileservers WHERE last_seen >= ? "
                "GROUP BY cluster_id",
                (now - lease,),
            )
        }
        names = {r["id"]: r["name"] for r in tx.all("SELECT id, name FROM clusters")}
    sites = {link["cluster_id"]: link for link in links}
    for cluster_id in {e.site for e in entries} - set(sites):
        sites[cluster_id] = {"cluster_id": cluster_id, "site": names.get(cluster_id, cluster_id), "can_read": False}
    named = [VerifyEntry(e.file, e.chunk, sites[e.site]["site"], e.status, e.fileserver) for e in entries]
    verified = tuple(
        SiteVerified(
            link["site"],
            bool(link["can_read"]),
            sum(1 for e in entries if e.site == cid and e.status == "MISSING"),
            sum(1 for e in entries if e.site == cid and e.status == "EXTRA"),
            sum(1 for e in entries if e.site == cid and e.status == "CORRUPT"),
            seen.get(cid),
        )
        for cid, link in sorted(sites.items(), key=lambda item: str(item[1]["site"]))
    )
    return Verification(
        shard,
        int(total["n"]) if total else 0,
        verified,
        tuple(named[:MAX_VERIFY_ENTRIES]),
        len(named) > MAX_VERIFY_ENTRIES,
    )


def _lacking(tx: Tx, shard_id: str, counted: float) -> list[VerifyEntry]:
    """Chunks a read-linked site holds no counted copy of: CORRUPT where one of its fileservers found it so."""
    rows = tx.all(
        "SELECT c.file_id, c.hash, l.cluster_id, (SELECT MIN(q.fileserver_id) FROM copy_faults q "
        "JOIN fileservers x ON x.id = q.fileserver_id WHERE q.file_id = c.file_id AND q.hash = c.hash "
        "AND q.kind = 'corrupt' AND x.cluster_id = l.cluster_id) AS corrupt_at "
        "FROM chunks c JOIN files f ON f.id = c.file_id JOIN cluster_shards l ON l.shard_id = f.shard_id "
        f"WHERE f.shard_id = ? AND f.state = 'complete' AND l.can_read = ? AND {_LACKS} "
        "ORDER BY c.file_id, c.idx, l.cluster_id",
        (shard_id, True, counted),
    )
    return [
        VerifyEntry(
            r["file_id"], r["hash"], r["cluster_id"], "CORRUPT" if r["corrupt_at"] else "MISSING", r["corrupt_at"] or ""
        )
        for r in rows
    ]


def _corrupt_held(tx: Tx, shard_id: str, now: float) -> list[VerifyEntry]:
    """Copies a copier found corrupt at their source, still recorded there until its scrub quarantines them.

    Only reports of the last :data:`CORRUPT_SOURCE_SHOWN` seconds: the source's own scrub (hourly by
    default) quarantines a really corrupt copy well within it, and a copy it keeps was whole after all.
    """
    rows = tx.all(
        "SELECT q.file_id, q.hash, x.cluster_id, q.fileserver_id FROM copy_faults q "
        "JOIN fileservers x ON x.id = q.fileserver_id JOIN files f ON f.id = q.file_id "
        "JOIN chunk_locations h ON h.file_id = q.file_id AND h.hash = q.hash AND h.fileserver_id = q.fileserver_id "
        "WHERE f.shard_id = ? AND q.kind = 'corrupt' AND q.at >= ? ORDER BY q.file_id, q.hash",
        (shard_id, now - CORRUPT_SOURCE_SHOWN),
    )
    return [VerifyEntry(r["file_id"], r["hash"], r["cluster_id"], "CORRUPT", r["fileserver_id"]) for r in rows]


def _extra(tx: Tx, shard_id: str) -> list[VerifyEntry]:
    """Copies at a cluster the shard is not linked to, and deleted files' copies not confirmed purged yet."""
    unlinked = tx.all(
        "SELECT h.file_id, h.hash, x.cluster_id, x.id AS fileserver_id FROM chunk_locations h "
        "JOIN fileservers x ON x.id = h.fileserver_id WHERE h.shard_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM cluster_shards l WHERE l.cluster_id = x.cluster_id AND l.shard_id = h.shard_id) "
        "ORDER BY h.file_id, h.hash",
        (shard_id,),
    )
    unpurged = tx.all(
        "SELECT p.file_id, x.cluster_id, x.id AS fileserver_id FROM purges p JOIN fileservers x "
        "ON x.id = p.fileserver_id WHERE p.shard_id = ? ORDER BY p.file_id",
        (shard_id,),
    )
    return [VerifyEntry(r["file_id"], r["hash"], r["cluster_id"], "EXTRA", r["fileserver_id"]) for r in unlinked] + [
        VerifyEntry(r["file_id"], "", r["cluster_id"], "EXTRA", r["fileserver_id"]) for r in unpurged
    ]
