"""Key rotation: the owner's client replaces the key pair and the password, then seals every file key again.

The rotation runs in three steps so that any of them can be interrupted and run again
(``coffer keys rotate``):

1. :func:`start`, checked like a password change: the new auth key, salt and limits, the new
   pair, and the old private key wrapped under the new master key, kept beside it; every
   share made with or for the old pair is marked stale; the user's other sessions end.
2. :func:`reseal`, a page at a time: each of the user's files takes its key sealed to the
   new public key.
3. :func:`finish`: the old pair is dropped; the answer lists the shares to the user that
   their owners must box again.

SECURITY: the server never holds a private key or a file key in clear; it cannot tell a
resealed key from garbage, which is why only the owner, and only mid-rotation, may send one.
"""

from __future__ import annotations

from coffer.protocol.api.keys import Reseal, RotateKeys, RotationDone, StaleShare
from coffer.protocol.encoding import b64encode

from ..errors import Conflict, Unauthorized
from ..store.db import Database, Tx
from . import audit
from .accounts import Principal, auth_key_matches, hash_auth_key


def _rotating(tx: Tx, who: Principal) -> bool:
    row = tx.one("SELECT previous_public_key FROM users WHERE id = ?", (who.user_id,))
    return row is not None and row["previous_public_key"] is not None


def start(db: Database, who: Principal, request: RotateKeys, now: float, actor: audit.Actor) -> int:
    """Switch the caller to a new password and key pair, keeping the old pair until :func:`finish`.

    A wrong current password raises :class:`Unauthorized` (the caller counts it as a failed
    login); an unfinished rotation, :class:`Conflict`. Return how many shares went stale.
    """
    with db.transaction(readonly=True) as tx:
        row = tx.one("SELECT auth_hash, public_key, previous_public_key FROM users WHERE id = ?", (who.user_id,))
    assert row is not None
    if not auth_key_matches(row["auth_hash"], request.auth_key):
        raise Unauthorized("the current password is wrong; nothing was changed", code="bad_credentials")
    if row["public_key"] is None:
        raise Conflict("your account has no key pair yet: log in once first", code="keys_missing")
    if row["previous_public_key"] is not None:
        raise Conflict(
            "a key rotation of yours is unfinished: run `coffer keys rotate` again to finish it",
            code="rotation_unfinished",
        )
    params, keys = request.params, request.keys
    with db.transaction() as tx:
        # SECURITY: the swap only happens if the pair is still the one the password check saw.
        changed = tx.execute(
            "UPDATE users SET auth_salt = ?, opslimit = ?, memlimit = ?, auth_hash = ?, public_key = ?, "
            "wrapped_private_key = ?, key_origin = 'rotation', previous_public_key = public_key, "
            "previous_wrapped_private_key = ? WHERE id = ? AND public_key = ? AND previous_public_key IS NULL",
            (
                b64encode(params.salt),
                params.opslimit,
                params.memlimit,
                hash_auth_key(request.new_auth_key),
                b64encode(keys.public_key),
                b64encode(keys.wrapped_private_key),
                b64encode(request.previous_wrapped_private_key),
                who.user_id,
                row["public_key"],
            ),
        )
        if not changed:
            raise Conflict("your keys changed while this rotation started: run it again", code="rotation_unfinished")
        stale = tx.execute(
            "UPDATE shares SET stale = ? WHERE user_id = ? OR file_id IN (SELECT id FROM files WHERE owner_id = ?)",
            (True, who.user_id, who.user_id),
        )
        ended = tx.execute("DELETE FROM sessions WHERE user_id = ? AND id <> ?", (who.user_id, who.session_id))
        audit.record(
            tx, "keys.rotated", now, actor, object=f"user:{who.name}", stale_shares=stale, sessions_ended=ended
        )
    return stale


def reseal(db: Database, who: Principal, request: Reseal) -> int:
    """Store file keys sealed to the caller's new public key, for their own files only; return how many."""
    with db.transaction() as tx:
        if not _rotating(tx, who):
            raise Conflict(
                "no key rotation of yours is running: file keys are sealed again only during one",
                code="rotation_not_started",
            )
        return sum(
            tx.execute(
                "UPDATE files SET sealed_key = ? WHERE id = ? AND owner_id = ?",
                (item.sealed_key, item.file_id, who.user_id),
            )
            for item in request.keys
        )


def finish(db: Database, who: Principal) -> RotationDone:
    """Drop the old pair; return the shares to the caller that are still boxed for it."""
    with db.transaction() as tx:
        tx.execute(
            "UPDATE users SET previous_public_key = NULL, previous_wrapped_private_key = NULL WHERE id = ?",
            (who.user_id,),
        )
        rows = tx.all(
            "SELECT sh.file_id, u.name AS owner FROM shares sh JOIN files f ON f.id = sh.file_id "
            "JOIN users u ON u.id = f.owner_id WHERE sh.user_id = ? AND sh.stale = ? ORDER BY u.name, sh.file_id",
            (who.user_id, True),
        )
    return RotationDone(tuple(StaleShare(r["file_id"], r["owner"]) for r in rows))
