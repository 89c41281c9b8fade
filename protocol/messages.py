"""The bodies of registration and heartbeat, checked field by field with size limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import receipts
from .copies import CopyFailure, CopyOrder, parse_copied, parse_failures, parse_orders
from .encoding import DecodeError, b64decode, b64encode
from .errors import ProtocolError
from .ids import check_chunk_hash, check_id, check_name
from .signing import MAX_FIGURE

MAX_SHARDS = 256
MAX_CORRUPT_REPORTS = 200
"""Corrupt reports in one heartbeat; a fileserver keeps the rest for the next beats.

With the copy reports at their limit too, the largest heartbeat signs to about 250 KiB, under
``cluster.MAX_TOKEN_LENGTH`` (a test pins it); quarantines are rare, so paging them costs nothing in practice."""
MAX_PURGES = 500
"""Purge orders in one heartbeat answer, and confirmations in one heartbeat; a fileserver confirms the rest later."""
MAX_RECONCILE_FILES = 1000
MAX_RECONCILE_CHUNKS = 1500
"""Chunk hashes in one reconcile batch's inventory: with the file ids at their limit, the signed request stays
under ``cluster.MAX_TOKEN_LENGTH`` (a test pins it)."""
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
    revocations_after: int = 0
    """The last revocation sequence this fileserver holds (0: none, start from the beginning)."""
    copied: list[str] = field(default_factory=list)
    """Receipts of the chunks this fileserver copied on the server's orders since the last beat."""
    copy_failed: list[CopyFailure] = field(default_factory=list)
    """Copy orders that failed since the last beat, each with its source and why."""

    def to_json(self) -> dict[str, Any]:
        return {
            "copied": self.copied,
            "copy_failed": [f.to_json() for f in self.copy_failed],
            "revocations_after": self.revocations_after,
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
        revocations_after=_int(body, "revocations_after", optional=True) or 0,
        copied=parse_copied(body.get("copied", []), receipts.MAX_TOKEN_LENGTH),
        copy_failed=parse_failures(body.get("copy_failed", [])),
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
    """Which of these file ids, found in a shard's storage, does the server still know?

    ``held`` is the fileserver's inventory: for the files of the batch whose chunks its
    listing gave together, every chunk hash it holds (at most :data:`MAX_RECONCILE_CHUNKS`
    in a batch). The server drops the copies it recorded there that the listing lacks.
    """

    shard: str
    files: list[str]
    held: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "files": self.files, "held": self.held}


def parse_reconcile_query(body: dict[str, Any]) -> ReconcileQuery:
    files = body.get("files")
    if not isinstance(files, list) or len(files) > MAX_RECONCILE_FILES:
        raise ProtocolError(f"'files' must be a list of at most {MAX_RECONCILE_FILES} file ids")
    listed = [check_id(f, "file") for f in files]
    held = body.get("held", {})
    if not isinstance(held, dict) or not set(held) <= set(listed):
        raise ProtocolError("'held' must map file ids of 'files' to the chunk hashes held")
    if not all(isinstance(v, list) for v in held.values()) or sum(len(v) for v in held.values()) > MAX_RECONCILE_CHUNKS:
        raise ProtocolError(f"'held' must list at most {MAX_RECONCILE_CHUNKS} chunk hashes")
    return ReconcileQuery(
        check_name(body.get("shard"), "shard"),
        listed,
        {f: [check_chunk_hash(h) for h in v] for f, v in held.items()},
    )


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


MAX_REVOCATIONS_PAGE = 2000
"""Revocations in one heartbeat answer; a fileserver behind by more fetches the next pages at once.

At this limit, every field at its longest, a page serializes to about 330 KiB (a test pins it under
``wire.MAX_JSON_BODY``)."""
OPS = ("put", "get")


