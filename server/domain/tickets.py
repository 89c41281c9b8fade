"""Transfer tickets as the server hands them out: which chunks, signed, recorded, and revoked.

Every ticket is recorded with its ``holder``: the user it was issued to, or the
share link it was issued through. Ending a share or revoking a link revokes
exactly that holder's tickets of the file, with one revocation however many there
are; fileservers learn revocations from their heartbeat answers (``domain.revocations``).

Minting is bounded per file: a holder has at most :data:`MAX_LIVE_TICKETS` unexpired
tickets of one file and op, so the tickets table (and what a revocation covers) grows
with files and holders, not with requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from coffer.protocol import tickets as ticket_protocol
from coffer.protocol.ids import check_chunk_hash, new_id
from coffer.protocol.signing import SigningKey

from ..errors import BadRequest, Conflict, RateLimited
from ..store.db import Tx
from . import revocations

MAX_LIVE_TICKETS = 1000
"""Unexpired tickets one holder may have of one file and op: a download of a 128 GiB file at 4 MiB chunks, twice."""


def groups(tx: Tx, row: dict[str, Any], op: Literal["put", "get"], wanted: object) -> list[list[str]]:
    """Return the chunks each ticket will name: none for a put, the wanted chunks 32 at a time for a get."""
    if op == "put":
        if row["state"] != "pending":
            raise Conflict("the file is complete: its chunks cannot change", code="file_complete")
        return [[]]
    if row["state"] != "complete":
        raise Conflict("the file is not complete yet: finalize it first", code="file_incomplete")
    hashes = [r["hash"] for r in tx.all("SELECT hash FROM chunks WHERE file_id = ? ORDER BY idx", (row["id"],))]
    if wanted is not None:
        if not isinstance(wanted, list | tuple) or not wanted or len(wanted) > len(hashes):
            raise BadRequest("'chunks' must be a non-empty list of this file's chunk hashes", code="invalid_chunks")
        for h in wanted:
            if check_chunk_hash(h) not in hashes:
                raise BadRequest("a requested chunk is not part of this file", code="invalid_chunks")
        hashes = list(dict.fromkeys(wanted))
    step = ticket_protocol.MAX_TICKET_CHUNKS
    return [hashes[i : i + step] for i in range(0, len(hashes), step)]


def sign(
    tx: Tx,
    key: SigningKey,
    row: dict[str, Any],
    op: Literal["put", "get"],
    groups: list[list[str]],
    *,
    holder: str,
    exp: int,
    now: float,
) -> list[dict[str, Any]]:
    """Sign and record one ticket per group of chunks, issued to *holder* (a user id, or a link id).

    SECURITY: every ticket is recorded with its holder, so ending a share or a
    link can revoke exactly the tickets it handed out.
    """
    _check_bound(tx, row["id"], op, holder, len(groups), now)
    issued = []
    bounds = _put_bounds(row) if op == "put" else _NO_BOUNDS
    for group in groups:
        ticket = ticket_protocol.Ticket(
            op=op,
            file=row["id"],
            shard=row["shard_name"],
            sub=holder,
            iat=int(now),
            exp=exp,
            jti=new_id(),
            chunks=tuple(group),
            max_bytes=bounds.max_bytes,
            max_chunks=bounds.max_chunks,
            max_total=bounds.max_total,
        )
        tx.execute(
            "INSERT INTO tickets (jti, file_id, op, expires_at, revoked, holder) VALUES (?, ?, ?, ?, ?, ?)",
            (ticket.jti, row["id"], op, exp, False, holder),
        )
        issued.append({"ticket": ticket_protocol.issue(key, ticket), "chunks": list(group), "expires_at": exp})
    return issued


@dataclass(frozen=True)
class _Bounds:
    max_bytes: int
    max_chunks: int
    max_total: int


_NO_BOUNDS = _Bounds(0, 0, 0)
"""A get ticket stores nothing."""


def _put_bounds(row: dict[str, Any]) -> _Bounds:
    """Return what a put ticket lets one fileserver store of the file: its declared layout, no more.

    SECURITY: the quota reserved ``size`` at create, so that is all the ticket
    covers: no chunk above the declared chunk size (nor above the whole file), no
    more chunks than declared, no more bytes than declared.
    """
    return _Bounds(max_bytes=min(row["chunk_size"], row["size"]), max_chunks=row["chunk_count"], max_total=row["size"])


def _check_bound(tx: Tx, file_id: str, op: str, holder: str, wanted: int, now: float) -> None:
    """Refuse to mint past :data:`MAX_LIVE_TICKETS` live tickets of one file, op and holder.

    SECURITY: without a bound one user minted 100,000 tickets a minute, and every one of them
    had to reach every fileserver when it was revoked.
    """
    live = tx.one(
        "SELECT COUNT(*) AS n, MIN(expires_at) AS first FROM tickets "
        "WHERE holder = ? AND file_id = ? AND op = ? AND revoked = ? AND expires_at > ?",
        (holder, file_id, op, False, now),
    )
    held = int(live["n"]) if live else 0
    if held + wanted > MAX_LIVE_TICKETS:
        assert live is not None
        raise RateLimited(
            f"you already hold {held} unexpired {op} tickets for this file, and at most {MAX_LIVE_TICKETS} are "
            "allowed: use the tickets you have, or ask again when some have expired",
            retry_after=max(float(live["first"]) - now, 1.0) if live["first"] is not None else 1.0,
            code="too_many_tickets",
        )


def revoke(tx: Tx, holder: str, file_id: str | None = None, *, now: float) -> int:
    """Revoke the tickets *holder* still has (of one file, or of all); fileservers learn it from their heartbeat."""
    return revocations.revoke(tx, now, holder=holder, file_id=file_id)


def revoke_puts(tx: Tx, file_id: str, now: float) -> None:
    """Revoke a file's put tickets: once it is complete its chunks never change."""
    revocations.revoke(tx, now, file_id=file_id, op="put")
