"""Invitations: how every account is born, with keys the invited user's own client made.

An administrator (or ``coffer server create-admin`` on the server's host, for the first one)
names a user and a role; the server answers with a one-time code and keeps only its
SHA-256. The invited user's client spends the code in one request that carries the auth
key, the salt and limits, the public key and the private key wrapped under the master key,
all made on that client from a password only the user typed (:mod:`coffer.protocol.api.invitations`).

SECURITY: a code is 192 random bits, so a fast hash suffices, and it is looked up by its
hash and compared in constant time. It works once, for one name and role, until it expires;
a new invitation for the same name replaces the one still open. Guessing is counted per
address by the login guard (``coffer.server.api.invitations``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from coffer.protocol.api.auth import Account
from coffer.protocol.api.invitations import Invitation, Invite, Join, OpenInvitation
from coffer.protocol.ids import check_username, new_id

from ..errors import Conflict, NotFound, Unauthorized
from ..store.db import Database
from . import accounts, audit

CODE_BYTES = 24
"""192 random bits, written in hex: base64url may begin with '-', which a command line reads as an option."""


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


def invite(db: Database, request: Invite, now: float, actor: audit.Actor) -> Invitation:
    """Open an invitation for a name no user has; replace one still open for it; audit it (never the code).

    SECURITY: the code is returned once and stored only hashed.
    """
    code = secrets.token_hex(CODE_BYTES)
    expires_at = now + request.expires_in
    with db.transaction() as tx:
        if accounts.user_exists(tx, request.username):
            raise Conflict(
                f"a user named {request.username!r} already exists: invite someone else, or remove that user first",
                code="user_exists",
            )
        replaced = tx.execute("DELETE FROM invitations WHERE username = ? AND used_at IS NULL", (request.username,))
        tx.execute(
            "INSERT INTO invitations (id, code_hash, username, role, created_by, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (new_id(), _code_hash(code), request.username, request.role, actor.name, now, expires_at),
        )
        audit.record(
            tx,
            "user.invited",
            now,
            actor,
            object=f"user:{request.username}",
            role=request.role,
            expires_at=expires_at,
            replaced=replaced,
        )
    return Invitation(request.username, request.role, code, expires_at)


def list_open(db: Database, now: float) -> list[OpenInvitation]:
    """Return the invitations neither spent nor expired, by name (never a code or its hash)."""
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT username, role, created_by, created_at, expires_at FROM invitations "
            "WHERE used_at IS NULL AND expires_at > ? ORDER BY username",
            (now,),
        )
    return [OpenInvitation(r["username"], r["role"], r["created_by"], r["created_at"], r["expires_at"]) for r in rows]


def revoke(db: Database, name: object, now: float, actor: audit.Actor) -> None:
    """Withdraw the open invitation for *name* (a code sent to the wrong place, say); audit it."""
    name = check_username(name)
    with db.transaction() as tx:
        if not tx.execute("DELETE FROM invitations WHERE username = ? AND used_at IS NULL", (name,)):
            raise NotFound(f"no open invitation for {name!r}", code="invitation_not_found")
        audit.record(tx, "user.uninvited", now, actor, object=f"user:{name}")


def join(db: Database, request: Join, now: float, actor_address: str | None = None) -> Account:
    """Spend an invitation code on the account it names, with the keys the joining client made.

    Raises :class:`Unauthorized` for a code that is unknown, spent, replaced or expired,
    and :class:`Conflict` if the name was taken meanwhile; nothing changes then.
    """
    wanted = _code_hash(request.code)
    with db.transaction() as tx:
        row = tx.one(
            "SELECT id, code_hash, username, role, expires_at, used_at FROM invitations WHERE code_hash = ?", (wanted,)
        )
        # SECURITY: the lookup is by hash; the compare is constant-time all the same.
        if row is None or not hmac.compare_digest(row["code_hash"], wanted) or row["used_at"] is not None:
            raise Unauthorized(
                "this invitation code is unknown or was used already: check you copied all of it, "
                "or ask your administrator for a new invitation",
                code="invitation_invalid",
            )
        if row["expires_at"] <= now:
            raise Unauthorized(
                "this invitation has expired: ask your administrator for a new one", code="invitation_expired"
            )
        if not tx.execute("UPDATE invitations SET used_at = ? WHERE id = ? AND used_at IS NULL", (now, row["id"])):
            raise Unauthorized("this invitation was used already", code="invitation_invalid")
        user = accounts.insert_user(
            tx, row["username"], row["role"], request.params, request.auth_key, request.keys, now, "invitation"
        )
        actor = audit.Actor(user.name, actor_address)
        audit.record(tx, "user.joined", now, actor, object=f"user:{user.name}", role=user.role)
    return user
