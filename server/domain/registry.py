"""The fileserver registry: registration, heartbeats, and who is live.

Liveness is a lease: a fileserver is handed to clients only while its last
heartbeat is younger than ``lease_seconds``. Rows are keyed by the id the
fileserver persists on its own disk, so a restart updates its row instead of
adding one.

Identity: a fileserver's identity key is pinned at its first registration (proven by
a signature with that key), and every later request for that id must be proven with
the same key. Every fileserver of a cluster shares its credential, so without this
one could re-register a peer's id with its own address and receipt key. Only an
administrator changes a pinned key: :func:`forget` unpins it, and the next
registration pins a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from coffer.protocol import cluster as cluster_protocol
from coffer.protocol import messages
from coffer.protocol.api.admin import FileserverShard, RegisteredFileserver
from coffer.protocol.encoding import b64decode, b64encode
from coffer.protocol.signing import SignatureInvalid, SigningKey, key_id

from ..errors import Conflict, FileserverUnknown, NotFound, Replay, ShardNotAllowed, Unauthorized
from ..store.db import Database, IntegrityError, Tx
from . import audit, backlog, deletion, events, faults, repair, revocations
from .topology import read_topology

log = logging.getLogger(__name__)

UNPINNED = ""
"""The public key on record of a fileserver an administrator forgot: its next registration pins a new one."""
NONCE_MEMORY = 2 * cluster_protocol.MAX_SKEW


def _authenticate(
    tx: Tx, body: dict[str, Any], action: cluster_protocol.Action, now: float
) -> cluster_protocol.ClusterRequest:
    """Check the cluster signature, the clock window and the nonce of a fileserver request."""
    cluster_id, generation = cluster_protocol.claimed_sender(body)
    row = tx.one(
        "SELECT public_key FROM cluster_credentials WHERE cluster_id = ? AND generation = ? "
        "AND (not_after IS NULL OR not_after > ?)",
        (cluster_id, generation, now),
    )
    if row is None:
        raise Unauthorized(
            "this cluster credential is unknown or was rotated out: export the cluster config again "
            "with `coffer admin cluster-config CLUSTER`",
            code="credential_invalid",
        )
    request = cluster_protocol.open_request(body, b64decode(row["public_key"]), action, now)
    tx.execute("DELETE FROM request_nonces WHERE seen_at < ?", (now - NONCE_MEMORY,))
    try:
        tx.execute("INSERT INTO request_nonces (nonce, seen_at) VALUES (?, ?)", (request.nonce, now))
    except IntegrityError as exc:
        raise Replay("this signed request was already received: replay refused") from exc
    return request


def _key_mismatch(fs_id: str, registered: str, offered: bytes | None) -> Conflict:
    """Say which keys disagree and what each person who may read this should do."""
    offered_text = f"identity key {key_id(offered)}" if offered is not None else "another identity key"
    return Conflict(
        f"fileserver {fs_id} is registered with identity key {key_id(b64decode(registered))}, but this request "
        f"is proven with {offered_text}: refused. If this is that fileserver and its identity file "
        "(identity.json in its data directory) was lost or replaced, restore it from a backup, or have an "
        f"administrator run `coffer admin fileserver forget {fs_id}` and restart the fileserver. Otherwise another "
        "host is claiming this fileserver's id: the server's log names the address it came from",
        code="fileserver_key_mismatch",
    )


def _prove(body: dict[str, Any], fs_id: str, registered: str, offered: bytes | None = None) -> None:
    """Refuse a request not proven by the key on record for *fs_id* (or, at first registration, by *offered*).

    SECURITY: this is what stops a peer of the cluster from speaking for another fileserver.
    """
    if registered != UNPINNED and offered is not None and b64encode(offered) != registered:
        cluster_protocol.check_proof(body, offered)  # proven, yet not the pinned key: a mismatch, not a forgery
        raise _key_mismatch(fs_id, registered, offered)
    key = offered if registered == UNPINNED else b64decode(registered)
    assert key is not None
    try:
        cluster_protocol.check_proof(body, key)
    except SignatureInvalid as exc:
        if registered == UNPINNED:
            raise  # the registration does not prove possession of the key it registers
        raise _key_mismatch(fs_id, registered, None) from exc


def _check_shards(tx: Tx, cluster_id: str, shards: list[messages.ShardAnnouncement]) -> dict[str, str]:
    """Refuse shards or flags beyond the cluster's links; return shard name → id."""
    name = tx.one("SELECT name FROM clusters WHERE id = ?", (cluster_id,))
    assert name is not None
    links = read_topology(tx).clusters[name["name"]]
    for shard in shards:
        link = links.get(shard.name)
        if link is None or (shard.read and not link.read) or (shard.write and not link.write):
            granted = f"read={link.read}, write={link.write}" if link else "nothing"
            raise ShardNotAllowed(
                f"shard {shard.name!r} with read={shard.read}, write={shard.write} is beyond what cluster "
                f"{name['name']!r} is granted ({granted}): fix the fileserver config or the shard config",
            )
    wanted = [s.name for s in shards]
    rows = tx.all(f"SELECT id, name FROM shards WHERE name IN ({','.join('?' * len(wanted))})", wanted)
    return {r["name"]: r["id"] for r in rows}


