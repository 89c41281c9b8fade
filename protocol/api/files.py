"""A file's record: the body that creates it, the record the server answers, and the owner's listing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError
from ..ids import check_chunk_hash, check_create_id, check_name
from ..wire import MAX_CHUNK_SIZE, MAX_METADATA_BYTES
from .fields import (
    MAX_LIFETIME,
    MIN_LIFETIME,
    answer_field,
    bounded_int,
    key_bytes,
    list_of,
    object_of,
    opaque,
    seconds,
)
from .pages import MAX_PAGE_SIZE

MAX_FILE_SIZE = 1 << 40
MAX_CHUNK_COUNT = 1 << 24
MAX_SEALED_KEY_BYTES = 256
KEY_COMMITMENT_BYTES = 32
MAX_LISTED_FILES = 1_000_000
"""Records in one listing the client accepts: ten times the default file quota."""
STATES = ("pending", "complete")
ACCESS = ("owner", "shared")


FILE_FORMATS = frozenset({1})
"""The encryption format versions a file record may declare; the server stores the bytes, never reads them."""


def file_format(body: Mapping[str, Any]) -> int:
    """Return the record's format version: one this server knows, or 1 from a client that predates the field."""
    value = body.get("format", 1)
    if type(value) is not int or value not in FILE_FORMATS:
        known = ", ".join(str(v) for v in sorted(FILE_FORMATS))
        raise ProtocolError(
            f"'format' must be a file format version this server knows ({known}), not {str(value)[:20]!r}: "
            "a newer client wrote it, or the request is malformed; upgrade the server to store it",
            code="unknown_format",
        )
    return value


