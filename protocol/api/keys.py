"""Key rotation: a new key pair made on the owner's client, the file keys sealed to it again, the old pair dropped.

SECURITY: the server receives the new private key only wrapped under the new master key,
and the old one (kept only until every file key is sealed again, so an interrupted rotation
can finish) wrapped under the same new master key. It never sees a file key: the client
opens each sealed key with the old pair and seals it to the new public key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import kdf
from ..encoding import b64encode
from ..errors import ProtocolError
from ..ids import check_id
from .auth import AUTH_KEY_BYTES, WrappedKeys, parse_kdf_params, wrapped_key
from .fields import answer_field, key_bytes, list_of, object_of, opaque
from .files import MAX_SEALED_KEY_BYTES

MAX_RESEALED = 500
"""File keys in one ``PUT /api/me/keys/files``: a rotation sends a user's files in pages of this many."""


@dataclass(frozen=True)
class RotateKeys:
    """``POST /api/me/keys/rotation``: the current auth key, a new password's salt and auth key, a new pair.

    A rotation changes the password too: an account made before invitations has a
    password its creator may know, and a new key wrapped under it would be theirs again.
    """

    auth_key: bytes
    params: kdf.KdfParams
    new_auth_key: bytes
    keys: WrappedKeys
    previous_wrapped_private_key: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "auth_key": b64encode(self.auth_key),
            "salt": b64encode(self.params.salt),
            "opslimit": self.params.opslimit,
            "memlimit": self.params.memlimit,
            "new_auth_key": b64encode(self.new_auth_key),
            "previous_wrapped_private_key": b64encode(self.previous_wrapped_private_key),
        } | self.keys.to_json()

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> RotateKeys:
        params = parse_kdf_params(body)
        return cls(
            key_bytes(body.get("auth_key"), "auth_key", AUTH_KEY_BYTES),
            params,
            key_bytes(body.get("new_auth_key"), "new_auth_key", AUTH_KEY_BYTES),
            WrappedKeys.parse(body),
            wrapped_key(body, "previous_wrapped_private_key"),
        )


@dataclass(frozen=True)
class ResealedKey:
    """One of the caller's files and its key sealed to their new public key (opaque to the server)."""

    file_id: str
    sealed_key: str

    def to_json(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "sealed_key": self.sealed_key}

    @classmethod
    def parse(cls, value: object) -> ResealedKey:
        if not isinstance(value, dict):
            raise ProtocolError("each resealed key must be an object", code="invalid_keys")
        return cls(check_id(value.get("file_id"), "file_id"), opaque(value, "sealed_key", MAX_SEALED_KEY_BYTES))


@dataclass(frozen=True)
class Reseal:
    """``PUT /api/me/keys/files``: file keys sealed again to the new public key, a page at a time."""

    keys: tuple[ResealedKey, ...]

    def to_json(self) -> dict[str, Any]:
        return {"keys": [k.to_json() for k in self.keys]}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Reseal:
        items = body.get("keys")
        if not isinstance(items, list) or len(items) > MAX_RESEALED:
            raise ProtocolError(f"'keys' must be a list of at most {MAX_RESEALED} items", code="invalid_keys")
        return cls(tuple(ResealedKey.parse(item) for item in items))


@dataclass(frozen=True)
class Resealed:
    """The answer to a page of resealed keys: how many of the caller's files took their new key."""

    updated: int

    def to_json(self) -> dict[str, Any]:
        return {"updated": self.updated}

    @classmethod
    def parse(cls, value: object) -> Resealed:
        return cls(answer_field(object_of(value, "the reseal answer"), "updated", int))


@dataclass(frozen=True)
class StaleShare:
    """A file shared with the caller whose box was made for their old key: its owner must share it again."""

    file_id: str
    owner: str

    def to_json(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "owner": self.owner}

    @classmethod
    def parse(cls, value: object) -> StaleShare:
        body = object_of(value, "a stale share")
        return cls(answer_field(body, "file_id", str), answer_field(body, "owner", str))


MAX_STALE_SHARES = 1_000_000
"""Files shared with one user: the server caps no count of them."""


@dataclass(frozen=True)
class RotationDone:
    """The answer to ``DELETE /api/me/keys/rotation``: the shares to the caller still boxed for the old key."""

    stale_shares: tuple[StaleShare, ...]

    def to_json(self) -> dict[str, Any]:
        return {"stale_shares": [s.to_json() for s in self.stale_shares]}

    @classmethod
    def parse(cls, value: object) -> RotationDone:
        body = object_of(value, "the rotation answer")
        items = list_of(body.get("stale_shares"), "'stale_shares'", MAX_STALE_SHARES)
        return cls(tuple(StaleShare.parse(s) for s in items))
