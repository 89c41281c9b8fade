"""Legal holds: keep a file, or every file of a user, past its expiry and out of its owner's reach.

A hold on a user covers all of that user's files, present and future, and is
independent of holds on single files: releasing one never releases the other,
because each was placed for its own reason. While held, a file survives expiry
and its owner cannot delete it (nor can the user be removed); on release, expiry
takes its course at the next lifecycle sweep.
"""

from __future__ import annotations

from coffer.protocol.api.lifecycle import HeldFile, Holds
from coffer.protocol.ids import check_id, check_username

from ..errors import BadRequest, NotFound
from ..store.db import Database
from . import audit

MAX_REASON = 500


def _reason(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_REASON:
        raise BadRequest(f"'reason' must be a text of at most {MAX_REASON} characters", code="invalid_reason")
    return value


def set_file(db: Database, actor: audit.Actor, file_id: object, held: bool, reason: object, now: float) -> None:
    """Put one file on hold, or release it."""
    file_id = check_id(file_id, "file_id")
    with db.transaction() as tx:
        if not tx.execute("UPDATE files SET hold = ? WHERE id = ?", (held, file_id)):
            raise NotFound("no such file: it may have expired or been deleted already", code="file_not_found")
        action = "hold.set" if held else "hold.released"
        audit.record(tx, action, now, actor, object=f"file:{file_id}", reason=_reason(reason))


def set_user(db: Database, actor: audit.Actor, name: object, held: bool, reason: object, now: float) -> None:
    """Put every file of a user on hold (present and future), or release that hold."""
    name = check_username(name)
    with db.transaction() as tx:
        if not tx.execute("UPDATE users SET hold = ? WHERE name = ?", (held, name)):
            raise NotFound(f"no user named {name!r}", code="user_not_found")
        action = "hold.set" if held else "hold.released"
        audit.record(tx, action, now, actor, object=f"user:{name}", reason=_reason(reason))


def list_holds(db: Database) -> Holds:
    """Return the users held (every file of theirs) and the single files held, oldest first."""
    with db.transaction(readonly=True) as tx:
        users = tx.all("SELECT name FROM users WHERE hold = ? ORDER BY name", (True,))
        files = tx.all(
            "SELECT f.id, u.name AS owner, f.size, f.state, f.expires_at FROM files f "
            "JOIN users u ON u.id = f.owner_id WHERE f.hold = ? ORDER BY f.created_at",
            (True,),
        )
    return Holds(tuple(u["name"] for u in users), tuple(HeldFile(**f) for f in files))
