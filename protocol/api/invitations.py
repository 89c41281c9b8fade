"""Invitations: an administrator names a user and a role; the user's own client makes their password and keys.

SECURITY: the administrator's client sends only a name, a role and a lifetime, and gets a
one-time code back; the invited user's client derives the auth key and the master key from a
password only that user typed, makes the X25519 key pair and sends the public key, the private
key wrapped under the master key, the auth key, the salt and the limits, in the one request
that spends the code. Nobody but the user ever holds the password or an unwrapped key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import kdf
from ..encoding import b64encode
from ..errors import ProtocolError
from ..ids import check_username
from .admin import ROLES
from .auth import AUTH_KEY_BYTES, WrappedKeys, parse_kdf_params
from .fields import answer_field, key_bytes, list_of, object_of, seconds

DEFAULT_INVITE_SECONDS = 7 * 86400.0
MIN_INVITE_SECONDS = 60.0
MAX_INVITE_SECONDS = 30 * 86400.0
"""An invitation is a bearer secret: it lives long enough to reach its person, not as long as an account."""
MIN_CODE_CHARS = 16
MAX_CODE_CHARS = 128


@dataclass(frozen=True)
class Invite:
    """``POST /api/admin/invitations``: invite *username* with *role*; the code works for *expires_in* seconds."""

    username: str
    role: str = "user"
    expires_in: float = DEFAULT_INVITE_SECONDS

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "expires_in": self.expires_in}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Invite:
        username = check_username(body.get("username"))
        role = body.get("role", "user")
        if role not in ROLES:
            raise ProtocolError(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        lifetime = seconds(body, "expires_in", MIN_INVITE_SECONDS, MAX_INVITE_SECONDS)
        return cls(username, str(role), DEFAULT_INVITE_SECONDS if lifetime is None else lifetime)


@dataclass(frozen=True)
class Invitation:
    """The answer to an invitation: the one-time code, shown once, and until when it works.

    SECURITY: the server keeps only a hash of ``code``; whoever holds the code may join as
    ``username`` once, so it travels to its person by a channel the administrator trusts.
    """

    username: str
    role: str
    code: str
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "code": self.code, "expires_at": self.expires_at}

    @classmethod
    def parse(cls, value: object) -> Invitation:
        body = object_of(value, "the invitation")
        return cls(
            username=answer_field(body, "username", str),
            role=answer_field(body, "role", str),
            code=answer_field(body, "code", str),
            expires_at=answer_field(body, "expires_at", (int, float)),
        )


def check_code(value: object) -> str:
    """Return an invitation code if it has the shape of one (the server still has to know it)."""
    if not isinstance(value, str) or not MIN_CODE_CHARS <= len(value) <= MAX_CODE_CHARS or not value.isascii():
        raise ProtocolError(
            "'code' must be the invitation code an administrator gave you, as printed", code="invalid_code"
        )
    return value


@dataclass(frozen=True)
class Join:
    """``POST /api/auth/join``: spend an invitation code on an account whose secrets this client made.

    SECURITY: ``keys`` holds the private key wrapped under a master key that never leaves the
    user's client; the auth key is what later logins send.
    """

    code: str
    params: kdf.KdfParams
    auth_key: bytes
    keys: WrappedKeys

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "salt": b64encode(self.params.salt),
            "opslimit": self.params.opslimit,
            "memlimit": self.params.memlimit,
            "auth_key": b64encode(self.auth_key),
        } | self.keys.to_json()

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Join:
        """Check the code first, then salt and limits, the auth key, and the key pair."""
        code = check_code(body.get("code"))
        params = parse_kdf_params(body)
        auth_key = key_bytes(body.get("auth_key"), "auth_key", AUTH_KEY_BYTES)
        return cls(code, params, auth_key, WrappedKeys.parse(body))


MAX_LISTED_INVITATIONS = 1_000_000
"""Open invitations in one listing: the server caps no count of them."""


@dataclass(frozen=True)
class OpenInvitation:
    """``GET /api/admin/invitations``: an invitation not yet spent nor expired (never its code)."""

    username: str
    role: str
    created_by: str | None
    created_at: float
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "role": self.role,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def parse(cls, value: object) -> OpenInvitation:
        body = object_of(value, "an invitation")
        return cls(
            username=answer_field(body, "username", str),
            role=answer_field(body, "role", str),
            created_by=answer_field(body, "created_by", str, optional=True),
            created_at=answer_field(body, "created_at", (int, float)),
            expires_at=answer_field(body, "expires_at", (int, float)),
        )


def parse_open_invitations(value: object) -> list[OpenInvitation]:
    """Read ``GET /api/admin/invitations``: the open invitations, by name."""
    return [OpenInvitation.parse(i) for i in list_of(value, "the invitation listing", MAX_LISTED_INVITATIONS)]
