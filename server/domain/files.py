"""File records, transfer tickets and finalization.

A file starts ``pending``: the client holds put tickets and uploads chunks to
fileservers. It becomes ``complete`` only when the client hands in, for every
chunk index, a receipt signed by a fileserver that stored it; from then on its
chunk list is fixed and the file's put tickets are revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coffer.protocol import receipts
from coffer.protocol.api.deletions import DeleteFiles, Deletions, Refusal
from coffer.protocol.api.files import CreateFile, Finalize
from coffer.protocol.api.tickets import TicketRequest
from coffer.protocol.encoding import b64decode
from coffer.protocol.ids import check_id, new_id
from coffer.protocol.signing import SigningKey

from ..errors import BadRequest, Conflict, Forbidden, Gone, NotFound, OnHold, QuotaExceeded
from ..store.db import Database, Tx
from . import audit, backlog, creates, deletion, events, quotas, tickets
from .accounts import Principal
from .registry import live_fileservers

FILE_COLUMNS = (
    "id, owner_id, shard_id, size, chunk_count, chunk_size, metadata, sealed_key, state, created_at, expires_at, "
    "completed_at, active_at, hold, key_commitment, format_version"
)


def owner_json(row: dict[str, Any], shard: str, owner: str) -> dict[str, Any]:
    """Return the owner's view of a file record."""
    return {
        "id": row["id"],
        "owner": owner,
        "shard": shard,
        "size": row["size"],
        "chunk_count": row["chunk_count"],
        "chunk_size": row["chunk_size"],
        "metadata": row["metadata"],
        "sealed_key": row["sealed_key"],
        "state": row["state"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
        "completed_at": row["completed_at"],
        "key_commitment": row["key_commitment"],
        "format": row["format_version"],
        "access": "owner",
    }


def shared_json(row: dict[str, Any]) -> dict[str, Any]:
    """Return a recipient's view of a file record (from :func:`visible_file`): their box, never the owner's.

    SECURITY: ``sealed_key`` is the file key sealed to the owner; a recipient gets
    only ``share_key``, the box the owner sealed to them.
    """
    return owner_json(row, row["shard_name"], row["owner_name"]) | {
        "access": "shared",
        "sealed_key": "",
        "share_key": row["share_key"],
        "owner_public_key": row["owner_public_key"] or "",
        "share_stale": bool(row["share_stale"]),
    }


def view_json(row: dict[str, Any], who: Principal) -> dict[str, Any]:
    """Return the record as the caller may see it: the owner's view, or a recipient's."""
    if row["owner_id"] == who.user_id:
        return owner_json(row, row["shard_name"], row["owner_name"])
    return shared_json(row)


VISIBLE_FILE_SQL = (
    f"SELECT {', '.join('f.' + c for c in FILE_COLUMNS.split(', '))}, s.name AS shard_name, "
    "u.name AS owner_name, u.public_key AS owner_public_key, sh.share_key, sh.stale AS share_stale "
    "FROM files f JOIN shards s ON s.id = f.shard_id JOIN users u ON u.id = f.owner_id "
    "LEFT JOIN shares sh ON sh.file_id = f.id AND sh.user_id = ? "
)


def visible_file(tx: Tx, who: Principal, file_id: object) -> dict[str, Any]:
    """Return a file the caller owns or was shared, with its shard, owner and the caller's share box.

    SECURITY: any other file, whether it exists or not, is simply not found, so an
    id tells a stranger nothing.
    """
    check_id(file_id, "file_id")
    row = tx.one(
        VISIBLE_FILE_SQL + "WHERE f.id = ? AND (f.owner_id = ? OR sh.user_id IS NOT NULL)",
        (who.user_id, file_id, who.user_id),
    )
    if row is None:
        raise NotFound("no such file of yours", code="file_not_found")
    return row


def require_owner(row: dict[str, Any], who: Principal) -> None:
    """Refuse a recipient what only the owner may do (change, delete, share or link the file)."""
    if row["owner_id"] != who.user_id:
        raise Forbidden(
            "this file was shared with you: only its owner may change, delete, share or link it", code="not_owner"
        )


def _own_file(tx: Tx, who: Principal, file_id: object) -> tuple[dict[str, Any], str]:
    """Return the caller's own file and its shard name; a recipient is refused, anyone else finds nothing."""
    row = visible_file(tx, who, file_id)
    require_owner(row, who)
    return row, row["shard_name"]


def is_expired(row: dict[str, Any], now: float) -> bool:
    """Tell whether a file is past its expiry and not held: it is being deleted and serves nothing."""
    return bool(row["expires_at"] <= now and not row["hold"])


def refuse_expired(row: dict[str, Any], now: float) -> None:
    """Refuse to serve a file that :func:`is_expired` says is being deleted."""
    if is_expired(row, now):
        raise Gone("this file has expired: it is being deleted", code="file_expired")


@dataclass(frozen=True)
class Limits:
    """The server settings a new file is checked against."""

    max_chunk_size: int
    max_retention: float
    quota_bytes: int
    quota_files: int


def create(
    db: Database, who: Principal, actor: audit.Actor, request: CreateFile, limits: Limits, now: float
) -> tuple[dict[str, Any], bool]:
    """Record a pending file (*request* parsed with ``limits.max_chunk_size``): the reservation of its size.

    Return the owner's record and whether it was made now: a create resent with the create id
    of one already made answers that file unchanged (:mod:`.creates`), past quota checks it passed once.
    """
    max_retention = limits.max_retention
    shard, size = request.shard, request.size
    expires_in = max_retention if request.expires_in is None else request.expires_in
    if expires_in > max_retention:
        raise BadRequest(
            "'expires_in' is beyond this server's maximum retention of "
            f"{max_retention / 86400:.4g} days ({max_retention:.0f} s)",
            code="retention_exceeded",
        )
    try:
        with db.transaction() as tx:
            shard_row = tx.one("SELECT id FROM shards WHERE name = ?", (shard,))
            if shard_row is None:
                raise NotFound(f"no shard named {shard!r}", code="shard_not_found")
            quota = quotas.of_user(
                tx, who.user_id, default_bytes=limits.quota_bytes, default_files=limits.quota_files, lock=True
            )
            # The user's row is locked now, so a create with the same id cannot be racing this one.
            earlier = creates.made_before(tx, who, request, FILE_COLUMNS)
            if earlier is not None:
                return owner_json(earlier, earlier["shard_name"], who.name), False
            quota.check(size)
            row = {
                "id": new_id(),
                "owner_id": who.user_id,
                "shard_id": shard_row["id"],
                "size": size,
                "chunk_count": request.chunk_count,
                "chunk_size": request.chunk_size,
                "metadata": request.metadata,
                "sealed_key": request.sealed_key,
                "state": "pending",
                "created_at": now,
                "expires_at": now + expires_in,
                "completed_at": None,
                "active_at": now,
                "hold": False,
                "key_commitment": request.key_commitment,
                "format_version": request.format_version,
            }
            given = request.create_id or None
            stored = row | {"create_id": given, "create_digest": creates.digest(request) if given else None}
            marks = ", ".join("?" * len(stored))
            tx.execute(f"INSERT INTO files ({', '.join(stored)}) VALUES ({marks})", tuple(stored.values()))
            audit.record(tx, "file.created", now, actor, object=f"file:{row['id']}", shard=shard, size=size)
            facts = {"user": who.name, "shard": shard, "size": size, "chunks": request.chunk_count}
            events.record(tx, "file.created", now, file=row["id"], **facts)
    except QuotaExceeded as exc:
        audit.record_alone(db, "quota.exceeded", now, actor, outcome="denied", shard=shard, size=size, **exc.details)
        raise
    return owner_json(row, shard, who.name), True


def get(db: Database, who: Principal, file_id: str) -> dict[str, Any]:
    """Return a file record to its owner or a recipient; a complete file lists its chunks."""
    with db.transaction(readonly=True) as tx:
        row = visible_file(tx, who, file_id)
        result = view_json(row, who)
        if row["state"] == "complete":
            result["chunks"] = chunk_list(tx, file_id)
    return result


def chunk_list(tx: Tx, file_id: str) -> list[dict[str, Any]]:
    """Return a complete file's chunks in order, each with the fileservers known to hold it."""
    chunks = tx.all("SELECT idx, hash, size FROM chunks WHERE file_id = ? ORDER BY idx", (file_id,))
    places = tx.all(
        "SELECT hash, fileserver_id FROM chunk_locations WHERE file_id = ? ORDER BY fileserver_id", (file_id,)
    )
    where: dict[str, list[str]] = {}
    for p in places:
        where.setdefault(p["hash"], []).append(p["fileserver_id"])
    return [
        {"index": c["idx"], "hash": c["hash"], "size": c["size"], "fileservers": where.get(c["hash"], [])}
        for c in chunks
    ]


def issue_tickets(
    db: Database,
    key: SigningKey,
    who: Principal,
    actor: audit.Actor,
    file_id: str,
    request: TicketRequest,
    *,
    ttl: float,
    lease: float,
    now: float,
    upload_deadline: float | None = None,
) -> dict[str, Any]:
    """Sign tickets for a file: one put ticket (owner only), or get tickets of at most 32 chunks each.

    A recipient of the file may ask for get tickets; each ticket is recorded with
    its holder (the caller), so ending the share revokes them. A put ticket lives
    no later than the upload's deadline (*upload_deadline* seconds after the file
    was created; None: no deadline), and none is issued past it.
    """
    op = request.op
    exp = int(now + ttl)
    with db.transaction() as tx:
        row = visible_file(tx, who, file_id)
        shard = row["shard_name"]
        if op == "put":
            require_owner(row, who)
            if upload_deadline is not None:
                exp = min(exp, upload_due(row, upload_deadline, now))  # SECURITY: no upload outlives its deadline
        refuse_expired(row, now)
        groups = tickets.groups(tx, row, op, request.chunks)
        issued = tickets.sign(tx, key, row, op, groups, holder=who.user_id, exp=exp, now=now)
        if op == "put":
            tx.execute("UPDATE files SET active_at = ? WHERE id = ?", (exp, file_id))
        else:
            chunks = sum(len(group) for group in groups)
            audit.record(tx, "file.download_ticket", now, actor, object=f"file:{file_id}", chunks=chunks)
        servers = live_fileservers(tx, shard, "write" if op == "put" else "read", now, lease)
        copies = copy_count(tx, row["shard_id"])
    return {"tickets": issued, "fileservers": servers, "copies": copies}


def upload_due(row: dict[str, Any], upload_deadline: float, now: float) -> int:
    """Return when a pending file's upload must be finalized by; refuse it once that time has passed.

    Put tickets are renewed as an upload goes on, so without a deadline a
    pending file (and the chunks its tickets stored) could outlive any sweep.
    """
    due = int(row["created_at"] + upload_deadline)
    if now >= due:
        hours = upload_deadline / 3600
        raise Gone(
            f"this upload was not finalized within {hours:.4g} h of its creation, the server's upload deadline: "
            "it is being collected. Upload the file again (in smaller files if it cannot finish in time)",
            code="upload_expired",
        )
    return due


@dataclass(frozen=True)
class Layout:
    """A pending file's layout: what its finalize body is checked against."""

    size: int
    chunk_size: int
    chunk_count: int


def pending_layout(db: Database, who: Principal, file_id: str) -> Layout:
    """Return the layout of the caller's pending file, so a missing or complete file is reported before a bad body."""
    with db.transaction(readonly=True) as tx:
        row, _ = _pending_own_file(tx, who, file_id)
    return Layout(row["size"], row["chunk_size"], row["chunk_count"])


def _pending_own_file(tx: Tx, who: Principal, file_id: str) -> tuple[dict[str, Any], str]:
    row, shard = _own_file(tx, who, file_id)
    if row["state"] != "pending":
        raise Conflict("the file is already complete", code="file_complete")
    return row, shard


def finalize(db: Database, who: Principal, file_id: str, request: Finalize, now: float) -> dict[str, Any]:
    """Mark the file complete once every chunk has a valid receipt; otherwise change nothing.

    *request* was parsed against :func:`pending_layout`, which a file never changes.
    """
    with db.transaction() as tx:
        row, shard = _pending_own_file(tx, who, file_id)
        chunks = [(c.index, c.hash, c.size, c.receipts) for c in request.chunks]
        metadata = row["metadata"] if request.metadata is None else request.metadata
        copies = copy_count(tx, row["shard_id"])
        fs_ids = {receipts.fileserver_of(r) for _, _, _, proofs in chunks for r in proofs}
        marks = ",".join("?" * len(fs_ids))
        # SECURITY: only a cluster that may write the shard is handed put tickets, so only its receipts count.
        keys = {
            r["id"]: b64decode(r["public_key"])
            for r in tx.all(
                "SELECT f.id, f.public_key FROM fileservers f JOIN cluster_shards l ON l.cluster_id = f.cluster_id "
                f"WHERE l.shard_id = ? AND l.can_write = ? AND f.id IN ({marks})",
                (row["shard_id"], True, *fs_ids),
            )
        }
    # Signatures are checked outside the transaction: no lock is held for CPU work.
    locations: list[tuple[str, str]] = []
    for index, chunk_hash, size, proofs in chunks:
        for token in proofs:
            fs = receipts.fileserver_of(token)
            if fs not in keys:
                raise receipts.ReceiptInvalid(
                    f"chunk {index}: the receipt names a fileserver whose cluster may not write this shard"
                )
            receipt = receipts.verify(token, keys[fs])
            if (receipt.file, receipt.shard, receipt.chunk, receipt.size) != (file_id, shard, chunk_hash, size):
                raise receipts.ReceiptInvalid(f"chunk {index}: the receipt is for another chunk, file or shard")
            locations.append((chunk_hash, fs))
        require_copies(index, {receipts.fileserver_of(token) for token in proofs}, copies, shard)
    with db.transaction() as tx:
        if not tx.execute(
            "UPDATE files SET state = 'complete', completed_at = ?, metadata = ? WHERE id = ? AND state = 'pending'",
            (now, metadata, file_id),
        ):
            raise Conflict("the file is already complete", code="file_complete")
        for index, chunk_hash, size, _ in chunks:
            tx.execute(
                "INSERT INTO chunks (file_id, idx, hash, size) VALUES (?, ?, ?, ?)", (file_id, index, chunk_hash, size)
            )
        for chunk_hash, fs in set(locations):
            tx.execute(
                "INSERT INTO chunk_locations (file_id, hash, fileserver_id, shard_id, stored_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (file_id, hash, fileserver_id) DO NOTHING",
                (file_id, chunk_hash, fs, row["shard_id"], now),
            )
        tickets.revoke_puts(tx, file_id, now)
        events.record(
            tx, "file.completed", now, file=file_id, user=who.name, shard=shard, size=row["size"], chunks=len(chunks)
        )
        # Last: it waits for the backlog's turn (one row on PostgreSQL), held from here to the commit.
        backlog.add(tx, file_id)  # its copies to other sites and up to the count are planned from here
    return get(db, who, file_id)


def copy_count(tx: Tx, shard_id: str) -> int:
    """Return how many fileservers each chunk of the shard is kept on."""
    row = tx.one("SELECT copies FROM shards WHERE id = ?", (shard_id,))
    return int(row["copies"]) if row else 1


def require_copies(index: int, holders: set[str], copies: int, shard: str) -> None:
    """Refuse a finalize whose chunk *index* was stored on fewer distinct fileservers than the shard keeps.

    A file finalized below its count would be lost with one fileserver, the moment its upload returned.
    """
    if len(holders) < copies:
        raise BadRequest(
            f"chunk {index} has receipts from {len(holders)} fileserver(s), but shard {shard!r} keeps every chunk "
            f"on {copies}: store each chunk on {copies} distinct fileservers (a current coffer client does, "
            "given that many live ones) and finalize again",
            code="too_few_copies",
        )


HOLD_MESSAGE = "this file is under legal hold: it cannot be deleted until an administrator releases it"


def delete(db: Database, who: Principal, actor: audit.Actor, file_id: str, now: float) -> None:
    """Drop the caller's file at once (a pending one too: that aborts the upload and frees its quota)."""
    with db.transaction() as tx:
        row, shard = _own_file(tx, who, file_id)
        held = bool(row["hold"]) or is_user_held(tx, who.user_id)
        if not held:
            deletion.drop_file(tx, file_id, row["shard_id"], "deleted", now)
            audit.record(tx, "file.deleted", now, actor, object=f"file:{file_id}", shard=shard, size=row["size"])
    if held:
        audit.record_alone(db, "file.deleted", now, actor, object=f"file:{file_id}", outcome="denied", why="hold")
        raise OnHold(HOLD_MESSAGE)


def delete_many(db: Database, who: Principal, actor: audit.Actor, request: DeleteFiles, now: float) -> Deletions:
    """Delete each file as :func:`delete` does, in one transaction: a file refused leaves the others deleted.

    A file not found, not the caller's or under hold is answered in ``refused`` with
    the error its own ``DELETE`` would have had, and audited as that would be.
    """
    deleted: list[str] = []
    refused: list[Refusal] = []
    with db.transaction() as tx:
        user_held = is_user_held(tx, who.user_id)
        for file_id in request.ids:
            try:
                row, shard = _own_file(tx, who, file_id)
            except (NotFound, Forbidden) as exc:
                refused.append(Refusal(file_id, exc.code, exc.message, exc.status))
                continue
            if row["hold"] or user_held:
                audit.record(tx, "file.deleted", now, actor, object=f"file:{file_id}", outcome="denied", why="hold")
                refused.append(Refusal(file_id, OnHold.code, HOLD_MESSAGE, OnHold.status))
                continue
            deletion.drop_file(tx, file_id, row["shard_id"], "deleted", now)
            audit.record(tx, "file.deleted", now, actor, object=f"file:{file_id}", shard=shard, size=row["size"])
            deleted.append(file_id)
    return Deletions(tuple(deleted), tuple(refused))


def is_user_held(tx: Tx, user_id: str) -> bool:
    row = tx.one("SELECT hold FROM users WHERE id = ?", (user_id,))
    return bool(row and row["hold"])
