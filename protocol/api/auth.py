"""Accounts: opening a session, and the key pair a client makes and stores wrapped.

SECURITY: the server sees an auth key derived from the password, never the password
or the master key, and a private key only wrapped under that master key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import kdf
from ..encoding import b64encode
from ..errors import ProtocolError
from ..ids import check_username
from .fields import answer_field, key_bytes, list_of, object_of

AUTH_KEY_BYTES = 32
PUBLIC_KEY_BYTES = 32
MIN_WRAPPED_KEY_BYTES = 40
MAX_WRAPPED_KEY_BYTES = 256


def wrapped_key(body: Mapping[str, Any], field: str) -> bytes:
    """Read a private key wrapped under a master key: opaque to the server, but of a wrapped key's size."""
    return key_bytes(body.get(field), field, MIN_WRAPPED_KEY_BYTES, at_most=MAX_WRAPPED_KEY_BYTES)


MAX_OPSLIMIT = 20
MAX_MEMLIMIT = 1 << 30


@dataclass(frozen=True)
class Login:
    """``POST /api/auth/login``: the user and the auth key derived from their password."""

    username: str
    auth_key: bytes

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "auth_key": b64encode(self.auth_key)}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Login:
        return cls(check_username(body.get("username")), key_bytes(body.get("auth_key"), "auth_key", AUTH_KEY_BYTES))


@dataclass(frozen=True)
class WrappedKeys:
    """``PUT /api/me/keys`` (and a new user's keys): a public key and the private key wrapped by the client."""

    public_key: bytes
    wrapped_private_key: bytes

    def to_json(self) -> dict[str, Any]:
        return {"public_key": b64encode(self.public_key), "wrapped_private_key": b64encode(self.wrapped_private_key)}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> WrappedKeys:
        return cls(
            key_bytes(body.get("public_key"), "public_key", PUBLIC_KEY_BYTES),
            wrapped_key(body, "wrapped_private_key"),
        )


@dataclass(frozen=True)
class Prelogin:
    """``POST /api/auth/prelogin``: whose salt and Argon2id limits to send before login."""

    username: str

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Prelogin:
        return cls(check_username(body.get("username")))


@dataclass(frozen=True)
class KdfAnswer:
    """The prelogin answer: the salt and Argon2id limits to derive the auth key with.

    The client refuses a malformed answer as ``invalid_kdf``; whether the limits are safe
    to use is the client's decision (``client.api.checked_kdf_params``), not the parser's.
    """

    salt: str
    """Base64url, as stored; the client decodes it only after it has judged the limits."""
    opslimit: int
    memlimit: int

    def to_json(self) -> dict[str, Any]:
        return {"salt": self.salt, "opslimit": self.opslimit, "memlimit": self.memlimit}

    @classmethod
    def parse(cls, value: object) -> KdfAnswer:
        body = value if isinstance(value, dict) else {}
        salt, opslimit, memlimit = body.get("salt"), body.get("opslimit"), body.get("memlimit")
        if type(opslimit) is not int or type(memlimit) is not int or not isinstance(salt, str):
            raise ProtocolError("the server sent malformed key derivation parameters", code="invalid_kdf")
        return cls(salt, opslimit, memlimit)


@dataclass(frozen=True)
class Account:
    """A user as the server shows them at login and in ``GET /api/me``."""

    id: str
    name: str
    role: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "created_at": self.created_at}

    @classmethod
    def parse(cls, value: object) -> Account:
        body = object_of(value, "the account")
        return cls(
            id=answer_field(body, "id", str),
            name=answer_field(body, "name", str),
            role=answer_field(body, "role", str),
            created_at=answer_field(body, "created_at", (int, float)),
        )


@dataclass(frozen=True)
class Session:
    """The login answer: a bearer token, when it expires, and whose it is.

    SECURITY: the token is the session; the client keeps it only in its session file.
    """

    token: str
    expires_at: float
    user: Account

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "expires_at": self.expires_at, "user": self.user.to_json()}

    @classmethod
    def parse(cls, value: object) -> Session:
        body = object_of(value, "the login answer")
        return cls(
            token=answer_field(body, "token", str),
            expires_at=answer_field(body, "expires_at", (int, float)),
            user=Account.parse(body.get("user")),
        )


KEY_ORIGINS = ("invitation", "rotation", "legacy")
"""Where an account's current key pair was made (``Me.key_origin``):

- ``invitation``: on the owner's client, when they joined with an invitation code;
- ``rotation``: on the owner's client, by ``coffer keys rotate``;
- ``legacy``: before invitations, when an administrator's client made new users' key pairs
  and initial passwords, so whoever created the account may hold the private key.
"""


