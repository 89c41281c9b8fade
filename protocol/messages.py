"""The bodies of registration and heartbeat, checked field by field with size limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .encoding import DecodeError, b64decode, b64encode
from .errors import ProtocolError
from .ids import check_chunk_hash, check_id, check_name
from .signing import MAX_FIGURE

MAX_SHARDS = 256
MAX_CORRUPT_REPORTS = 200
"""Corrupt reports in one heartbeat; a fileserver keeps the rest for the next beats.

At this limit the largest heartbeat signs to about 225 KiB, under ``cluster.MAX_TOKEN_LENGTH``
(a test pins it); quarantines are rare, so paging them costs nothing in practice."""
MAX_PURGES = 500
"""Purge orders in one heartbeat answer, and confirmations in one heartbeat; a fileserver confirms the rest later."""
MAX_RECONCILE_FILES = 1000
MAX_URL = 2048
BACKENDS = ("local", "s3", "gcs", "azure")
CACHE_FIELDS = ("queue_depth", "cache_bytes", "cache_hits", "cache_misses")
"""Optional per-shard figures of a local cache; absent for a shard without one (and from older fileservers)."""


def _int(body: dict[str, Any], key: str, *, optional: bool = False) -> int | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_FIGURE:
        raise ProtocolError(f"'{key}' must be a non-negative 64-bit integer")
    return value


def _str(body: dict[str, Any], key: str, limit: int = 200) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ProtocolError(f"'{key}' must be a string of 1-{limit} characters")
    return value


@dataclass(frozen=True)
class ShardAnnouncement:
    """One shard a fileserver serves, with the access it offers and where it keeps it."""

    name: str
    read: bool
    write: bool
    backend: str = "local"
    free_bytes: int | None = None
    queue_depth: int | None = None
    """Chunks acknowledged but not yet in the cloud (a write-back cache only)."""
    cache_bytes: int | None = None
    """Bytes in the local read cache (a cached shard only), with the hit and miss totals since start."""
    cache_hits: int | None = None
    cache_misses: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "read": self.read,
            "write": self.write,
            "backend": self.backend,
            "free_bytes": self.free_bytes,
        }
        for key in CACHE_FIELDS:
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return body


def parse_shards(value: object) -> list[ShardAnnouncement]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SHARDS:
        raise ProtocolError(f"'shards' must be a list of 1-{MAX_SHARDS} shards")
    shards: list[ShardAnnouncement] = []
    for item in value:
        if not isinstance(item, dict):
            raise ProtocolError("each shard must be an object")
        read, write = item.get("read"), item.get("write")
        if not isinstance(read, bool) or not isinstance(write, bool):
            raise ProtocolError("shard 'read' and 'write' must be booleans")
        backend = item.get("backend", "local")
        if backend not in BACKENDS:
            raise ProtocolError(f"shard backend must be one of {', '.join(BACKENDS)}")
        shards.append(
            ShardAnnouncement(
                name=check_name(item.get("name"), "shard"),
                read=read,
                write=write,
                backend=backend,
                free_bytes=_int(item, "free_bytes", optional=True),
                queue_depth=_int(item, "queue_depth", optional=True),
                cache_bytes=_int(item, "cache_bytes", optional=True),
                cache_hits=_int(item, "cache_hits", optional=True),
                cache_misses=_int(item, "cache_misses", optional=True),
            )
        )
    if len({s.name for s in shards}) != len(shards):
        raise ProtocolError("a shard is announced twice")
    return shards


@dataclass(frozen=True)
class Registration:
    url: str
    public_key: bytes
    version: str
    shards: list[ShardAnnouncement]

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "public_key": b64encode(self.public_key),
            "version": self.version,
            "shards": [s.to_json() for s in self.shards],
        }


def parse_registration(body: dict[str, Any]) -> Registration:
    url = _str(body, "url", MAX_URL)
    if not url.startswith(("http://", "https://")):
        raise ProtocolError("'url' must be an http:// or https:// address")
    try:
        public_key = b64decode(_str(body, "public_key", 64))
    except DecodeError as exc:
        raise ProtocolError(f"'public_key' is not base64url: {exc}") from exc
    if len(public_key) != 32:
        raise ProtocolError("'public_key' must be a 32-byte Ed25519 key")
    return Registration(
        url=url.rstrip("/"),
        public_key=public_key,
        version=_str(body, "version", 64),
        shards=parse_shards(body.get("shards")),
    )


@dataclass(frozen=True)
class Heartbeat:
    """What a fileserver reports every beat: the load clients balance on, and its health."""

    version: str
    shards: list[ShardAnnouncement]
    active_transfers: int
    bytes_per_s: int
    free_bytes: int | None
    chunk_count: int
    corrupt: list[tuple[str, str, str]]
    """``(shard, file id, chunk hash)`` of each chunk the scrub quarantined."""
    purged: list[FilePurge] = field(default_factory=list)
    """Files whose chunks this fileserver deleted and verified gone since the last beat."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "shards": [s.to_json() for s in self.shards],
            "active_transfers": self.active_transfers,
            "bytes_per_s": self.bytes_per_s,
            "free_bytes": self.free_bytes,
            "chunk_count": self.chunk_count,
            "corrupt": [{"shard": s, "file": f, "chunk": c} for s, f, c in self.corrupt],
            "purged": [p.to_json() for p in self.purged],
        }


