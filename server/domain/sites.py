"""Sites: every cluster linked to a shard with ``read`` keeps a copy of every chunk of the shard's complete files.

A site is a cluster. Two clusters that both read and write a shard sync it both ways;
a cluster that only reads a shard pulls what the writers upload (one way). A chunk is
**missing at a site** when no fileserver of that cluster holds a counted copy of it
(seen within the repair grace, not reported corrupt) while a live fileserver of another
cluster does. Each beat of a live fileserver of such a site is then handed copy orders
for what its site misses, through the same machinery as repair (:mod:`.repair`): one
open order per chunk and site, at most ``repair_batch`` open per fileserver, a copy
ticket per order, a signed receipt per copy.

Nothing is copied to a cluster without a read link (an on-premises shard never leaves),
and nothing is copied back where it came from: orders go only to sites that lack a
counted copy, so a chunk crosses to each site once and never loops. The state of the sync
is the server's chunk locations and nothing else, so a restarted server or fileserver
resumes where it was by construction: there is no checkpoint to lose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store.db import Tx
from . import backlog
from .copies import MAX_REPAIR_TRIES


@dataclass(frozen=True)
class Cuts:
    """The instants the planner compares against, each derived from the clock and a setting."""

    counted: float
    """The oldest last beat whose copies still count (now − ``repair_grace``)."""
    live: float
    """The oldest last beat of a fileserver that may be a source (now − ``lease_seconds``)."""
    open: float
    """The oldest order still open (now − the order timeout)."""
    retry: float
    """The oldest give-up still in force (now − an hour)."""


def held_by_site(cluster: str) -> str:
    """SQL: chunk ``c`` has a counted copy on a fileserver of the cluster *cluster* names (one argument: the cut)."""
    return (
        "EXISTS (SELECT 1 FROM chunk_locations h2 JOIN fileservers w ON w.id = h2.fileserver_id "
        f"WHERE h2.file_id = c.file_id AND h2.hash = c.hash AND w.cluster_id = {cluster} AND w.last_seen >= ?)"
    )


ORDER_PENDING = (
    "EXISTS (SELECT 1 FROM repairs r WHERE r.file_id = c.file_id AND r.hash = c.hash "
    "AND ((r.tries < ? AND r.ordered_at > ?) OR (r.site = '' AND r.tries >= ? AND r.ordered_at > ?)))"
)
"""SQL: chunk ``c`` has a copy on the way to any site, or its repair was given up lately."""

_SITE_PENDING = (
    "EXISTS (SELECT 1 FROM repairs r LEFT JOIN fileservers t ON t.id = r.target_id "
    "WHERE r.file_id = c.file_id AND r.hash = c.hash AND (r.site = me.cluster_id OR t.cluster_id = me.cluster_id) "
    "AND ((r.tries < ? AND r.ordered_at > ?) OR (r.site = me.cluster_id AND r.tries >= ? AND r.ordered_at > ?)))"
)
"""SQL: chunk ``c`` has a copy on the way to this fileserver's site, or the site's copy was given up lately."""


def order_pending_args(cuts: Cuts) -> tuple[Any, ...]:
    return (MAX_REPAIR_TRIES, cuts.open, MAX_REPAIR_TRIES, cuts.retry)


def missing_at_site(tx: Tx, fs_id: str, cuts: Cuts, room: int) -> list[dict[str, Any]]:
    """Chunks *fs_id*'s site should keep and lacks, that a live fileserver of another site holds; oldest first.

    The fileserver must announce the shard writable, or, where its cluster only reads the
    shard, readable: a read-only cluster's fileservers receive copies (clients still may not
    upload to them), while a writer that announces ``write = false`` (full, in maintenance)
    is left alone.
    """
    return tx.all(
        "SELECT c.file_id, c.hash, c.size, s.id AS shard_id, s.name AS shard, me.cluster_id AS site, l.bandwidth "
        f"FROM {backlog.chunks_and_files(tx)} JOIN shards s ON s.id = f.shard_id "
        "JOIN fileservers me ON me.id = ? "
        "JOIN fileserver_shards fs ON fs.fileserver_id = me.id AND fs.shard_id = s.id "
        "JOIN cluster_shards l ON l.cluster_id = me.cluster_id AND l.shard_id = s.id AND l.can_read = ? "
        "WHERE f.state = 'complete' AND (fs.can_write = ? OR (fs.can_read = ? AND l.can_write = ?)) "
        f"AND NOT {held_by_site('me.cluster_id')} "
        "AND EXISTS (SELECT 1 FROM chunk_locations g JOIN fileservers z ON z.id = g.fileserver_id "
        "WHERE g.file_id = c.file_id AND g.hash = c.hash AND z.cluster_id <> me.cluster_id AND z.last_seen >= ?) "
        f"AND NOT {_SITE_PENDING} "
        f"ORDER BY f.completed_at, c.file_id, c.idx LIMIT {int(room)}",
        (fs_id, True, True, True, False, cuts.counted, cuts.live, *order_pending_args(cuts)),
    )


def sites_lacking(tx: Tx, file_ids: list[str], cuts: Cuts, limit: int) -> list[dict[str, Any]]:
    """Live fileservers that would be handed site copies of the complete files *file_ids* now: whom to nudge.

    The same conditions as :func:`missing_at_site` from the other end: the fileserver may
    receive copies of the file's shard, its site lacks a chunk of the file that a live
    fileserver of another site holds, and no copy of it to that site is on the way (or given
    up): so while a site drains a file, its receipts nudge no one.
    """
    if not file_ids:
        return []
    marks = ",".join("?" * len(file_ids))
    return tx.all(
        "SELECT DISTINCT me.id, me.url, me.cluster_id FROM files f "
        "JOIN cluster_shards l ON l.shard_id = f.shard_id AND l.can_read = ? "
        "JOIN fileservers me ON me.cluster_id = l.cluster_id AND me.last_seen >= ? "
        "JOIN fileserver_shards fs ON fs.fileserver_id = me.id AND fs.shard_id = f.shard_id "
        f"WHERE f.id IN ({marks}) AND f.state = 'complete' "
        "AND (fs.can_write = ? OR (fs.can_read = ? AND l.can_write = ?)) "
        "AND EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = f.id "
        f"AND NOT {held_by_site('me.cluster_id')} "
        "AND EXISTS (SELECT 1 FROM chunk_locations g JOIN fileservers z ON z.id = g.fileserver_id "
        "WHERE g.file_id = c.file_id AND g.hash = c.hash AND z.cluster_id <> me.cluster_id AND z.last_seen >= ?) "
        f"AND NOT {_SITE_PENDING}) "
        f"ORDER BY me.id LIMIT {int(limit)}",
        (True, cuts.live, *file_ids, True, True, False, cuts.counted, cuts.live, *order_pending_args(cuts)),
    )
