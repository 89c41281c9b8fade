"""Repair: bring chunks below their shard's copy count back to it, from a good copy, without an operator.

Driven by heartbeats, so it needs no scheduler and stops by itself when a fileserver
does: each beat of a live fileserver that may write a shard first records what it
reports (copies made: receipts that become locations; copies failed: the source is
avoided next time), then is handed new copy orders, up to ``repair_batch`` open at once,
for chunks it lacks whose counted copies (:mod:`.copies`) are fewer than the shard's ``copies``.
Each order names a live holder as the source and carries a copy ticket the server
signs for that target, source and chunk alone.

A shard at ``copies = 1`` is never repaired: a chunk below a count of one has no copy
left to repair from (it is lost until its fileserver returns), so it is not even looked for.

Bounded: one open order per chunk (``repairs``), re-ordered elsewhere only after
:data:`ORDER_TIMEOUT` or a reported failure; after :data:`~.copies.MAX_REPAIR_TRIES`
failures, or when no live fileserver holds a good copy, the chunk is given up on
(logged once, counted as ``unrepairable`` in ``coffer admin shards``) and tried again
only after :data:`~.copies.RETRY_AFTER`. A source whose bytes did not hash to the
chunk (``corrupt``) is never chosen again for that chunk's repair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from coffer.protocol import copies as copy_protocol
from coffer.protocol import receipts
from coffer.protocol.encoding import b64decode
from coffer.protocol.ids import new_id
from coffer.protocol.signing import SigningKey

from ..store.db import Tx
from .copies import COUNTED_COPIES, MAX_REPAIR_TRIES, RETRY_AFTER

log = logging.getLogger(__name__)

ORDER_TIMEOUT = 120.0
"""Seconds an order may stay unanswered (its target died, its answer was lost) before another fileserver gets it."""
NO_SOURCE = "no live fileserver holds a good copy"
CORRUPT = "corrupt:"
"""The problem of a repair whose last source sent bytes that do not hash to the chunk: followed by that source."""


@dataclass(frozen=True)
class Policy:
    """The server settings repair runs by."""

    grace: float
    lease: float
    batch: int
    ticket_ttl: float


def record(
    tx: Tx,
    fs_id: str,
    public_key: str,
    copied: list[str],
    failed: list[copy_protocol.CopyFailure],
    now: float,
) -> None:
    """Record the copies *fs_id* made (each receipt verified with its key) and the ones that failed."""
    key = b64decode(public_key)
    for token in copied:
        try:
            receipt = receipts.verify(token, key)  # SECURITY: only this fileserver's own signed word counts
        except receipts.ReceiptInvalid as exc:
            log.warning("copy receipt refused", extra={"kv": {"fileserver": fs_id, "reason": exc.message}})
            continue
        if receipt.fs != fs_id or not _is_chunk_of_shard(tx, fs_id, receipt):
            log.warning("copy receipt for no chunk of its shard", extra={"kv": {"fileserver": fs_id}})
            continue
        tx.execute(
            "INSERT INTO chunk_locations (file_id, hash, fileserver_id, shard_id, stored_at) "
            "SELECT f.id, ?, ?, f.shard_id, ? FROM files f WHERE f.id = ? "
            "ON CONFLICT (file_id, hash, fileserver_id) DO NOTHING",
            (receipt.chunk, fs_id, now, receipt.file),
        )
        tx.execute("DELETE FROM repairs WHERE file_id = ? AND hash = ?", (receipt.file, receipt.chunk))
        log.info("chunk copy recorded", extra={"kv": {"fileserver": fs_id, "file": receipt.file}})
    for failure in failed:
        _failed(tx, fs_id, failure)


def _is_chunk_of_shard(tx: Tx, fs_id: str, receipt: receipts.Receipt) -> bool:
    """Tell whether the receipt names a chunk of a complete file of its shard, which *fs_id*'s cluster may write."""
    return (
        tx.one(
            "SELECT 1 AS x FROM chunks c JOIN files f ON f.id = c.file_id JOIN shards s ON s.id = f.shard_id "
            "JOIN fileservers me ON me.id = ? "
            "JOIN cluster_shards l ON l.cluster_id = me.cluster_id AND l.shard_id = s.id AND l.can_write = ? "
            "WHERE c.file_id = ? AND c.hash = ? AND c.size = ? AND s.name = ? AND f.state = 'complete'",
            (fs_id, True, receipt.file, receipt.chunk, receipt.size, receipt.shard),
        )
        is not None
    )


def _failed(tx: Tx, fs_id: str, failure: copy_protocol.CopyFailure) -> None:
    problem = f"{CORRUPT}{failure.source}" if failure.reason == "corrupt" else f"unreachable:{failure.source}"
    if not tx.execute(
        "UPDATE repairs SET tries = tries + 1, ordered_at = 0, problem = ? "
        "WHERE file_id = ? AND hash = ? AND target_id = ?",
        (problem, failure.file, failure.chunk, fs_id),
    ):
        return  # not this fileserver's order (any more): nothing to change
    row = tx.one("SELECT tries FROM repairs WHERE file_id = ? AND hash = ?", (failure.file, failure.chunk))
    kv = {"fileserver": fs_id, "source": failure.source, "file": failure.file, "chunk": failure.chunk}
    if failure.reason == "corrupt":
        log.warning("copy source sent a corrupt chunk: it is not copied, another source is tried", extra={"kv": kv})
    if row is not None and row["tries"] >= MAX_REPAIR_TRIES:
        log.warning("chunk repair given up after repeated failures", extra={"kv": kv | {"tries": row["tries"]}})


