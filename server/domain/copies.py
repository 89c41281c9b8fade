"""Copies: how many fileservers hold each chunk, and which chunks are below their shard's count.

A copy counts while its fileserver was seen within the repair grace (``repair_grace``):
a fileserver that misses a few beats is restarting, not gone, and copying all it held
at once would cost more than waiting. A copy reported corrupt stops counting at once
(the heartbeat drops its location). Repair (:mod:`.repair`) orders new copies of what
is below its count.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.db import Tx

MAX_REPAIR_TRIES = 3
"""Failed copies of one chunk before repair gives up on it (listed as unrepairable) until :data:`RETRY_AFTER`."""
RETRY_AFTER = 3600.0
"""Seconds a given-up repair waits before it is tried again: a lost fileserver may have come back meanwhile."""

COUNTED_COPIES = (
    "(SELECT COUNT(*) FROM chunk_locations l JOIN fileservers x ON x.id = l.fileserver_id "
    "WHERE l.file_id = c.file_id AND l.hash = c.hash AND x.last_seen >= ?)"
)
"""The copies of chunk ``c`` that count, given the oldest last beat that still counts."""


def pinned_join(tx: Tx) -> str:
    """The join that keeps its left table the outer loop: a small table of work read before every chunk.

    SQLite's planner, without statistics, may loop over every chunk or file and look each up
    in a table that is mostly empty; ``CROSS JOIN`` pins the order there. PostgreSQL plans it.
    """
    return "CROSS JOIN" if tx.dialect == "sqlite" else "JOIN"


@dataclass(frozen=True)
class Health:
    """One shard's figures: chunks below their count, and of them those repair has given up on for now."""

    below_copies: int = 0
    unrepairable: int = 0


def health(
    tx: Tx, now: float, grace: float, chunks: str = "chunks c JOIN files f ON f.id = c.file_id"
) -> dict[str, Health]:
    """Return shard id → its health; a shard with every chunk at its count is left out.

    *chunks* names the chunks ``c`` and their files ``f`` to count among: all, or the
    copy backlog's (:func:`.backlog.chunks_read`).
    """
    below = tx.all(
        f"SELECT f.shard_id, COUNT(*) AS n FROM {chunks} "
        "JOIN shards s ON s.id = f.shard_id "
        f"WHERE f.state = 'complete' AND {COUNTED_COPIES} < s.copies GROUP BY f.shard_id",
        (now - grace,),
    )
    join = pinned_join(tx)
    stuck = tx.all(
        f"SELECT f.shard_id, COUNT(*) AS n FROM repairs r {join} chunks c ON c.file_id = r.file_id AND c.hash = r.hash "
        f"{join} files f ON f.id = c.file_id JOIN shards s ON s.id = f.shard_id "
        f"WHERE r.site = '' AND r.tries >= ? AND {COUNTED_COPIES} < s.copies GROUP BY f.shard_id",
        (MAX_REPAIR_TRIES, now - grace),
    )
    result = {r["shard_id"]: Health(below_copies=int(r["n"])) for r in below}
    for r in stuck:
        result[r["shard_id"]] = Health(result.get(r["shard_id"], Health()).below_copies, int(r["n"]))
    return result