def parse_heartbeat(body: dict[str, Any]) -> Heartbeat:
    corrupt_items = body.get("corrupt", [])
    if not isinstance(corrupt_items, list) or len(corrupt_items) > MAX_CORRUPT_REPORTS:
        raise ProtocolError(f"'corrupt' must be a list of at most {MAX_CORRUPT_REPORTS} reports")
    corrupt = []
    for item in corrupt_items:
        if not isinstance(item, dict):
            raise ProtocolError("each corrupt report must be an object")
        corrupt.append(
            (
                check_name(item.get("shard"), "shard"),
                check_id(item.get("file"), "file"),
                check_chunk_hash(item.get("chunk")),
            )
        )
    return Heartbeat(
        version=_str(body, "version", 64),
        shards=parse_shards(body.get("shards")),
        active_transfers=_int(body, "active_transfers") or 0,
        bytes_per_s=_int(body, "bytes_per_s") or 0,
        free_bytes=_int(body, "free_bytes", optional=True),
        chunk_count=_int(body, "chunk_count") or 0,
        corrupt=corrupt,
        purged=parse_purges(body.get("purged", []), "purged"),
    )


@dataclass(frozen=True)
class FilePurge:
    """All chunks of one file in one shard: ordered deleted by the server, or confirmed deleted by a fileserver."""

    shard: str
    file: str

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "file": self.file}


def parse_purges(value: object, what: str = "purge") -> list[FilePurge]:
    """Read a list of purges (the server's orders, or a fileserver's confirmations)."""
    if not isinstance(value, list) or len(value) > MAX_PURGES:
        raise ProtocolError(f"'{what}' must be a list of at most {MAX_PURGES} purges")
    purges = []
    for item in value:
        if not isinstance(item, dict):
            raise ProtocolError(f"each of '{what}' must be an object")
        purges.append(FilePurge(check_name(item.get("shard"), "shard"), check_id(item.get("file"), "file")))
    return purges


@dataclass(frozen=True)
class ReconcileQuery:
    """Which of these file ids, found in a shard's storage, does the server still know?"""

    shard: str
    files: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "files": self.files}


def parse_reconcile_query(body: dict[str, Any]) -> ReconcileQuery:
    files = body.get("files")
    if not isinstance(files, list) or len(files) > MAX_RECONCILE_FILES:
        raise ProtocolError(f"'files' must be a list of at most {MAX_RECONCILE_FILES} file ids")
    return ReconcileQuery(check_name(body.get("shard"), "shard"), [check_id(f, "file") for f in files])


