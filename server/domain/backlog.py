"""Copy backlog: the chunks that may still need a copy, so planning reads those and not every chunk stored.

Each beat of every fileserver asks for copy orders (:mod:`.repair`, :mod:`.sites`), and
each metrics scrape reads the sync backlog (:mod:`.sync_status`). Asked of every chunk,
"is it below its count, or missing at a site?" costs in proportion to all the chunks ever
stored, on every beat, although in the steady state the answer is "none". The
``copy_backlog`` table holds a **superset** of the chunks for which the answer may be yes;
the planner's own conditions still decide, so an extra row costs a little time and never
changes an order, while a missing row would: every event that can unsettle a chunk adds it.

- A chunk is added when its file completes, when a copy of it is dropped (a corrupt or
  missing report, a confirmed purge), and when a copy receipt arrives (to be rechecked).
- The whole backlog is rebuilt (one full pass) when the set of counted fileservers
  changes (one passed its grace, or came back, or was added or removed) and after any
  topology change (links, copy counts): the *fingerprint* records the set last built for.
- A beat's planning first deletes the rows added since the last beat whose chunks are
  settled (every read-linked site holds a counted copy and the shard's count is met), so
  the work per beat follows the new rows, not the table.

The backlog only narrows which chunks are looked at: orders, tickets and receipts are
checked as before.
"""

from __future__ import annotations

import logging

from ..store.db import Tx
from .copies import COUNTED_COPIES, pinned_join

log = logging.getLogger(__name__)

STALE = "stale"
"""The fingerprint that forces a rebuild at the next beat (set by migrations and topology changes)."""

UNSETTLED = (
    f"({COUNTED_COPIES} < s.copies OR EXISTS (SELECT 1 FROM cluster_shards k WHERE k.shard_id = f.shard_id "
    "AND k.can_read = ? AND NOT EXISTS (SELECT 1 FROM chunk_locations h JOIN fileservers w ON w.id = h.fileserver_id "
    "WHERE h.file_id = c.file_id AND h.hash = c.hash AND w.cluster_id = k.cluster_id AND w.last_seen >= ?)))"
)
"""SQL: chunk ``c`` of file ``f`` in shard ``s`` is below its count or missing at a read-linked site.

Arguments: the counted cut, TRUE, the counted cut.
"""


FILES = "files f ON f.id = c.file_id"
ALL_CHUNKS = f"chunks c JOIN {FILES}"
"""SQL naming every chunk ``c`` and its file ``f``."""


def chunks_and_files(tx: Tx) -> str:
    """SQL naming the backlog's chunks ``c`` and their files ``f``, the backlog ``b`` read first.

    SQLite's planner could loop over every chunk and look each up in the backlog instead
    (:func:`.copies.pinned_join`).
    """
    join = pinned_join(tx)
    return f"copy_backlog b {join} chunks c ON c.file_id = b.file_id AND c.hash = b.hash {join} {FILES}"


def _turn(tx: Tx) -> None:
    """Wait for the other writers of the backlog: a row lock (PostgreSQL), a no-op in SQLite's one writer."""
    tx.execute("UPDATE copy_plan SET fingerprint = fingerprint WHERE id = 1")


def add(tx: Tx, file_id: str, chunk: str | None = None) -> None:
    """Put the chunks of *file_id* (or only *chunk*) in the backlog, to be checked at the next beat."""
    _turn(tx)
    where, args = ("file_id = ? AND hash = ?", (file_id, chunk)) if chunk else ("file_id = ?", (file_id,))
    tx.execute(
        f"INSERT INTO copy_backlog (file_id, hash, checked) SELECT DISTINCT file_id, hash, ? FROM chunks WHERE {where} "
        "ON CONFLICT (file_id, hash) DO UPDATE SET checked = excluded.checked",
        (False, *args),
    )


def stale(tx: Tx) -> None:
    """Have the next beat rebuild the backlog: the topology (links, copy counts) changed."""
    tx.execute("UPDATE copy_plan SET fingerprint = ? WHERE id = 1", (STALE,))


def fingerprint(tx: Tx, counted: float) -> str:
    """The fileservers whose copies count at the cut *counted*, as one string."""
    rows = tx.all("SELECT id FROM fileservers WHERE last_seen >= ? ORDER BY id", (counted,))
    return "counted:" + ",".join(r["id"] for r in rows)


def is_current(tx: Tx, counted: float) -> bool:
    """Tell whether the backlog holds every unsettled chunk at the cut *counted* (else read every chunk)."""
    row = tx.one("SELECT fingerprint FROM copy_plan WHERE id = 1")
    return row is not None and row["fingerprint"] == fingerprint(tx, counted)


def chunks_read(tx: Tx, counted: float) -> str:
    """SQL naming chunks ``c`` and files ``f`` to look for unsettled ones in: the backlog's when current, else all."""
    return chunks_and_files(tx) if is_current(tx, counted) else ALL_CHUNKS


def refresh(tx: Tx, counted: float) -> None:
    """Bring the backlog up to date before planning: rebuild it if the counted fileservers changed, else prune it."""
    now_counted = fingerprint(tx, counted)
    if tx.execute("UPDATE copy_plan SET fingerprint = ? WHERE id = 1 AND fingerprint <> ?", (now_counted, now_counted)):
        tx.execute("DELETE FROM copy_backlog")
        n = tx.execute(
            "INSERT INTO copy_backlog (file_id, hash, checked) SELECT DISTINCT c.file_id, c.hash, ? FROM chunks c "
            "JOIN files f ON f.id = c.file_id JOIN shards s ON s.id = f.shard_id "
            f"WHERE f.state = 'complete' AND {UNSETTLED}",
            (True, counted, True, counted),
        )
        log.info("copy backlog rebuilt", extra={"kv": {"chunks": n}})
        return
    if tx.one("SELECT 1 AS x FROM copy_backlog WHERE checked = ? LIMIT 1", (False,)) is None:
        return  # nothing new since the last beat: no turn to wait for (a row added meanwhile waits for the next)
    _turn(tx)
    tx.execute(
        "DELETE FROM copy_backlog WHERE checked = ? AND NOT EXISTS (SELECT 1 FROM chunks c "
        "JOIN files f ON f.id = c.file_id JOIN shards s ON s.id = f.shard_id "
        "WHERE c.file_id = copy_backlog.file_id AND c.hash = copy_backlog.hash AND f.state = 'complete' "
        f"AND {UNSETTLED})",
        (False, counted, True, counted),
    )
    tx.execute("UPDATE copy_backlog SET checked = ? WHERE checked = ?", (True, False))
