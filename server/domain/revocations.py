"""Ticket revocations as fileservers learn them: by file and holder, numbered, and sent a page at a time.

A revocation names a holder, a file and an op (any may be left open) and covers every
ticket issued up to that moment that matches, so ending a share revokes one row's worth
however many tickets its holder minted. Rows are numbered (``seq``); each heartbeat
carries the last number its fileserver holds and the answer carries the rows after it,
at most :data:`~coffer.protocol.messages.MAX_REVOCATIONS_PAGE` at a time, with ``more``
when the fileserver should ask again at once. A row is sent until the tickets it covers
have expired; the lifecycle job then drops it (the newest is always kept, so the
numbering never goes back).
"""

from __future__ import annotations

import logging

from coffer.protocol import messages

from ..store.db import Tx

log = logging.getLogger(__name__)

CLOCK_MARGIN = 60
"""Seconds a revocation outlives the tickets it covers: a fileserver's clock may run this far behind (it is refused
further off), and until its clock passes a ticket's expiry it would accept it."""


def _match(holder: str | None, file_id: str | None, op: str | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (("holder", holder), ("file_id", file_id), ("op", op)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


def revoke(tx: Tx, now: float, *, holder: str | None = None, file_id: str | None = None, op: str | None = None) -> int:
    """Revoke every live ticket of *holder* for *file_id* and *op* (None: any); return how many it covers.

    SECURITY: one row covers them all, so what a fileserver must learn grows with the shares
    and links ended, not with the tickets minted.
    """
    assert holder is not None or file_id is not None, "a revocation of every ticket is a key rotation"
    where, params = _match(holder, file_id, op)
    live = tx.one(
        f"SELECT COUNT(*) AS n, MAX(expires_at) AS latest FROM tickets WHERE {where} AND expires_at > ?",
        (*params, now - CLOCK_MARGIN),
    )
    tx.execute(f"UPDATE tickets SET revoked = ? WHERE {where} AND revoked = ?", (True, *params, False))
    if live is None or not live["n"]:
        return 0  # nothing unexpired to refuse: fileservers need not hear of it
    tx.execute(
        "INSERT INTO revocations (holder, file_id, op, issued_before, expires_at) VALUES (?, ?, ?, ?, ?)",
        (holder, file_id, op, int(now), int(live["latest"])),
    )
    return int(live["n"])


def forget_expired(tx: Tx, now: float) -> int:
    """Drop the revocations whose tickets have all expired, but the newest: the numbering must never go back."""
    return tx.execute(
        "DELETE FROM revocations WHERE expires_at <= ? AND seq < (SELECT MAX(seq) FROM revocations)",
        (int(now) - CLOCK_MARGIN,),
    )


def page(tx: Tx, after: int, now: float) -> messages.RevocationPage:
    """Return the live revocations after *after*, a page at most; restart from 0 for a cursor never issued."""
    horizon = int(now) - CLOCK_MARGIN
    top = tx.one("SELECT MAX(seq) AS seq FROM revocations")
    newest = int(top["seq"]) if top and top["seq"] is not None else 0
    if after > newest:
        log.info("revocation cursor ahead of the server: sending all", extra={"kv": {"after": after, "newest": newest}})
        after = 0
    limit = messages.MAX_REVOCATIONS_PAGE
    rows = tx.all(
        "SELECT seq, holder, file_id, op, issued_before, expires_at FROM revocations "
        f"WHERE seq > ? AND expires_at > ? ORDER BY seq LIMIT {limit + 1}",
        (after, horizon),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        messages.Revocation(
            before=int(r["issued_before"]), exp=int(r["expires_at"]), holder=r["holder"], file=r["file_id"], op=r["op"]
        )
        for r in rows
    ]
    return messages.RevocationPage(after, int(rows[-1]["seq"]) if rows else max(after, 0), more, entries)