def _store_shards(tx: Tx, fs_id: str, shards: list[messages.ShardAnnouncement], ids: dict[str, str]) -> None:
    tx.execute("DELETE FROM fileserver_shards WHERE fileserver_id = ?", (fs_id,))
    for s in shards:
        tx.execute(
            "INSERT INTO fileserver_shards (fileserver_id, shard_id, can_read, can_write, backend, free_bytes) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (fs_id, ids[s.name], s.read, s.write, s.backend, s.free_bytes),
        )


def register(
    db: Database, body: dict[str, Any], now: float, lease: float, interval: float, address: str | None = None
) -> dict[str, Any]:
    with db.transaction() as tx:
        request = _authenticate(tx, body, "register", now)
        registration = messages.parse_registration(request.body)
        ids = _check_shards(tx, request.cluster, registration.shards)
        existing = tx.one("SELECT cluster_id, public_key FROM fileservers WHERE id = ?", (request.fs,))
        if existing and existing["cluster_id"] != request.cluster:
            raise Conflict("this fileserver id belongs to another cluster", code="fileserver_conflict")
        _prove(body, request.fs, existing["public_key"] if existing else UNPINNED, registration.public_key)
        tx.execute(
            "INSERT INTO fileservers (id, cluster_id, url, public_key, version, registered_at, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET url = excluded.url, "
            "public_key = excluded.public_key, version = excluded.version, "
            "last_seen = CASE WHEN fileservers.last_seen > excluded.last_seen THEN fileservers.last_seen "
            "ELSE excluded.last_seen END, "
            "lost_at = NULL",
            (
                request.fs,
                request.cluster,
                registration.url,
                b64encode(registration.public_key),
                registration.version,
                now,
                now,
            ),
        )
        _store_shards(tx, request.fs, registration.shards, ids)
        _up(tx, request.fs, request.cluster, registration.url, registration.shards, "registered", now)
        audit.record(
            tx,
            "fileserver.registered",
            now,
            audit.Actor(f"fileserver:{request.fs}", address),
            object=f"fileserver:{request.fs}",
            url=registration.url,
            shards=len(registration.shards),
        )
    log.info(
        "fileserver registered",
        extra={"kv": {"fileserver": request.fs, "url": registration.url, "shards": len(registration.shards)}},
    )
    return messages.RegistrationAnswer(request.fs, lease, interval).to_json()


def _require_registered(tx: Tx, request: cluster_protocol.ClusterRequest, body: dict[str, Any]) -> None:
    """Refuse a request from a fileserver not registered (or forgotten), or not proven by its pinned key."""
    row = tx.one("SELECT cluster_id, public_key FROM fileservers WHERE id = ?", (request.fs,))
    if row is None or row["cluster_id"] != request.cluster or row["public_key"] == UNPINNED:
        raise FileserverUnknown("this fileserver is not registered: register first")
    _prove(body, request.fs, row["public_key"])  # SECURITY


