"""Sharing a file with another user: the owner seals the file key to them, the server keeps the box.

The server never sees a file key. The owner's client seals it to the
recipient's public key (``share_key``, opaque here) after checking the key it
fetched from :func:`public_key_of`; the server stores the box and hands it only
to that recipient, beside the owner's public key so the box can be
authenticated. A recipient may read the file (its record and get tickets) and
leave the share, nothing else.

Ending a share revokes the tickets the recipient still holds for the file, so
fileservers refuse them from their next heartbeat on. Shares go with their file
and with either user (foreign keys cascade).
"""

from __future__ import annotations

from typing import Any

from coffer.protocol.api.sharing import AdminShare, Share, ShareEntry
from coffer.protocol.ids import check_id, check_username

from ..errors import BadRequest, Conflict, NotFound
from ..store.db import Database, Tx
from . import audit, events, files, tickets
from .accounts import Principal


def _user_with_keys(tx: Tx, name: str) -> tuple[dict[str, Any], str]:
    """Return the user named *name* and their public key; one answer whether the name is unknown or keyless.

    SECURITY: any logged-in user may ask, so a name that is no user and a user who
    has never logged in (and so has no keys) must look alike, or every account
    created would be visible. What stays knowable is what sharing by name needs:
    whether a name is a user with keys; those lookups have their own rate limit.
    """
    row = tx.one("SELECT id, name, public_key FROM users WHERE name = ?", (name,))
    if row is None or not row["public_key"]:
        raise NotFound(
            f"no user {name!r} with keys: check the name; a user who has never logged in has no keys yet, "
            "and must log in once before anything can be shared with them",
            code="user_not_found",
        )
    return row, str(row["public_key"])


def public_key_of(db: Database, name: object) -> dict[str, Any]:
    """Return a user's public key, for the caller's client to check (fingerprint) and seal a file key to."""
    name = check_username(name)
    with db.transaction(readonly=True) as tx:
        _, public_key = _user_with_keys(tx, name)
    return {"name": name, "public_key": public_key}


def share(
    db: Database, who: Principal, actor: audit.Actor, file_id: object, name: object, request: Share, now: float
) -> tuple[dict[str, Any], bool]:
    """Share the caller's complete file with a user, or replace the box; return the share and whether it is new.

    SECURITY: the box is stored only if it was sealed to the recipient's current
    public key, so a client that fetched a key before it changed cannot hand out
    a box nobody can open, and a key swapped under it is noticed.
    """
    file_id = check_id(file_id, "file_id")
    name = check_username(name)
    share_key, public_key = request.share_key, request.public_key
    if name == who.name:
        raise BadRequest("you cannot share a file with yourself", code="cannot_share_with_self")
    with db.transaction() as tx:
        row = files.visible_file(tx, who, file_id)
        files.require_owner(row, who)
        files.refuse_expired(row, now)
        if row["state"] != "complete":
            raise Conflict("the file is not complete yet: finalize it before sharing it", code="file_incomplete")
        user, current_key = _user_with_keys(tx, name)
        if current_key != public_key:
            raise Conflict(
                f"the public key of {name!r} is not the one the share was sealed to: fetch it again and check it",
                code="public_key_changed",
            )
        existing = tx.one("SELECT created_at FROM shares WHERE file_id = ? AND user_id = ?", (file_id, user["id"]))
        tx.execute(
            "INSERT INTO shares (file_id, user_id, share_key, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (file_id, user_id) DO UPDATE SET share_key = excluded.share_key, stale = ?",
            (file_id, user["id"], share_key, now, False),
        )
        audit.record(tx, "file.shared", now, actor, object=f"file:{file_id}", user=name)
        events.record(tx, "file.shared", now, file=file_id, user=who.name, recipient=name)
    created_at = existing["created_at"] if existing else now
    return {"file": file_id, "user": name, "created_at": created_at}, existing is None


def list_shares(db: Database, who: Principal, file_id: object) -> list[ShareEntry]:
    """Return who the caller's file is shared with, by name (never a box)."""
    with db.transaction(readonly=True) as tx:
        row = files.visible_file(tx, who, file_id)
        files.require_owner(row, who)
        rows = tx.all(
            "SELECT u.name AS user, sh.created_at, sh.stale FROM shares sh JOIN users u ON u.id = sh.user_id "
            "WHERE sh.file_id = ? ORDER BY u.name",
            (row["id"],),
        )
    return [ShareEntry(r["user"], r["created_at"], bool(r["stale"])) for r in rows]


def remove(tx: Tx, actor: audit.Actor, file_id: str, name: str, now: float) -> None:
    """End one share in *tx*, revoke the recipient's tickets of the file, and audit it."""
    user = tx.one("SELECT id FROM users WHERE name = ?", (name,))
    if user is None or not tx.execute("DELETE FROM shares WHERE file_id = ? AND user_id = ?", (file_id, user["id"])):
        raise NotFound(f"the file is not shared with {name!r}", code="share_not_found")
    tickets.revoke(tx, user["id"], file_id, now=now)
    audit.record(tx, "file.unshared", now, actor, object=f"file:{file_id}", user=name)
    if tx.outbox:
        owner = tx.one("SELECT u.name FROM files f JOIN users u ON u.id = f.owner_id WHERE f.id = ?", (file_id,))
        events.record(tx, "file.unshared", now, file=file_id, user=owner["name"] if owner else "", recipient=name)


def unshare(db: Database, who: Principal, actor: audit.Actor, file_id: object, name: object, now: float) -> None:
    """End a share: the owner may end any of the file's shares, a recipient only their own."""
    name = check_username(name)
    with db.transaction() as tx:
        row = files.visible_file(tx, who, file_id)
        if name != who.name:
            files.require_owner(row, who)
        remove(tx, actor, row["id"], name, now)


def admin_list(db: Database, owner: object, recipient: object, file_id: object) -> list[AdminShare]:
    """Return every share, optionally of one owner, to one recipient or of one file (never a box)."""
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if owner is not None:
        where.append("o.name = ?")
        params.append(check_username(owner))
    if recipient is not None:
        where.append("u.name = ?")
        params.append(check_username(recipient))
    if file_id is not None:
        where.append("sh.file_id = ?")
        params.append(check_id(file_id, "file_id"))
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT sh.file_id AS file, o.name AS owner, u.name AS user, sh.created_at FROM shares sh "
            "JOIN users u ON u.id = sh.user_id JOIN files f ON f.id = sh.file_id JOIN users o ON o.id = f.owner_id "
            f"WHERE {' AND '.join(where)} ORDER BY sh.created_at, sh.file_id, u.name",
            tuple(params),
        )
    return [AdminShare(**r) for r in rows]


def admin_unshare(db: Database, actor: audit.Actor, file_id: object, name: object, now: float) -> None:
    """End any share, as an administrator (audited with the administrator as the actor)."""
    file_id, name = check_id(file_id, "file_id"), check_username(name)
    with db.transaction() as tx:
        remove(tx, actor, file_id, name, now)
