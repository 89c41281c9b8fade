"""Administration: creating a user, applying a shard config, rotating a cluster's credential."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..encoding import b64encode
from ..errors import ProtocolError
from ..ids import check_username
from ..messages import MAX_SHARDS
from .auth import AUTH_KEY_BYTES, WrappedKeys
from .fields import answer_field, key_bytes, list_of, object_of

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


MAX_LISTED_FILESERVERS = 100_000
"""Fileservers in the registry listing: the server caps no count of fileservers."""


@dataclass(frozen=True)
class FileserverShard:
    """A shard one fileserver serves: whether it reads and writes it, on which backend, with how much room."""

    name: str
    read: bool
    write: bool
    backend: str | None
    free_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "read": self.read,
            "write": self.write,
            "backend": self.backend,
            "free_bytes": self.free_bytes,
        }

    @classmethod
    def parse(cls, value: object) -> FileserverShard:
        body = object_of(value, "a fileserver's shard")
        return cls(
            name=answer_field(body, "name", str),
            read=answer_field(body, "read", bool),
            write=answer_field(body, "write", bool),
            backend=answer_field(body, "backend", str, optional=True),
            free_bytes=answer_field(body, "free_bytes", int, optional=True),
        )


@dataclass(frozen=True)
class RegisteredFileserver:
    """``GET /api/admin/fileservers``: one fileserver as the registry knows it, with its shards and last load.

    ``load`` is the fileserver's last heartbeat report, passed through as it was stored.
    """

    id: str
    url: str
    cluster: str
    live: bool
    last_seen: float
    registered_at: float
    version: str | None
    shards: tuple[FileserverShard, ...]
    load: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "cluster": self.cluster,
            "live": self.live,
            "last_seen": self.last_seen,
            "registered_at": self.registered_at,
            "version": self.version,
            "shards": [s.to_json() for s in self.shards],
            "load": dict(self.load),
        }

    @classmethod
    def parse(cls, value: object) -> RegisteredFileserver:
        body = object_of(value, "a fileserver")
        shards = list_of(body.get("shards"), "a fileserver's 'shards'", MAX_SHARDS)
        return cls(
            id=answer_field(body, "id", str),
            url=answer_field(body, "url", str),
            cluster=answer_field(body, "cluster", str),
            live=answer_field(body, "live", bool),
            last_seen=answer_field(body, "last_seen", (int, float)),
            registered_at=answer_field(body, "registered_at", (int, float)),
            version=answer_field(body, "version", str, optional=True),
            shards=tuple(FileserverShard.parse(s) for s in shards),
            load=answer_field(body, "load", dict),
        )


def parse_fileservers(value: object) -> list[RegisteredFileserver]:
    """Read ``GET /api/admin/fileservers``: every registered fileserver, by URL."""
    return [RegisteredFileserver.parse(s) for s in list_of(value, "the fileserver listing", MAX_LISTED_FILESERVERS)]