def _up(
    tx: Tx, fs_id: str, cluster_id: str, url: str, shards: list[messages.ShardAnnouncement], why: str, now: float
) -> None:
    """Write a ``fileserver.up`` event: *why* is ``registered``, or ``back`` (beating again after its lease lapsed)."""
    if not tx.outbox:
        return
    cluster = tx.one("SELECT name FROM clusters WHERE id = ?", (cluster_id,))
    events.record(
        tx,
        "fileserver.up",
        now,
        fileserver=fs_id,
        cluster=cluster["name"] if cluster else "",
        url=url,
        shards=sorted({s.name for s in shards}),
        reason=why,
    )


def heartbeat(
    db: Database,
    body: dict[str, Any],
    now: float,
    lease: float,
    repairs: repair.Policy | None = None,
    key: SigningKey | None = None,
    copied_files: Callable[[set[str]], None] | None = None,
) -> dict[str, Any]:
    """Renew the lease; take the beat's reports; answer revocations, purge orders and (with *repairs*) copy orders.

    *copied_files* is told, once the beat is committed, the files a copy receipt was recorded of.
    """
    with db.transaction() as tx:
        request = _authenticate(tx, body, "heartbeat", now)
        beat = messages.parse_heartbeat(request.body)
        _require_registered(tx, request, body)
        ids = _check_shards(tx, request.cluster, beat.shards)
        was = tx.one("SELECT url, lost_at FROM fileservers WHERE id = ?", (request.fs,)) if tx.outbox else None
        # A beat that waited here longer than the next one (for the database, back from an outage) carries the older
        # time: it renews nothing, or it would date the lease back and drop a beating fileserver from the live list.
        renewed = tx.execute(
            "UPDATE fileservers SET last_seen = ?, version = ?, active_transfers = ?, bytes_per_s = ?, "
            "free_bytes = ?, chunk_count = ?, lost_at = NULL WHERE id = ? AND last_seen <= ?",
            (
                now,
                beat.version,
                beat.active_transfers,
                beat.bytes_per_s,
                beat.free_bytes,
                beat.chunk_count,
                request.fs,
                now,
            ),
        )
        if renewed:
            if was and was["lost_at"] is not None:
                _up(tx, request.fs, request.cluster, was["url"], beat.shards, "back", now)
            _store_shards(tx, request.fs, beat.shards, ids)
        else:
            log.info(
                "a late heartbeat renews nothing: a later one was recorded", extra={"kv": {"fileserver": request.fs}}
            )
        for shard, file_id, chunk in beat.corrupt:
            tx.execute(
                "DELETE FROM chunk_locations WHERE file_id = ? AND hash = ? AND fileserver_id = ?",
                (file_id, chunk, request.fs),
            )
            faults.note(tx, file_id, chunk, request.fs, "corrupt", now)
            backlog.add(tx, file_id, chunk)
            log.warning(
                "corrupt chunk reported",
                extra={"kv": {"fileserver": request.fs, "shard": shard, "file": file_id, "chunk": chunk}},
            )
        confirmed = deletion.confirm(tx, request.fs, beat.purged)
        if confirmed:
            log.info("purges confirmed", extra={"kv": {"fileserver": request.fs, "files": confirmed}})
        revoked = revocations.page(tx, beat.revocations_after, now)
        purge = deletion.orders(tx, request.fs, now)
        public_key = tx.one("SELECT public_key FROM fileservers WHERE id = ?", (request.fs,))["public_key"]  # type: ignore[index]
        recorded = repair.record(tx, request.fs, public_key, beat.copied, beat.copy_failed, now, lease)
        copy = repair.orders(tx, key, request.fs, repairs, now) if repairs is not None and key is not None else []
    if recorded and copied_files is not None:
        copied_files(recorded)
    return messages.HeartbeatAnswer(lease, now, revoked, purge, copy).to_json()


def reconcile(db: Database, body: dict[str, Any], now: float, grace: float) -> dict[str, Any]:
    """Tell a fileserver which of the files it found in its storage the server does not know."""
    with db.transaction() as tx:
        request = _authenticate(tx, body, "reconcile", now)
        query = messages.parse_reconcile_query(request.body)
        _require_registered(tx, request, body)
        unknown = deletion.unknown_files(tx, query.shard, query.files)
        missing = (
            faults.inventory(tx, request.fs, query.shard, query.held, now, now - faults.INVENTORY_SETTLE)
            if query.held
            else 0
        )
    log.info(
        "reconcile",
        extra={
            "kv": {
                "fileserver": request.fs,
                "shard": query.shard,
                "files": len(query.files),
                "unknown": len(unknown),
                "missing": missing,
            }
        },
    )
    return messages.ReconcileAnswer(unknown, grace).to_json()


