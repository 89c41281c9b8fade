"""Users and their sessions.

The client derives an auth key from the password (``format.kdf``) and sends
only that; the server keeps a BLAKE2b hash of the auth key (see
:func:`hash_auth_key` for why not a second Argon2id), so a stolen database gives
neither the password nor the auth key. Session tokens are 256
random bits handed to the client once; the server keeps their SHA-256, so a
database reader cannot replay a session either.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2id

from coffer.protocol import kdf
from coffer.protocol.api.admin import ROLES
from coffer.protocol.api.auth import (
    KEY_ORIGINS,
    Account,
    ChangePassword,
    KdfAnswer,
    Me,
    Prelogin,
    Session,
    SessionEntry,
    WrappedKeys,
)
from coffer.protocol.encoding import b64encode
from coffer.protocol.ids import check_username, new_id

from ..errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from ..store.db import Database, IntegrityError, Tx
from . import audit, events
from .keys import ServerKeys

AUTH_HASH_PREFIX = "blake2b$"
AUTH_HASH_PERSON = b"coffer auth v1"
_NOBODY = AUTH_HASH_PREFIX + "0" * 64
"""What an unknown name is checked against: the same fast comparison as for a real user."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user behind a valid session."""

    user_id: str
    name: str
    role: str
    session_id: str

    def require_admin(self) -> None:
        if self.role != "admin":
            raise Forbidden("this needs an administrator's session")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def hash_auth_key(auth_key: bytes) -> str:
    """Return what the server stores for an auth key: BLAKE2b-256 of it, not a second Argon2id.

    SECURITY: the auth key is already the output of the client's Argon2id (``coffer.format.kdf``):
    256 bits no one can guess, so a fast hash keeps a stolen database from logging in, and
    guessing a password from it costs one client Argon2id per guess either way. An Argon2id
    run on the server too would add little to that and let one valid account spend the
    server's CPU and memory at 0.1 s and 64 MiB per login.
    """
    return AUTH_HASH_PREFIX + hashlib.blake2b(auth_key, digest_size=32, person=AUTH_HASH_PERSON).hexdigest()


def auth_key_matches(stored: str, auth_key: bytes) -> bool:
    """Say whether *auth_key* is the one *stored* was made from, in constant time for a current hash.

    A hash from before the fast one (Argon2id, ``$argon2id$…``) is checked at its own cost;
    :func:`login` replaces it at the user's next login.
    """
    if stored.startswith(AUTH_HASH_PREFIX):
        return hmac.compare_digest(stored, hash_auth_key(auth_key))
    try:
        return bool(nacl.pwhash.argon2id.verify(stored.encode("ascii"), auth_key))
    except nacl.exceptions.InvalidkeyError:
        return False


def account(row: dict[str, Any]) -> Account:
    """Return a user row as the account the API shows."""
    return Account(row["id"], row["name"], row["role"], row["created_at"])


