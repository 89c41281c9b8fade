"""Administration: applying a shard config, rotating a cluster's credential, and their answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..messages import MAX_SHARDS
from .auth import Account
from .fields import answer_field, list_of, object_of

ROLES = ("admin", "user")
MAX_GRACE_SECONDS = 30 * 86400


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


MAX_LISTED_USERS = 1_000_000
"""Users in the user listing: the server caps no count of users, so the bound of a held-user answer."""
MAX_LISTED_SHARDS = 100_000
"""Shards in the shard listing, or linked to one cluster: the server caps no count of shards."""
MAX_LISTED_CLUSTERS = 100_000
"""Clusters in the cluster listing, or serving one shard: the server caps no count of clusters."""
MAX_CHANGES = 1_000_000
"""Changes in one ``apply`` answer: one per shard, cluster and link the config adds, updates or removes."""


def parse_users(value: object) -> list[Account]:
    """Read ``GET /api/admin/users``: every user, by name."""
    return [Account.parse(u) for u in list_of(value, "the user listing", MAX_LISTED_USERS)]


@dataclass(frozen=True)
class ShardLink:
    """A link between a shard and a cluster, seen from either side: the other's name and the rights it gives."""

    name: str
    read: bool
    write: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "read": self.read, "write": self.write}

    @classmethod
    def parse(cls, value: object) -> ShardLink:
        body = object_of(value, "a shard link")
        return cls(answer_field(body, "name", str), answer_field(body, "read", bool), answer_field(body, "write", bool))


def _links(value: object, what: str, limit: int) -> tuple[ShardLink, ...]:
    return tuple(ShardLink.parse(link) for link in list_of(value, what, limit))


@dataclass(frozen=True)
class ListedShard:
    """``GET /api/admin/shards``: one shard, its description, copy count, the clusters that serve it, and its health.

    ``below_copies`` counts the chunks of complete files kept on fewer fileservers than
    ``copies`` (a copy on a fileserver gone past the server's repair grace, or reported
    corrupt, does not count); ``unrepairable`` those of them that repair has given up on
    for now (no good source, or every try failed).
    """

    name: str
    description: str
    clusters: tuple[ShardLink, ...]
    copies: int = 1
    below_copies: int = 0
    unrepairable: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "copies": self.copies,
            "clusters": [c.to_json() for c in self.clusters],
            "below_copies": self.below_copies,
            "unrepairable": self.unrepairable,
        }

    @classmethod
    def parse(cls, value: object) -> ListedShard:
        body = object_of(value, "a shard")
        return cls(
            name=answer_field(body, "name", str),
            description=answer_field(body, "description", str),
            clusters=_links(body.get("clusters"), "a shard's 'clusters'", MAX_LISTED_CLUSTERS),
            copies=answer_field(body, "copies", int, optional=True) or 1,
            below_copies=answer_field(body, "below_copies", int, optional=True) or 0,
            unrepairable=answer_field(body, "unrepairable", int, optional=True) or 0,
        )


def parse_shards(value: object) -> list[ListedShard]:
    """Read ``GET /api/admin/shards``: every shard, by name."""
    return [ListedShard.parse(s) for s in list_of(value, "the shard listing", MAX_LISTED_SHARDS)]


@dataclass(frozen=True)
class ListedCluster:
    """``GET /api/admin/clusters``: one cluster, its credential generation and the shards it serves, by name."""

    id: str
    name: str
    generation: int
    shards: tuple[ShardLink, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "generation": self.generation,
            "shards": [s.to_json() for s in self.shards],
        }

    @classmethod
    def parse(cls, value: object) -> ListedCluster:
        body = object_of(value, "a cluster")
        return cls(
            id=answer_field(body, "id", str),
            name=answer_field(body, "name", str),
            generation=answer_field(body, "generation", int),
            shards=_links(body.get("shards"), "a cluster's 'shards'", MAX_LISTED_SHARDS),
        )


def parse_clusters(value: object) -> list[ListedCluster]:
    """Read ``GET /api/admin/clusters``: every cluster, by name."""
    return [ListedCluster.parse(c) for c in list_of(value, "the cluster listing", MAX_LISTED_CLUSTERS)]


@dataclass(frozen=True)
class ConfigChange:
    """One change an ``apply`` made or plans: its action and kind, the item's name and the kind's own fields.

    ``detail`` holds the fields beside those three, flat on the wire: a shard's description,
    or a link's cluster, shard and flags.
    """

    action: str
    kind: str
    name: str
    detail: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name} | dict(self.detail)

    @classmethod
    def parse(cls, value: object) -> ConfigChange:
        body = object_of(value, "a change")
        detail = {k: v for k, v in body.items() if k not in ("action", "kind", "name")}
        action, kind = answer_field(body, "action", str), answer_field(body, "kind", str)
        return cls(action, kind, answer_field(body, "name", str), detail)


@dataclass(frozen=True)
class Applied:
    """The ``POST /api/admin/apply`` answer: the changes made, or only planned when ``dry_run``."""

    changes: tuple[ConfigChange, ...]
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes], "dry_run": self.dry_run}

    @classmethod
    def parse(cls, value: object) -> Applied:
        body = object_of(value, "the apply answer")
        changes = list_of(body.get("changes"), "'changes'", MAX_CHANGES)
        return cls(tuple(ConfigChange.parse(c) for c in changes), answer_field(body, "dry_run", bool))


@dataclass(frozen=True)
class ClusterConfig:
    """``GET /api/admin/clusters/{name}/config`` and the rotation answer: a fileserver's boot config.

    ``config`` stays a mapping: it is the TOML table (server, cluster, shards) the fileserver
    reads with its own settings loader; ``toml`` is that table written out with the fileserver's
    default settings, ready to save. SECURITY: both hold the cluster's credential.
    """

    config: Mapping[str, Any]
    toml: str

    def to_json(self) -> dict[str, Any]:
        return {"config": dict(self.config), "toml": self.toml}

    @classmethod
    def parse(cls, value: object) -> ClusterConfig:
        body = object_of(value, "the cluster config answer")
        return cls(answer_field(body, "config", dict), answer_field(body, "toml", str))