def forget(db: Database, fs_id: str, actor: audit.Actor, now: float) -> None:
    """Unpin a fileserver's identity key, so that its next registration pins a new one; audited.

    For a fileserver whose identity file was lost or replaced. Until it registers again it
    is refused as unknown (and drops out of the live list when its lease ends); its chunk
    locations are kept, since the same fileserver is expected back under the same id.
    SECURITY: whoever registers this id first afterwards owns it: forget only when that is about to be the
    real fileserver.
    """
    with db.transaction() as tx:
        row = tx.one("SELECT public_key FROM fileservers WHERE id = ?", (fs_id,))
        if row is None:
            raise NotFound(
                f"no fileserver {fs_id} is registered: list them with `coffer admin fileservers`",
                code="fileserver_not_found",
            )
        tx.execute("UPDATE fileservers SET public_key = ? WHERE id = ?", (UNPINNED, fs_id))
        audit.record(
            tx,
            "admin.fileserver_forget",
            now,
            actor,
            object=f"fileserver:{fs_id}",
            forgotten_kid=key_id(b64decode(row["public_key"])) if row["public_key"] != UNPINNED else None,
        )
    log.warning("fileserver identity key forgotten by an administrator", extra={"kv": {"fileserver": fs_id}})


def live_fileservers(tx: Tx, shard: str, op: str, now: float, lease: float) -> list[dict[str, Any]]:
    """Return the live fileservers that may serve *op* ("read" or "write") on *shard*, with their load and cluster.

    The cluster is the site a fileserver stands in: clients keep to their own site's.
    """
    flag = "can_write" if op == "write" else "can_read"
    return tx.all(
        "SELECT f.id, f.url, f.active_transfers, f.bytes_per_s, fs.free_bytes, f.last_seen, c.name AS cluster "
        "FROM fileservers f JOIN clusters c ON c.id = f.cluster_id "
        "JOIN fileserver_shards fs ON fs.fileserver_id = f.id "
        "JOIN shards s ON s.id = fs.shard_id "
        "JOIN cluster_shards l ON l.cluster_id = f.cluster_id AND l.shard_id = s.id "
        f"WHERE s.name = ? AND fs.{flag} = ? AND l.{flag} = ? AND f.last_seen >= ? "
        "ORDER BY f.active_transfers, f.id",
        (shard, True, True, now - lease),
    )


def fileserver_urls(db: Database) -> list[str]:
    """Return the address of every registered fileserver, live or not: where browsers may fetch chunks from."""
    with db.transaction(readonly=True) as tx:
        return [str(r["url"]) for r in tx.all("SELECT DISTINCT url FROM fileservers ORDER BY url")]


def list_fileservers(db: Database, now: float, lease: float) -> list[RegisteredFileserver]:
    """Return every registered fileserver by URL, with its shards and last reported load."""
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT f.*, c.name AS cluster FROM fileservers f JOIN clusters c ON c.id = f.cluster_id ORDER BY f.url"
        )
        shards = tx.all(
            "SELECT fs.fileserver_id, s.name, fs.can_read, fs.can_write, fs.backend, fs.free_bytes "
            "FROM fileserver_shards fs JOIN shards s ON s.id = fs.shard_id ORDER BY s.name"
        )
    by_fs: dict[str, list[FileserverShard]] = {}
    for s in shards:
        by_fs.setdefault(s["fileserver_id"], []).append(
            FileserverShard(s["name"], bool(s["can_read"]), bool(s["can_write"]), s["backend"], s["free_bytes"])
        )
    return [
        RegisteredFileserver(
            id=r["id"],
            url=r["url"],
            cluster=r["cluster"],
            live=r["last_seen"] >= now - lease,
            last_seen=r["last_seen"],
            registered_at=r["registered_at"],
            version=r["version"],
            shards=tuple(by_fs.get(r["id"], [])),
            load={
                "active_transfers": r["active_transfers"],
                "bytes_per_s": r["bytes_per_s"],
                "free_bytes": r["free_bytes"],
                "chunk_count": r["chunk_count"],
            },
        )
        for r in rows
    ]
