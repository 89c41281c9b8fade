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
from . import backlog, faults, sites
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
    lease: float = 0.0,
) -> set[str]:
    """Record the copies *fs_id* made (each receipt verified with its key) and the ones that failed.

    Return the files a copy was recorded of: a new holder may make copy work elsewhere.

    A source reported unreachable that has itself stopped beating for a *lease* is an
    outage (a cut line, a site down), not a bad source: the failure frees the chunk but does
    not count toward the give-up, and no order names that source until it beats again.
    """
    key = b64decode(public_key)
    files: set[str] = set()
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
            "INSERT INTO chunk_locations (file_id, hash, fileserver_id, shard_id, stored_at, copied) "
            "SELECT f.id, ?, ?, f.shard_id, ?, ? FROM files f WHERE f.id = ? "
            "ON CONFLICT (file_id, hash, fileserver_id) DO NOTHING",
            (receipt.chunk, fs_id, now, True, receipt.file),
        )
        faults.clear_site(tx, receipt.file, receipt.chunk, fs_id)
        backlog.add(tx, receipt.file, receipt.chunk)  # settled now, most likely: the next planning prunes it
        tx.execute(
            "DELETE FROM repairs WHERE file_id = ? AND hash = ? "
            "AND (site = '' OR site = (SELECT cluster_id FROM fileservers WHERE id = ?))",
            (receipt.file, receipt.chunk, fs_id),
        )
        files.add(receipt.file)
        log.info("chunk copy recorded", extra={"kv": {"fileserver": fs_id, "file": receipt.file}})
    for failure in failed:
        _failed(tx, fs_id, failure, now, lease)
    return files


def _is_chunk_of_shard(tx: Tx, fs_id: str, receipt: receipts.Receipt) -> bool:
    """Tell whether the receipt names a chunk of a complete file of its shard, which *fs_id*'s cluster may keep.

    SECURITY: a cluster keeps a shard's chunks when its link reads or writes the shard; a copy
    claimed by a fileserver of any other cluster (an on-premises shard elsewhere) is refused.
    """
    return (
        tx.one(
            "SELECT 1 AS x FROM chunks c JOIN files f ON f.id = c.file_id JOIN shards s ON s.id = f.shard_id "
            "JOIN fileservers me ON me.id = ? "
            "JOIN cluster_shards l ON l.cluster_id = me.cluster_id AND l.shard_id = s.id "
            "AND (l.can_write = ? OR l.can_read = ?) "
            "WHERE c.file_id = ? AND c.hash = ? AND c.size = ? AND s.name = ? AND f.state = 'complete'",
            (fs_id, True, True, receipt.file, receipt.chunk, receipt.size, receipt.shard),
        )
        is not None
    )


def _failed(tx: Tx, fs_id: str, failure: copy_protocol.CopyFailure, now: float, lease: float) -> None:
    problem = f"{CORRUPT}{failure.source}" if failure.reason == "corrupt" else f"unreachable:{failure.source}"
    gone = failure.reason == "unreachable" and not tx.one(
        "SELECT 1 AS x FROM fileservers WHERE id = ? AND last_seen >= ?", (failure.source, now - lease)
    )
    if not tx.execute(
        # A corrupt source stays remembered when a later source is only unreachable: it is never picked again.
        # The last allowed failure dates the give-up (it holds for an hour); an earlier one frees the chunk at once.
        "UPDATE repairs SET tries = tries + ?, ordered_at = CASE WHEN tries + ? >= ? THEN ? ELSE 0 END, "
        "problem = CASE WHEN ? = 'unreachable' AND problem LIKE 'corrupt:%' THEN problem ELSE ? END "
        "WHERE file_id = ? AND hash = ? AND target_id = ?",
        (
            0 if gone else 1,
            0 if gone else 1,
            MAX_REPAIR_TRIES,
            now,
            failure.reason,
            problem,
            failure.file,
            failure.chunk,
            fs_id,
        ),
    ):
        return  # not this fileserver's order (any more): nothing to change
    row = tx.one(
        "SELECT MAX(tries) AS tries FROM repairs WHERE file_id = ? AND hash = ? AND target_id = ?",
        (failure.file, failure.chunk, fs_id),
    )
    kv = {"fileserver": fs_id, "source": failure.source, "file": failure.file, "chunk": failure.chunk}
    if failure.reason == "corrupt":
        faults.note(tx, failure.file, failure.chunk, failure.source, "corrupt", now)
        log.warning("copy source sent a corrupt chunk: it is not copied, another source is tried", extra={"kv": kv})
    if row is not None and row["tries"] is not None and row["tries"] >= MAX_REPAIR_TRIES:
        log.warning("chunk repair given up after repeated failures", extra={"kv": kv | {"tries": row["tries"]}})