@dataclass(frozen=True)
class ReconcileAnswer:
    """The files the server does not know (orphans), and how old their chunks must be before they go."""

    unknown: list[str]
    grace_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"unknown": self.unknown, "grace_seconds": self.grace_seconds}


def parse_reconcile_answer(body: dict[str, Any]) -> ReconcileAnswer:
    unknown = body.get("unknown")
    grace = body.get("grace_seconds")
    if not isinstance(unknown, list) or len(unknown) > MAX_RECONCILE_FILES:
        raise ProtocolError(f"'unknown' must be a list of at most {MAX_RECONCILE_FILES} file ids")
    if not isinstance(grace, (int, float)) or isinstance(grace, bool) or grace < 0:
        raise ProtocolError("'grace_seconds' must be a non-negative number")
    return ReconcileAnswer([check_id(f, "file") for f in unknown], float(grace))


@dataclass(frozen=True)
class RegistrationAnswer:
    """The server's answer to a registration: the id it knows the fileserver by, and the pace it wants."""

    fileserver_id: str | None
    lease_seconds: float | None
    heartbeat_interval: float | None
    """Seconds between beats the server asks for; None when it sent no usable value (keep our own)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "fileserver_id": self.fileserver_id,
            "lease_seconds": self.lease_seconds,
            "heartbeat_interval": self.heartbeat_interval,
        }


def _seconds(value: object) -> float | None:
    """Return a positive number of seconds, or None: an older or odd server's pace is advice, not an error."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def parse_registration_answer(body: dict[str, Any]) -> RegistrationAnswer:
    fs_id = body.get("fileserver_id")
    return RegistrationAnswer(
        fileserver_id=None if fs_id is None else check_id(fs_id, "fileserver_id"),
        lease_seconds=_seconds(body.get("lease_seconds")),
        heartbeat_interval=_seconds(body.get("heartbeat_interval")),
    )


MAX_REVOKED_TICKETS = 100_000
"""Revoked, unexpired tickets in one heartbeat answer (and in a fileserver's revocation file)."""


def parse_revoked_tickets(value: object) -> dict[str, int]:
    """Return ticket id → expiry from ``[{"jti", "exp"}]``; anything malformed is a ProtocolError."""
    if not isinstance(value, list) or len(value) > MAX_REVOKED_TICKETS:
        raise ProtocolError(f"revoked tickets must be a list of at most {MAX_REVOKED_TICKETS} entries")
    revoked: dict[str, int] = {}
    for item in value:
        if not isinstance(item, dict):
            raise ProtocolError("each revoked ticket must be an object")
        exp = item.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise ProtocolError("a revoked ticket's 'exp' must be an integer")
        revoked[check_id(item.get("jti"), "ticket_id")] = exp
    return revoked


@dataclass(frozen=True)
class HeartbeatAnswer:
    """The server's answer to a beat: the tickets it revoked, the files to purge, and its clock.

    SECURITY: the revocations are what lets a fileserver refuse a ticket before it expires.
    """

    lease_seconds: float | None
    server_time: float | None
    revoked_tickets: dict[str, int] = field(default_factory=dict)
    purge: list[FilePurge] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lease_seconds": self.lease_seconds,
            "server_time": self.server_time,
            "revoked_tickets": [{"jti": jti, "exp": exp} for jti, exp in self.revoked_tickets.items()],
            "purge": [p.to_json() for p in self.purge],
        }


def parse_heartbeat_answer(body: dict[str, Any]) -> HeartbeatAnswer:
    server_time = body.get("server_time")
    return HeartbeatAnswer(
        lease_seconds=_seconds(body.get("lease_seconds")),
        server_time=server_time if isinstance(server_time, int | float) and not isinstance(server_time, bool) else None,
        revoked_tickets=parse_revoked_tickets(body.get("revoked_tickets", [])),
        purge=parse_purges(body.get("purge", [])),
    )