def create_user(
    db: Database,
    name: object,
    role: object,
    salt: bytes,
    auth_key: bytes,
    now: float,
    params: kdf.KdfParams | None = None,
    keys: WrappedKeys | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> Account:
    """Create a user from a client-derived auth key (and, usually, client-made keys); the name must be free.

    Only the server's own tests call this directly: accounts are made by :mod:`.invitations`.
    """
    with db.transaction() as tx:
        made = insert_user(tx, name, role, params or kdf.KdfParams(salt=salt), auth_key, keys, now, "legacy")
        audit.record(tx, "user.created", now, actor, object=f"user:{made.name}", role=made.role)
    return made


def insert_user(
    tx: Tx,
    name: object,
    role: object,
    params: kdf.KdfParams,
    auth_key: bytes,
    keys: WrappedKeys | None,
    now: float,
    key_origin: str,
) -> Account:
    """Insert a user row in *tx*; Conflict (``user_exists``) if the name is taken."""
    name = check_username(name)
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    if key_origin not in KEY_ORIGINS:
        raise ValueError(f"unknown key origin {key_origin!r}")
    if user_exists(tx, name):
        raise Conflict(f"a user named {name!r} already exists", code="user_exists")
    row = {
        "id": new_id(),
        "name": name,
        "role": role,
        "auth_salt": b64encode(params.salt),
        "opslimit": params.opslimit,
        "memlimit": params.memlimit,
        "auth_hash": hash_auth_key(auth_key),
        "created_at": now,
        "public_key": b64encode(keys.public_key) if keys else None,
        "wrapped_private_key": b64encode(keys.wrapped_private_key) if keys else None,
        "key_origin": key_origin,
    }
    try:
        tx.execute(f"INSERT INTO users ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    except IntegrityError as exc:
        raise Conflict(f"a user named {name!r} already exists", code="user_exists") from exc
    reason = "invitation" if key_origin == "invitation" else "created"
    events.record(tx, "user.created", now, user=name, role=str(role), reason=reason)
    return account(row)


def user_exists(tx: Tx, name: str) -> bool:
    return tx.one("SELECT id FROM users WHERE name = ?", (name,)) is not None


def list_users(db: Database) -> list[Account]:
    with db.transaction(readonly=True) as tx:
        return [account(r) for r in tx.all("SELECT id, name, role, created_at FROM users ORDER BY name")]


def prelogin(db: Database, keys: ServerKeys, request: Prelogin) -> KdfAnswer:
    """Return the KDF parameters for the named user; invented but stable ones for an unknown name."""
    name = request.username
    with db.transaction(readonly=True) as tx:
        row = tx.one("SELECT auth_salt, opslimit, memlimit FROM users WHERE name = ?", (name,))
    if row is None:
        return KdfAnswer(b64encode(keys.fake_salt(name)), kdf.OPSLIMIT, kdf.MEMLIMIT)
    return KdfAnswer(row["auth_salt"], row["opslimit"], row["memlimit"])


def login(
    db: Database, name: object, auth_key: bytes, ttl: float, now: float, actor: audit.Actor | None = None
) -> Session:
    """Check the auth key and open a session; the same error for a wrong name or key.

    The success is audited in the session's own transaction; failures are the caller's
    to record, beside its brute-force counters (``coffer.server.api.auth``).
    """
    name = check_username(name)
    with db.transaction(readonly=True) as tx:
        user = tx.one("SELECT id, name, role, auth_hash, created_at FROM users WHERE name = ?", (name,))
    # An older Argon2id hash takes ~0.1 s to check: outside the transaction, so it holds no write lock.
    stored = user["auth_hash"] if user else _NOBODY
    if not auth_key_matches(stored, auth_key) or user is None:
        raise Unauthorized("wrong user name or password", code="bad_credentials")
    token = secrets.token_urlsafe(32)
    session = {"id": new_id(), "expires_at": now + ttl}
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (session["id"], user["id"], _token_hash(token), now, session["expires_at"]),
        )
        if not stored.startswith(AUTH_HASH_PREFIX):
            tx.execute(
                "UPDATE users SET auth_hash = ? WHERE id = ? AND auth_hash = ?",
                (hash_auth_key(auth_key), user["id"], stored),
            )
        audit.record(tx, "login", now, actor or audit.Actor(name), object=f"user:{name}", session=session["id"])
    return Session(token, now + ttl, account(user))


def authenticate(tx: Tx, token: str, now: float) -> Principal:
    """Return who holds *token*, if it names a session that is neither expired nor revoked."""
    row = tx.one(
        "SELECT s.id AS session_id, s.expires_at, s.token_hash, u.id AS user_id, u.name, u.role "
        "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?",
        (_token_hash(token),),
    )
    if row is None or not hmac.compare_digest(row["token_hash"], _token_hash(token)):
        raise Unauthorized("the session token is unknown or was revoked: log in again", code="session_invalid")
    if row["expires_at"] <= now:
        raise Unauthorized("the session has expired: log in again", code="session_expired")
    return Principal(user_id=row["user_id"], name=row["name"], role=row["role"], session_id=row["session_id"])


def list_sessions(db: Database, who: Principal, now: float) -> list[SessionEntry]:
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT id, created_at, expires_at FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at",
            (who.user_id, now),
        )
    return [SessionEntry(r["id"], r["created_at"], r["expires_at"], r["id"] == who.session_id) for r in rows]


