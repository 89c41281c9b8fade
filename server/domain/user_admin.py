"""What administrators do to users beyond creating them: quotas, and removal with all their files."""

from __future__ import annotations

from typing import Any

from coffer.protocol.api.quotas import SetQuota
from coffer.protocol.ids import check_username

from ..errors import Conflict, NotFound, OnHold
from ..settings import ServerSettings
from ..store.db import Database, Tx
from . import audit, deletion, events, quotas, tickets
from .accounts import Principal


def _user_id(tx: Tx, name: str) -> str:
    row = tx.one("SELECT id FROM users WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no user named {name!r}", code="user_not_found")
    return str(row["id"])


def quota(db: Database, settings: ServerSettings, name: object) -> dict[str, Any]:
    with db.transaction(readonly=True) as tx:
        user_id = _user_id(tx, check_username(name))
        q = quotas.of_user(
            tx, user_id, default_bytes=settings.default_quota_bytes, default_files=settings.default_quota_files
        )
    return q.to_json()


def set_quota(
    db: Database, settings: ServerSettings, actor: audit.Actor, name: object, request: SetQuota, now: float
) -> dict[str, Any]:
    """Set a user's own limits (``null`` returns a limit to the server default)."""
    name = check_username(name)
    with db.transaction() as tx:
        user_id = _user_id(tx, name)
        for key, column in (("bytes", "quota_bytes"), ("files", "quota_files")):
            if key in request.changes:
                tx.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (request.changes[key], user_id))
        given: dict[str, Any] = dict(request.changes)
        audit.record(tx, "quota.set", now, actor, object=f"user:{name}", **given)
    return quota(db, settings, name)


def remove(db: Database, admin: Principal, actor: audit.Actor, name: object, now: float) -> int:
    """Remove a user and drop all their files (purged from every fileserver); return how many files went.

    Their shares and links, both ways, go too (the foreign keys cascade), and the
    tickets they hold for files others shared with them are revoked. Refused while
    the user or any of their files is under legal hold.
    """
    name = check_username(name)
    if name == admin.name:
        raise Conflict("you cannot remove yourself: ask another administrator", code="remove_self")
    with db.transaction() as tx:
        user = tx.one("SELECT id, hold FROM users WHERE name = ?", (name,))
        if user is None:
            raise NotFound(f"no user named {name!r}", code="user_not_found")
        held = tx.one("SELECT COUNT(*) AS n FROM files WHERE owner_id = ? AND hold = ?", (user["id"], True))
        if user["hold"] or (held and held["n"]):
            raise OnHold(
                f"user {name!r} has files under legal hold: release the holds before removing the user",
                code="user_on_hold",
            )
        rows = tx.all("SELECT id, shard_id FROM files WHERE owner_id = ?", (user["id"],))
        for r in rows:
            deletion.drop_file(tx, r["id"], r["shard_id"], "user_removed", now)
        # Files others shared with the user: the shares go with the user row, their tickets go now.
        tickets.revoke(tx, user["id"], now=now)
        tx.execute("DELETE FROM users WHERE id = ?", (user["id"],))
        audit.record(tx, "user.deleted", now, actor, object=f"user:{name}", files=len(rows))
        events.record(tx, "user.deleted", now, user=name, files=len(rows))
    return len(rows)