@dataclass(frozen=True)
class Me:
    """``GET /api/me``: the caller's account with their public key and wrapped private key (null before set).

    ``key_origin`` is one of :data:`KEY_ORIGINS`; None from a server older than invitations.
    ``previous_*`` hold the old pair while a key rotation is unfinished (the private key wrapped
    under the current master key), so that ``coffer keys rotate`` run again can finish it.
    """

    account: Account
    public_key: str | None
    wrapped_private_key: str | None
    key_origin: str | None = None
    previous_public_key: str | None = None
    previous_wrapped_private_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        keys = {"public_key": self.public_key, "wrapped_private_key": self.wrapped_private_key}
        previous = {
            "previous_public_key": self.previous_public_key,
            "previous_wrapped_private_key": self.previous_wrapped_private_key,
        }
        return self.account.to_json() | keys | {"key_origin": self.key_origin} | previous

    @classmethod
    def parse(cls, value: object) -> Me:
        body = object_of(value, "the account")
        return cls(
            account=Account.parse(body),
            public_key=answer_field(body, "public_key", str, optional=True),
            wrapped_private_key=answer_field(body, "wrapped_private_key", str, optional=True),
            key_origin=answer_field(body, "key_origin", str, optional=True),
            previous_public_key=answer_field(body, "previous_public_key", str, optional=True),
            previous_wrapped_private_key=answer_field(body, "previous_wrapped_private_key", str, optional=True),
        )


def parse_kdf_params(body: Mapping[str, Any]) -> kdf.KdfParams:
    """Read a salt and optional Argon2id limits, refusing limits weaker than the default."""
    salt = key_bytes(body.get("salt"), "salt", kdf.SALT_BYTES)
    opslimit, memlimit = body.get("opslimit", kdf.OPSLIMIT), body.get("memlimit", kdf.MEMLIMIT)
    if not isinstance(opslimit, int) or not isinstance(memlimit, int) or isinstance(opslimit, bool):
        raise ProtocolError("'opslimit' and 'memlimit' must be integers", code="invalid_kdf")
    if not (kdf.OPSLIMIT <= opslimit <= MAX_OPSLIMIT and kdf.MEMLIMIT <= memlimit <= MAX_MEMLIMIT):
        raise ProtocolError("the Argon2id limits are outside what this server accepts", code="invalid_kdf")
    return kdf.KdfParams(salt=salt, opslimit=opslimit, memlimit=memlimit)


@dataclass(frozen=True)
class ChangePassword:
    """``POST /api/me/password``: the current auth key, the new salt, limits and auth key, the re-wrapped key.

    SECURITY: the private key is the same one, wrapped under the new master key by the client.
    """

    auth_key: bytes
    params: kdf.KdfParams
    new_auth_key: bytes
    wrapped_private_key: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "auth_key": b64encode(self.auth_key),
            "salt": b64encode(self.params.salt),
            "opslimit": self.params.opslimit,
            "memlimit": self.params.memlimit,
            "new_auth_key": b64encode(self.new_auth_key),
            "wrapped_private_key": b64encode(self.wrapped_private_key),
        }

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ChangePassword:
        """Check the fields in the order the server always has: salt and limits, then the three keys."""
        params = parse_kdf_params(body)
        return cls(
            key_bytes(body.get("auth_key"), "auth_key", AUTH_KEY_BYTES),
            params,
            key_bytes(body.get("new_auth_key"), "new_auth_key", AUTH_KEY_BYTES),
            wrapped_key(body, "wrapped_private_key"),
        )


MAX_SESSIONS = 100_000
"""Sessions in one user's listing: the server caps no count of a user's sessions."""


@dataclass(frozen=True)
class ServerInfo:
    """``GET /api/info``: what a client or fileserver needs to know before it talks to the server."""

    version: str
    public_key: str
    kid: str
    lease_seconds: float
    heartbeat_interval: float
    max_chunk_size: int
    default_chunk_size: int
    max_retention: float

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "public_key": self.public_key,
            "kid": self.kid,
            "lease_seconds": self.lease_seconds,
            "heartbeat_interval": self.heartbeat_interval,
            "max_chunk_size": self.max_chunk_size,
            "default_chunk_size": self.default_chunk_size,
            "max_retention": self.max_retention,
        }

    @classmethod
    def parse(cls, value: object) -> ServerInfo:
        body = object_of(value, "the server info")
        return cls(
            version=answer_field(body, "version", str),
            public_key=answer_field(body, "public_key", str),
            kid=answer_field(body, "kid", str),
            lease_seconds=answer_field(body, "lease_seconds", (int, float)),
            heartbeat_interval=answer_field(body, "heartbeat_interval", (int, float)),
            max_chunk_size=answer_field(body, "max_chunk_size", int),
            default_chunk_size=answer_field(body, "default_chunk_size", int),
            max_retention=answer_field(body, "max_retention", (int, float)),
        )


@dataclass(frozen=True)
class SessionEntry:
    """``GET /api/auth/sessions``: one of the caller's open sessions, and whether it is the one asking."""

    id: str
    created_at: float
    expires_at: float
    current: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "expires_at": self.expires_at, "current": self.current}

    @classmethod
    def parse(cls, value: object) -> SessionEntry:
        body = object_of(value, "a session")
        return cls(
            id=answer_field(body, "id", str),
            created_at=answer_field(body, "created_at", (int, float)),
            expires_at=answer_field(body, "expires_at", (int, float)),
            current=answer_field(body, "current", bool),
        )


def parse_sessions(value: object) -> list[SessionEntry]:
    """Read ``GET /api/auth/sessions``: the caller's open sessions, oldest first."""
    return [SessionEntry.parse(s) for s in list_of(value, "the session listing", MAX_SESSIONS)]