def orders(tx: Tx, key: SigningKey, fs_id: str, policy: Policy, now: float) -> list[copy_protocol.CopyOrder]:
    """Order *fs_id* to copy chunks its site lacks, then chunks below their count it lacks, each from a live holder.

    It holds at most ``policy.batch`` open orders at once, site copies and repairs
    together: each beat tops them up, so a slow fileserver is never handed a queue
    longer than that.
    """
    backlog.refresh(tx, now - policy.grace)
    if policy.batch <= 0:
        return []
    held = tx.one(
        "SELECT COUNT(*) AS n FROM repairs WHERE target_id = ? AND tries < ? AND ordered_at > ?",
        (fs_id, MAX_REPAIR_TRIES, now - ORDER_TIMEOUT),
    )
    room = policy.batch - (int(held["n"]) if held else 0)
    if room <= 0:
        return []  # its open orders are its queue: no more until it reports some
    cuts = sites.Cuts(
        counted=now - policy.grace, live=now - policy.lease, open=now - ORDER_TIMEOUT, retry=now - RETRY_AFTER
    )
    wanted = sites.missing_at_site(tx, fs_id, cuts, room)
    if len(wanted) < room:
        wanted += _below_count(tx, fs_id, cuts, room - len(wanted))
    made = []
    for chunk in wanted:
        order = _order(tx, key, fs_id, chunk, policy, now)
        if order is not None:
            made.append(order)
    if made:
        log.info("copy orders handed out", extra={"kv": {"fileserver": fs_id, "orders": len(made)}})
    return made


def _below_count(tx: Tx, fs_id: str, cuts: sites.Cuts, room: int) -> list[dict[str, Any]]:
    """Chunks below their shard's count that *fs_id* (which writes the shard) lacks, with no copy on the way.

    Where the shard has several clusters, a fileserver whose cluster already holds a counted
    copy is handed the chunk only when no other cluster that writes the shard (with a live
    fileserver writing it) lacks one: the second copy goes to another site when there is one.
    """
    other_site_lacks = (
        "EXISTS (SELECT 1 FROM cluster_shards o JOIN fileservers y ON y.cluster_id = o.cluster_id "
        "JOIN fileserver_shards ys ON ys.fileserver_id = y.id AND ys.shard_id = o.shard_id AND ys.can_write = ? "
        "WHERE o.shard_id = s.id AND o.can_write = ? AND o.cluster_id <> me.cluster_id AND y.last_seen >= ? "
        f"AND NOT {sites.held_by_site('o.cluster_id')})"
    )
    return tx.all(
        "SELECT c.file_id, c.hash, c.size, s.id AS shard_id, s.name AS shard, '' AS site, l.bandwidth "
        f"FROM {backlog.chunks_and_files(tx)} JOIN shards s ON s.id = f.shard_id "
        "JOIN fileserver_shards fs ON fs.shard_id = s.id AND fs.fileserver_id = ? AND fs.can_write = ? "
        "JOIN fileservers me ON me.id = fs.fileserver_id "
        "JOIN cluster_shards l ON l.cluster_id = me.cluster_id AND l.shard_id = s.id AND l.can_write = ? "
        f"WHERE f.state = 'complete' AND s.copies > 1 AND {COUNTED_COPIES} < s.copies "
        "AND NOT EXISTS (SELECT 1 FROM chunk_locations h "
        "WHERE h.file_id = c.file_id AND h.hash = c.hash AND h.fileserver_id = ?) "
        f"AND NOT {sites.ORDER_PENDING} "
        f"AND (NOT {sites.held_by_site('me.cluster_id')} OR NOT {other_site_lacks}) "
        f"ORDER BY f.created_at, c.file_id, c.idx LIMIT {int(room)}",
        (
            fs_id,
            True,
            True,
            cuts.counted,
            fs_id,
            *sites.order_pending_args(cuts),
            cuts.counted,
            True,
            True,
            cuts.live,
            cuts.counted,
        ),
    )


def _order(
    tx: Tx, key: SigningKey, fs_id: str, chunk: dict[str, Any], policy: Policy, now: float
) -> copy_protocol.CopyOrder | None:
    """Record and sign one copy order for *chunk*; or, with no live good holder, give it up (logged once)."""
    row_key = (chunk["file_id"], chunk["hash"], chunk["site"])
    previous = tx.one("SELECT problem FROM repairs WHERE file_id = ? AND hash = ? AND site = ?", row_key)
    bad = previous["problem"].removeprefix(CORRUPT) if previous and previous["problem"].startswith(CORRUPT) else ""
    source = tx.one(
        "SELECT x.id, x.url FROM chunk_locations l JOIN fileservers x ON x.id = l.fileserver_id "
        "JOIN fileserver_shards fs ON fs.fileserver_id = x.id AND fs.shard_id = ? AND fs.can_read = ? "
        "JOIN fileservers me ON me.id = ? "
        "WHERE l.file_id = ? AND l.hash = ? AND x.last_seen >= ? AND x.id <> me.id AND x.id <> ? "
        "ORDER BY CASE WHEN x.cluster_id = me.cluster_id THEN 0 ELSE 1 END, x.active_transfers, x.id LIMIT 1",
        (chunk["shard_id"], True, fs_id, chunk["file_id"], chunk["hash"], now - policy.lease, bad),
    )
    upsert = (
        "INSERT INTO repairs (file_id, hash, site, target_id, source_id, ordered_at, tries, problem) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_id, hash, site) DO UPDATE SET "
        "target_id = excluded.target_id, source_id = excluded.source_id, ordered_at = excluded.ordered_at, "
        "problem = excluded.problem"
    )
    if source is None:
        tx.execute(
            upsert + ", tries = excluded.tries",
            (*row_key, None, None, now, MAX_REPAIR_TRIES, NO_SOURCE),
        )
        log.warning(
            "chunk has no good copy to copy from: it stays unrepairable until one returns",
            extra={
                "kv": {"shard": chunk["shard"], "file": chunk["file_id"], "chunk": chunk["hash"], "site": chunk["site"]}
            },
        )
        return None
    tx.execute(upsert, (*row_key, fs_id, source["id"], now, 0, previous["problem"] if previous else ""))
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
        bandwidth=int(chunk["bandwidth"]),
    )