@dataclass(frozen=True)
class CreateFile:
    """``POST /api/files``: a pending file's layout, its encrypted metadata and the key sealed to its owner."""

    shard: str
    size: int
    chunk_size: int
    chunk_count: int
    metadata: str
    sealed_key: str = ""
    key_commitment: str = ""
    expires_in: float | None = None
    """Seconds until the file expires; None asks for the server's maximum retention."""
    format_version: int = 1
    """The encryption format of the file's bytes (``format`` on the wire), which the server stores unread."""
    create_id: str = ""
    """The client's random id for this one create (:func:`~coffer.protocol.ids.new_create_id`): the server makes
    one file per owner and create id, so a create resent after a lost answer gets the same file back."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "shard": self.shard,
            "size": self.size,
            "chunk_size": self.chunk_size,
            "chunk_count": self.chunk_count,
            "metadata": self.metadata,
            "format": self.format_version,
        }
        if self.sealed_key:
            body["sealed_key"] = self.sealed_key
        if self.key_commitment:
            body["key_commitment"] = self.key_commitment
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if self.create_id:
            body["create_id"] = self.create_id
        return body

    @classmethod
    def parse(cls, body: Mapping[str, Any], *, max_chunk_size: int = MAX_CHUNK_SIZE) -> CreateFile:
        """Check every field the server can check without its database, in the order it always has."""
        shard = check_name(body.get("shard"), "shard")
        size = bounded_int(body, "size", 1, MAX_FILE_SIZE)
        chunk_size = bounded_int(body, "chunk_size", 1, max_chunk_size)
        chunk_count = bounded_int(body, "chunk_count", 1, MAX_CHUNK_COUNT)
        if not chunk_count <= size <= chunk_count * chunk_size or math.ceil(size / chunk_size) > chunk_count:
            raise ProtocolError("size, chunk_size and chunk_count do not agree", code="invalid_layout")
        metadata = opaque(body, "metadata", MAX_METADATA_BYTES)
        sealed_key = opaque(body, "sealed_key", MAX_SEALED_KEY_BYTES) if "sealed_key" in body else ""
        key_commitment = ""
        if "key_commitment" in body:
            key_bytes(body["key_commitment"], "key_commitment", KEY_COMMITMENT_BYTES)
            key_commitment = str(body["key_commitment"])
        return cls(
            shard=shard,
            size=size,
            chunk_size=chunk_size,
            chunk_count=chunk_count,
            metadata=metadata,
            sealed_key=sealed_key,
            key_commitment=key_commitment,
            format_version=file_format(body),
            expires_in=seconds(body, "expires_in", MIN_LIFETIME, MAX_LIFETIME),
            create_id=check_create_id(body["create_id"]) if "create_id" in body else "",
        )


@dataclass(frozen=True)
class ChunkEntry:
    """One chunk of a complete file, in order, with the fileservers known to hold it."""

    index: int
    hash: str
    size: int
    fileservers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "hash": self.hash, "size": self.size, "fileservers": list(self.fileservers)}

    @classmethod
    def parse(cls, item: object) -> ChunkEntry:
        body = object_of(item, "each chunk")
        servers = list_of(body.get("fileservers"), "a chunk's 'fileservers'", MAX_CHUNK_LOCATIONS)
        return cls(
            index=answer_field(body, "index", int),
            hash=answer_field(body, "hash", str),
            size=answer_field(body, "size", int),
            fileservers=tuple(str(s) for s in servers),
        )


MAX_CHUNK_LOCATIONS = 64
"""Fileservers one chunk may be listed on: copies across every cluster that serves its shard."""


@dataclass(frozen=True)
class FileRecord:
    """A file as the server shows it: to its owner (``access`` owner) or to a recipient (shared).

    SECURITY: a recipient's record carries ``share_key`` (the box sealed to them) and an
    empty ``sealed_key``; the client opens whichever its access says.
    """

    id: str
    owner: str
    shard: str
    size: int
    chunk_count: int
    chunk_size: int
    metadata: str
    sealed_key: str
    state: str
    created_at: float
    expires_at: float
    completed_at: float | None
    key_commitment: str | None
    access: str
    share_key: str | None = None
    owner_public_key: str | None = None
    chunks: tuple[ChunkEntry, ...] | None = None
    """The chunk list, on a complete file's own record only (not in listings)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields a newer server sent that this version does not know, kept so the record round-trips."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "owner": self.owner,
            "shard": self.shard,
            "size": self.size,
            "chunk_count": self.chunk_count,
            "chunk_size": self.chunk_size,
            "metadata": self.metadata,
            "sealed_key": self.sealed_key,
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "completed_at": self.completed_at,
            "key_commitment": self.key_commitment,
            "access": self.access,
        }
        if self.share_key is not None:
            body["share_key"] = self.share_key
        if self.owner_public_key is not None:
            body["owner_public_key"] = self.owner_public_key
        if self.chunks is not None:
            body["chunks"] = [c.to_json() for c in self.chunks]
        return {**self.extra, **body}

    @classmethod
    def parse(cls, value: object) -> FileRecord:
        body = object_of(value, "a file record")
        state, access = body.get("state"), body.get("access")
        if state not in STATES or access not in ACCESS:
            raise ProtocolError("the server's file record has an unknown state or access", code="invalid_answer")
        chunks = None
        if body.get("chunks") is not None:
            count = answer_field(body, "chunk_count", int)
            listed = list_of(body["chunks"], "'chunks'", min(count, MAX_CHUNK_COUNT))
            chunks = tuple(ChunkEntry.parse(c) for c in listed)
        return cls(
            id=answer_field(body, "id", str),
            owner=answer_field(body, "owner", str),
            shard=answer_field(body, "shard", str),
            size=answer_field(body, "size", int),
            chunk_count=answer_field(body, "chunk_count", int),
            chunk_size=answer_field(body, "chunk_size", int),
            metadata=answer_field(body, "metadata", str),
            sealed_key=answer_field(body, "sealed_key", str),
            state=state,
            created_at=answer_field(body, "created_at", (int, float)),
            expires_at=answer_field(body, "expires_at", (int, float)),
            completed_at=answer_field(body, "completed_at", (int, float), optional=True),
            key_commitment=answer_field(body, "key_commitment", str, optional=True),
            access=access,
            share_key=answer_field(body, "share_key", str, optional=True),
            owner_public_key=answer_field(body, "owner_public_key", str, optional=True),
            chunks=chunks,
            extra={k: v for k, v in body.items() if k not in _RECORD_FIELDS},
        )


_RECORD_FIELDS = frozenset(FileRecord.__dataclass_fields__) - {"extra"}


def parse_file_list(value: object) -> list[FileRecord]:
    """Read the bare list ``GET /api/files`` answers a request that asks for no page (as every server before pages)."""
    return [FileRecord.parse(item) for item in list_of(value, "the file listing", MAX_LISTED_FILES)]


@dataclass(frozen=True)
class FileFilter:
    """``GET /api/files?state=&shard=``: only the files in one state and/or one shard (None: any)."""

    state: str | None = None
    shard: str | None = None

    def to_params(self) -> dict[str, str]:
        return {k: v for k, v in (("state", self.state), ("shard", self.shard)) if v is not None}

    @classmethod
    def parse(cls, params: Mapping[str, object]) -> FileFilter:
        state, shard = params.get("state"), params.get("shard")
        if state is not None and (not isinstance(state, str) or state not in STATES):
            raise ProtocolError(f"'state' must be one of {', '.join(STATES)}", code="invalid_state")
        return cls(state=state, shard=check_name(shard, "shard") if shard is not None else None)


@dataclass(frozen=True)
class FilePage:
    """``GET /api/files?limit=&after=``: one page of records, oldest first, and the cursor of the next (None: done)."""

    files: tuple[FileRecord, ...]
    next: str | None

    def to_json(self) -> dict[str, Any]:
        return {"files": [f.to_json() for f in self.files], "next": self.next}

    @classmethod
    def parse(cls, value: object) -> FilePage:
        """Read a page; a bare list is the whole listing from a server that predates pages."""
        if isinstance(value, list):
            return cls(files=tuple(parse_file_list(value)), next=None)
        body = object_of(value, "a page of files")
        listed = list_of(body.get("files"), "the page's 'files'", MAX_PAGE_SIZE)
        return cls(
            files=tuple(FileRecord.parse(item) for item in listed),
            next=answer_field(body, "next", str, optional=True),
        )