def revoke_session(
    db: Database, who: Principal, session_id: str, now: float, actor: audit.Actor, action: str = "session.revoked"
) -> None:
    """End one of the caller's sessions and audit it (as *action*) in the same transaction."""
    with db.transaction() as tx:
        if not tx.execute("DELETE FROM sessions WHERE id = ? AND user_id = ?", (session_id, who.user_id)):
            raise NotFound("no such session of yours", code="session_not_found")
        audit.record(tx, action, now, actor, object=f"user:{who.name}", session=session_id)


def me(db: Database, who: Principal) -> Me:
    """Return the caller's account with their public key and wrapped private key (null before set)."""
    with db.transaction(readonly=True) as tx:
        row = tx.one(
            "SELECT id, name, role, created_at, public_key, wrapped_private_key, key_origin, previous_public_key, "
            "previous_wrapped_private_key FROM users WHERE id = ?",
            (who.user_id,),
        )
    assert row is not None
    return Me(
        account(row),
        row["public_key"],
        row["wrapped_private_key"],
        row["key_origin"],
        row["previous_public_key"],
        row["previous_wrapped_private_key"],
    )


def set_keys(db: Database, who: Principal, keys: WrappedKeys) -> None:
    """Store the caller's key pair once; replacing it would orphan every file key sealed to it."""
    with db.transaction() as tx:
        changed = tx.execute(
            "UPDATE users SET public_key = ?, wrapped_private_key = ? WHERE id = ? AND public_key IS NULL",
            (b64encode(keys.public_key), b64encode(keys.wrapped_private_key), who.user_id),
        )
    if not changed:
        raise Conflict("your keys are already set; change your password to re-wrap them", code="keys_exist")


def change_password(db: Database, who: Principal, request: ChangePassword, now: float, actor: audit.Actor) -> None:
    """Replace the auth key and the wrapped private key together; other sessions end; audit it.

    A wrong current password raises :class:`Unauthorized`; the caller counts and audits
    it beside its brute-force guard, as for a login.

    The client re-wraps the same private key under the new master key, so no file
    key changes. The old auth key is required, so a stolen session alone cannot
    take over the account.
    """
    params, wrapped = request.params, request.wrapped_private_key
    with db.transaction(readonly=True) as tx:
        row = tx.one("SELECT auth_hash, public_key, previous_public_key FROM users WHERE id = ?", (who.user_id,))
    assert row is not None
    if not auth_key_matches(row["auth_hash"], request.auth_key):
        raise Unauthorized("the current password is wrong; nothing was changed", code="bad_credentials")
    if row["public_key"] is None:
        raise Conflict("set your keys before changing the password", code="keys_missing")
    if row["previous_public_key"] is not None:  # its old key is wrapped under the current password
        raise Conflict(
            "a key rotation of yours is unfinished: run `coffer keys rotate` to finish it, then change the password",
            code="rotation_unfinished",
        )
    new_hash = hash_auth_key(request.new_auth_key)
    with db.transaction() as tx:
        tx.execute(
            "UPDATE users SET auth_salt = ?, opslimit = ?, memlimit = ?, auth_hash = ?, wrapped_private_key = ? "
            "WHERE id = ?",
            (b64encode(params.salt), params.opslimit, params.memlimit, new_hash, b64encode(wrapped), who.user_id),
        )
        ended = tx.execute("DELETE FROM sessions WHERE user_id = ? AND id <> ?", (who.user_id, who.session_id))
        audit.record(tx, "password.changed", now, actor, object=f"user:{who.name}", sessions_ended=ended)