@dataclass(frozen=True)
class Revocation:
    """Revoke every ticket that matches: issued at or before ``before`` to ``holder`` for ``file`` and ``op``.

    A field left None matches any value, so one entry covers all the tickets of a file,
    of a holder, or of a holder for a file, however many were minted. ``exp`` is the
    latest expiry of the tickets it covers: after it the entry is dead weight and is dropped.

    SECURITY: a fileserver refuses a ticket any live entry matches.
    """

    before: int
    exp: int
    holder: str | None = None
    file: str | None = None
    op: str | None = None

    def covers(self, file: str, holder: str, op: str, iat: int) -> bool:
        return (
            iat <= self.before
            and (self.file is None or self.file == file)
            and (self.holder is None or self.holder == holder)
            and (self.op is None or self.op == op)
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"before": self.before, "exp": self.exp}
        for key in ("holder", "file", "op"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        return body


def parse_revocation(item: object) -> Revocation:
    if not isinstance(item, dict):
        raise ProtocolError("each revocation must be an object")
    holder, file, op = item.get("holder"), item.get("file"), item.get("op")
    if holder is None and file is None:
        raise ProtocolError("a revocation names a holder, a file or both")
    if op is not None and op not in OPS:
        raise ProtocolError(f"a revocation's 'op' must be one of {', '.join(OPS)}")
    return Revocation(
        before=_int(item, "before") or 0,
        exp=_int(item, "exp") or 0,
        holder=None if holder is None else check_id(holder, "holder"),
        file=None if file is None else check_id(file, "file"),
        op=op,
    )


@dataclass(frozen=True)
class RevocationPage:
    """The revocations after a fileserver's cursor: ``after`` is the cursor this page starts from.

    ``after`` differs from the cursor the fileserver sent when the server cannot continue from
    it (its database was replaced): the fileserver then drops what it holds and starts anew.
    """

    after: int = 0
    next: int = 0
    more: bool = False
    entries: list[Revocation] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "after": self.after,
            "next": self.next,
            "more": self.more,
            "entries": [e.to_json() for e in self.entries],
        }


def parse_revocation_page(value: object) -> RevocationPage:
    if not isinstance(value, dict):
        raise ProtocolError("'revocations' must be an object")
    entries, more = value.get("entries"), value.get("more")
    if not isinstance(entries, list) or len(entries) > MAX_REVOCATIONS_PAGE:
        raise ProtocolError(f"revocation 'entries' must be a list of at most {MAX_REVOCATIONS_PAGE}")
    if not isinstance(more, bool):
        raise ProtocolError("revocation 'more' must be a boolean")
    after, next_ = _int(value, "after") or 0, _int(value, "next") or 0
    if next_ < after:
        raise ProtocolError("revocation 'next' must not be before 'after'")
    return RevocationPage(after, next_, more, [parse_revocation(e) for e in entries])


@dataclass(frozen=True)
class HeartbeatAnswer:
    """The server's answer to a beat: the revocations after the fileserver's cursor, the files to purge, its clock.

    ``revoked_tickets`` stays in the JSON, always empty: tickets are revoked by
    file and holder in ``revocations`` now, since a list of every revoked ticket grew with
    what one user could mint.

    SECURITY: the revocations are what lets a fileserver refuse a ticket before it expires.
    """

    lease_seconds: float | None
    server_time: float | None
    revocations: RevocationPage | None = None
    """None from an older server, which sends none this fileserver can use: what it holds stays as it is."""
    purge: list[FilePurge] = field(default_factory=list)
    copy: list[CopyOrder] = field(default_factory=list)
    """Chunks to copy from another fileserver of the shard: repair of chunks below their copy count."""

    def to_json(self) -> dict[str, Any]:
        return {
            "lease_seconds": self.lease_seconds,
            "server_time": self.server_time,
            "revoked_tickets": [],
            "revocations": None if self.revocations is None else self.revocations.to_json(),
            "purge": [p.to_json() for p in self.purge],
            "copy": [o.to_json() for o in self.copy],
        }


def parse_heartbeat_answer(body: dict[str, Any]) -> HeartbeatAnswer:
    server_time = body.get("server_time")
    return HeartbeatAnswer(
        lease_seconds=_seconds(body.get("lease_seconds")),
        server_time=server_time if isinstance(server_time, int | float) and not isinstance(server_time, bool) else None,
        revocations=None if body.get("revocations") is None else parse_revocation_page(body["revocations"]),
        purge=parse_purges(body.get("purge", [])),
        copy=parse_orders(body.get("copy")),
    )
