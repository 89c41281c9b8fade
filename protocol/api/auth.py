"""Accounts: opening a session, and the key pair a client makes and stores wrapped.

SECURITY: the server sees an auth key derived from the password, never the password
or the master key, and a private key only wrapped under that master key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..encoding import b64encode
from ..ids import check_username
from .fields import key_bytes

AUTH_KEY_BYTES = 32
PUBLIC_KEY_BYTES = 32
MIN_WRAPPED_KEY_BYTES = 40
MAX_WRAPPED_KEY_BYTES = 256


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
            key_bytes(
                body.get("wrapped_private_key"),
                "wrapped_private_key",
                MIN_WRAPPED_KEY_BYTES,
                at_most=MAX_WRAPPED_KEY_BYTES,
            ),
        )