MAX_FINALIZE_CHUNKS = 16384
"""Chunks one finalize body may list: more than fit in a 1 MiB body, so never the binding limit."""
MAX_RECEIPTS_PER_CHUNK = 8


@dataclass(frozen=True)
class FinalizedChunk:
    """One chunk as the uploader hands it in: its place, hash, size and the receipts of the fileservers holding it."""

    index: int
    hash: str
    size: int
    receipts: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "hash": self.hash, "size": self.size, "receipts": list(self.receipts)}

    @classmethod
    def parse(cls, item: Mapping[str, Any], index: int, *, chunk_size: int) -> FinalizedChunk:
        """Check the chunk expected at *index*: its size within the file's chunk size, its receipts, its hash."""
        size = bounded_int(item, "size", 1, chunk_size)
        proofs = item.get("receipts")
        if not isinstance(proofs, list) or not 0 < len(proofs) <= MAX_RECEIPTS_PER_CHUNK:
            raise ProtocolError(
                f"chunk {index}: 'receipts' must hold 1 to {MAX_RECEIPTS_PER_CHUNK} receipts", code="invalid_chunks"
            )
        return cls(index=index, hash=check_chunk_hash(item.get("hash")), size=size, receipts=tuple(proofs))


@dataclass(frozen=True)
class Finalize:
    """``POST /api/files/{id}/finalize``: every chunk with its receipts, and the metadata with the real sizes."""

    chunks: tuple[FinalizedChunk, ...]
    metadata: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"chunks": [c.to_json() for c in self.chunks]}
        if self.metadata is not None:
            body["metadata"] = self.metadata
        return body

    @classmethod
    def parse(cls, body: Mapping[str, Any], *, size: int, chunk_size: int, chunk_count: int) -> Finalize:
        """Check a finalize body against the pending file's layout, which only the server knows.

        The list must hold exactly *chunk_count* chunks, so the file's own chunk count is
        its limit (at most ``MAX_CHUNK_COUNT``). The server looks the file up before it
        parses, so a missing or complete file is still reported before a bad body; the
        checks run in the order the server always made them: the count, then each chunk
        by index, then the sum of sizes, then the metadata.
        """
        items = body.get("chunks")
        if not isinstance(items, list) or len(items) != chunk_count:
            raise ProtocolError(f"'chunks' must list all {chunk_count} chunks of the file", code="invalid_chunks")
        chunks = []
        for expected, item in enumerate(sorted(items, key=_claimed_index)):
            if not isinstance(item, dict) or item.get("index") != expected:
                raise ProtocolError(
                    "chunk indexes must run from 0 to chunk_count - 1, once each", code="invalid_chunks"
                )
            chunks.append(FinalizedChunk.parse(item, expected, chunk_size=chunk_size))
        if sum(c.size for c in chunks) != size:
            raise ProtocolError("the chunk sizes do not add up to the file size", code="invalid_chunks")
        metadata = opaque(body, "metadata", MAX_METADATA_BYTES) if "metadata" in body else None
        return cls(chunks=tuple(chunks), metadata=metadata)


def _claimed_index(item: object) -> int:
    """Sort a finalize body's chunks by the index they claim; anything without an integer one sorts first."""
    index = item.get("index") if isinstance(item, dict) else None
    return index if isinstance(index, int) else -1


MAX_SHARDS_LISTED = 100_000
"""Shards in ``GET /api/shards``: the server caps no count of shards."""


@dataclass(frozen=True)
class ShardSummary:
    """``GET /api/shards``: one shard, its description, how many live fileservers read and write it, its copies."""

    name: str
    description: str
    readers: int
    writers: int
    copies: int = 1
    """Fileservers an upload stores each chunk on: the server refuses a finalize with fewer receipts."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "readers": self.readers,
            "writers": self.writers,
            "copies": self.copies,
        }

    @classmethod
    def parse(cls, value: object) -> ShardSummary:
        body = object_of(value, "a shard")
        return cls(
            name=answer_field(body, "name", str),
            description=answer_field(body, "description", str),
            readers=answer_field(body, "readers", int),
            writers=answer_field(body, "writers", int),
            copies=answer_field(body, "copies", int, optional=True) or 1,
        )


def parse_shard_summaries(value: object) -> list[ShardSummary]:
    """Read ``GET /api/shards``: every shard, by name."""
    return [ShardSummary.parse(s) for s in list_of(value, "the shard listing", MAX_SHARDS_LISTED)]
