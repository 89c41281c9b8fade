"""Faults: what fileservers themselves reported against a copy, the evidence ``coffer admin verify`` reads.

The server's locations say where copies were stored; only the fileservers can say they
are still there and whole. Three of their reports are kept here, per chunk and
fileserver: a scrub found the copy corrupt (the heartbeat's ``corrupt``), a copier found
a source's bytes corrupt (``copy_failed``), or the fileserver's own listing of its storage
(a reconcile batch's ``held``) lacks a chunk the server has it holding. A corrupt or
missing copy also loses its location, so it stops counting and the site is copied to
again. A fault is cleared when the fileserver's site holds the chunk again.
"""

from __future__ import annotations

import logging
from typing import Literal

from ..store.db import Tx
from . import backlog

log = logging.getLogger(__name__)

Kind = Literal["corrupt", "missing"]
INVENTORY_SETTLE = 60.0
"""Seconds a copy must have been recorded before a listing that lacks it counts against it: a copy is on
disk before its receipt is signed, so only one stored while the listing ran (seconds) can be absent from it."""


def note(tx: Tx, file_id: str, chunk: str, fs_id: str, kind: Kind, now: float) -> None:
    """Keep one fault of *fs_id*'s copy of a chunk (the latest report wins); a chunk of no file is not kept."""
    tx.execute(
        "INSERT INTO copy_faults (file_id, hash, fileserver_id, kind, at) "
        "SELECT f.id, ?, ?, ?, ? FROM files f WHERE f.id = ? "
        "ON CONFLICT (file_id, hash, fileserver_id) DO UPDATE SET kind = excluded.kind, at = excluded.at",
        (chunk, fs_id, kind, now, file_id),
    )


def clear_site(tx: Tx, file_id: str, chunk: str, fs_id: str) -> None:
    """Forget the faults of a chunk in *fs_id*'s site: a fileserver there holds it again."""
    tx.execute(
        "DELETE FROM copy_faults WHERE file_id = ? AND hash = ? AND fileserver_id IN "
        "(SELECT x.id FROM fileservers x JOIN fileservers me ON me.cluster_id = x.cluster_id WHERE me.id = ?)",
        (file_id, chunk, fs_id),
    )


def inventory(tx: Tx, fs_id: str, shard: str, held: dict[str, list[str]], now: float, settled: float) -> int:
    """Take a fileserver's listing of the chunks it holds of some files; drop the located copies it lacks.

    Only copies recorded before *settled* are judged: one stored while the listing ran may
    be missing from it without being lost. Return how many copies were found missing.
    """
    tx.execute("UPDATE fileservers SET inventory_at = ? WHERE id = ?", (now, fs_id))
    missing = 0
    for file_id, chunks in held.items():
        present = set(chunks)
        rows = tx.all(
            "SELECT l.hash FROM chunk_locations l JOIN shards s ON s.id = l.shard_id "
            "WHERE l.fileserver_id = ? AND l.file_id = ? AND s.name = ? AND l.stored_at < ?",
            (fs_id, file_id, shard, settled),
        )
        for row in rows:
            if row["hash"] in present:
                continue
            tx.execute(
                "DELETE FROM chunk_locations WHERE file_id = ? AND hash = ? AND fileserver_id = ?",
                (file_id, row["hash"], fs_id),
            )
            note(tx, file_id, row["hash"], fs_id, "missing", now)
            backlog.add(tx, file_id, row["hash"])
            missing += 1
            log.warning(
                "a fileserver's listing lacks a chunk it was recorded holding: the copy no longer counts",
                extra={"kv": {"fileserver": fs_id, "shard": shard, "file": file_id, "chunk": row["hash"]}},
            )
    return missing
