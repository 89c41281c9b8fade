"""Administration: creating a user, applying a shard config, rotating a cluster's credential."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..encoding import b64encode
from ..errors import ProtocolError
from ..ids import check_username
from .auth import AUTH_KEY_BYTES, WrappedKeys
from .fields import key_bytes

ROLES = ("admin", "user")
SALT_BYTES = 16
MAX_GRACE_SECONDS = 30 * 86400


@dataclass(frozen=True)
class NewUser:
    """``POST /api/admin/users``: a user made by an administrator's client.

    SECURITY: the salt, auth key and key pair are made on the administrator's machine
    from the initial password; the server never sees the password or a private key in clear.
    """

    username: str
    role: str
    salt: bytes
    auth_key: bytes
    keys: WrappedKeys | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "username": self.username,
            "role": self.role,
            "salt": b64encode(self.salt),
            "auth_key": b64encode(self.auth_key),
        }
        if self.keys is not None:
            body |= self.keys.to_json()
        return body

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> NewUser:
        """Check the fields in the order the server always has: salt, auth key, key pair, name, role."""
        salt = key_bytes(body.get("salt"), "salt", SALT_BYTES)
        auth_key = key_bytes(body.get("auth_key"), "auth_key", AUTH_KEY_BYTES)
        keys = WrappedKeys.parse(body) if "public_key" in body else None
        username = check_username(body.get("username"))
        role = body.get("role", "user")
        if role not in ROLES:
            raise ProtocolError(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        return cls(username, str(role), salt, auth_key, keys)


@dataclass(frozen=True)
class Apply:
    """``POST /api/admin/apply``: a shard and cluster config (checked by the server's topology rules)."""

    config: object
    prune: bool = False
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "prune": self.prune, "dry_run": self.dry_run}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Apply:
        prune, dry_run = body.get("prune", False), body.get("dry_run", False)
        if not isinstance(prune, bool) or not isinstance(dry_run, bool):
            raise ProtocolError("'prune' and 'dry_run' must be true or false")
        return cls(body.get("config"), prune, dry_run)


@dataclass(frozen=True)
class Rotate:
    """``POST /api/admin/clusters/{name}/rotate``: how long the old credential stays valid beside the new one."""

    grace_seconds: float = 0

    def to_json(self) -> dict[str, Any]:
        return {"grace_seconds": self.grace_seconds}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Rotate:
        grace = body.get("grace_seconds", 0)
        if not isinstance(grace, int | float) or isinstance(grace, bool) or not 0 <= grace <= MAX_GRACE_SECONDS:
            raise ProtocolError(f"'grace_seconds' must be a number from 0 to {MAX_GRACE_SECONDS}", code="invalid_grace")
        return cls(grace)