def orders(tx: Tx, key: SigningKey, fs_id: str, policy: Policy, now: float) -> list[copy_protocol.CopyOrder]:
    """Order *fs_id* to copy chunks below their count that it lacks, each from a live holder.

    It holds at most ``policy.batch`` open orders at once: each beat tops them up, so a
    slow fileserver is never handed a queue longer than that.
    """
    if policy.batch <= 0:
        return []
    held = tx.one(
        "SELECT COUNT(*) AS n FROM repairs WHERE target_id = ? AND tries < ? AND ordered_at > ?",
        (fs_id, MAX_REPAIR_TRIES, now - ORDER_TIMEOUT),
    )
    room = policy.batch - (int(held["n"]) if held else 0)
    if room <= 0:
        return []  # its open orders are its queue: no more until it reports some
    wanted = tx.all(
        "SELECT c.file_id, c.hash, c.size, s.id AS shard_id, s.name AS shard FROM chunks c "
        "JOIN files f ON f.id = c.file_id JOIN shards s ON s.id = f.shard_id "
        "JOIN fileserver_shards fs ON fs.shard_id = s.id AND fs.fileserver_id = ? AND fs.can_write = ? "
        "JOIN fileservers me ON me.id = fs.fileserver_id "
        "JOIN cluster_shards l ON l.cluster_id = me.cluster_id AND l.shard_id = s.id AND l.can_write = ? "
        f"WHERE f.state = 'complete' AND s.copies > 1 AND {COUNTED_COPIES} < s.copies "
        "AND NOT EXISTS (SELECT 1 FROM chunk_locations h "
        "WHERE h.file_id = c.file_id AND h.hash = c.hash AND h.fileserver_id = ?) "
        "AND NOT EXISTS (SELECT 1 FROM repairs r WHERE r.file_id = c.file_id AND r.hash = c.hash "
        "AND ((r.tries < ? AND r.ordered_at > ?) OR (r.tries >= ? AND r.ordered_at > ?))) "
        f"ORDER BY f.created_at, c.file_id, c.idx LIMIT {int(room)}",
        (
            fs_id,
            True,
            True,
            now - policy.grace,
            fs_id,
            MAX_REPAIR_TRIES,
            now - ORDER_TIMEOUT,
            MAX_REPAIR_TRIES,
            now - RETRY_AFTER,
        ),
    )
    made = []
    for chunk in wanted:
        order = _order(tx, key, fs_id, chunk, policy, now)
        if order is not None:
            made.append(order)
    if made:
        log.info("copy orders handed out", extra={"kv": {"fileserver": fs_id, "orders": len(made)}})
    return made


def _order(
    tx: Tx, key: SigningKey, fs_id: str, chunk: dict[str, Any], policy: Policy, now: float
) -> copy_protocol.CopyOrder | None:
    """Record and sign one copy order for *chunk*; or, with no live good holder, give it up (logged once)."""
    previous = tx.one("SELECT problem FROM repairs WHERE file_id = ? AND hash = ?", (chunk["file_id"], chunk["hash"]))
    bad = previous["problem"].removeprefix(CORRUPT) if previous and previous["problem"].startswith(CORRUPT) else ""
    source = tx.one(
        "SELECT x.id, x.url FROM chunk_locations l JOIN fileservers x ON x.id = l.fileserver_id "
        "JOIN fileserver_shards fs ON fs.fileserver_id = x.id AND fs.shard_id = ? AND fs.can_read = ? "
        "WHERE l.file_id = ? AND l.hash = ? AND x.last_seen >= ? AND x.id <> ? AND x.id <> ? "
        "ORDER BY x.active_transfers, x.id LIMIT 1",
        (chunk["shard_id"], True, chunk["file_id"], chunk["hash"], now - policy.lease, fs_id, bad),
    )
    upsert = (
        "INSERT INTO repairs (file_id, hash, target_id, source_id, ordered_at, tries, problem) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_id, hash) DO UPDATE SET target_id = excluded.target_id, "
        "source_id = excluded.source_id, ordered_at = excluded.ordered_at, problem = excluded.problem"
    )
    if source is None:
        tx.execute(
            upsert + ", tries = excluded.tries",
            (
                chunk["file_id"],
                chunk["hash"],
                None,
                None,
                now,
                MAX_REPAIR_TRIES,
                "no live fileserver holds a good copy",
            ),
        )
        log.warning(
            "chunk below its copy count has no good copy to repair from: it stays unrepairable until one returns",
            extra={"kv": {"shard": chunk["shard"], "file": chunk["file_id"], "chunk": chunk["hash"]}},
        )
        return None
    tx.execute(
        upsert,
        (chunk["file_id"], chunk["hash"], fs_id, source["id"], now, 0, previous["problem"] if previous else ""),
    )
    ticket = copy_protocol.CopyTicket(
        target=fs_id,
        source=source["id"],
        shard=chunk["shard"],
        file=chunk["file_id"],
        chunk=chunk["hash"],
        size=chunk["size"],
        iat=int(now),
        exp=int(now + policy.ticket_ttl),
        jti=new_id(),
    )
    return copy_protocol.CopyOrder(
        shard=chunk["shard"],
        file=chunk["file_id"],
        chunk=chunk["hash"],
        size=chunk["size"],
        source=source["id"],
        source_url=source["url"],
        ticket=copy_protocol.issue(key, ticket),  # SECURITY: a capability for this target, source and chunk
    )
