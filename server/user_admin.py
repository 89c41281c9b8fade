"""What administrators do to users beyond creating them: quotas, and removal with all their files."""

from __future__ import annotations

from typing import Any

from coffer.protocol.ids import check_username

from . import audit, deletion, quotas, tickets
from .accounts import Principal
from .db import Database, Tx
from .errors import BadRequest, Conflict, NotFound, OnHold
from .settings import ServerSettings

MAX_QUOTA = 1 << 60


def _user_id(tx: Tx, name: str) -> str:
    row = tx.one("SELECT id FROM users WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no user named {name!r}", code="user_not_found")
    return str(row["id"])


def _limit(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_QUOTA):
        raise BadRequest(f"'{key}' must be a non-negative integer, or null for the default", code="invalid_quota")
    return value


def quota(db: Database, settings: ServerSettings, name: object) -> dict[str, Any]:
    with db.transaction(readonly=True) as tx:
        user_id = _user_id(tx, check_username(name))
        q = quotas.of_user(
            tx, user_id, default_bytes=settings.default_quota_bytes, default_files=settings.default_quota_files
        )
    return q.to_json()


def set_quota(
    db: Database, settings: ServerSettings, actor: audit.Actor, name: object, body: dict[str, Any], now: float
) -> dict[str, Any]:
    """Set a user's own limits (``null`` returns a limit to the server default)."""
    name = check_username(name)
    if "bytes" not in body and "files" not in body:
        raise BadRequest("give 'bytes' and/or 'files'", code="invalid_quota")
    with db.transaction() as tx:
        user_id = _user_id(tx, name)
        for key, column in (("bytes", "quota_bytes"), ("files", "quota_files")):
            if key in body:
                tx.execute(f"UPDATE users SET {column} = ? WHERE id = ?", (_limit(body, key), user_id))
        given = {key: body[key] for key in ("bytes", "files") if key in body}
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
        tickets.revoke(tx, user["id"])
        tx.execute("DELETE FROM users WHERE id = ?", (user["id"],))
        audit.record(tx, "user.deleted", now, actor, object=f"user:{name}", files=len(rows))
    return len(rows)
