"""A file as the client sees it before moving a byte: its record opened and checked.

The server's record of a complete file (chunk list, sizes, holders) is not
authenticated; the metadata sealed under the file key is. :func:`check_layout`
holds the one to the other, so a record whose chunk list was shortened, padded or
resized fails before any transfer, and what is left to catch (chunks swapped in
place) fails to open at its position in ``crypto.open_chunk``. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.encoding import DecodeError, b64decode
from protocol.errors import ProtocolError
from protocol.ids import check_chunk_hash

from . import crypto, resume


@dataclass(frozen=True)
class OpenedFile:
    """A file record with its key and metadata opened."""

    record: dict[str, Any]
    key: bytes = field(repr=False)  # SECURITY
    metadata: crypto.Metadata


def open_record(record: dict[str, Any], keys: crypto.UserKeys) -> OpenedFile:
    """Open the file key (with the user's private key) and the metadata (with the file key)."""
    try:
        sealed = b64decode(record.get("sealed_key") or "")
        blob = b64decode(record["metadata"])
    except DecodeError as exc:
        raise crypto.IntegrityError(f"the record of file {record.get('id')} carries malformed keys") from exc
    key = crypto.open_file_key(keys, sealed)
    return OpenedFile(record, key, crypto.open_metadata(key, str(record["id"]), blob))


@dataclass(frozen=True)
class ChunkRef:
    index: int
    hash: str
    size: int
    """Ciphertext bytes."""
    holders: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """A complete file's chunks, checked against its sealed metadata."""

    file_id: str
    shard: str
    size: int
    """Plaintext bytes."""
    plain_chunk_size: int
    chunks: tuple[ChunkRef, ...]

    def offset(self, index: int) -> int:
        return index * self.plain_chunk_size

    def plain_length(self, index: int) -> int:
        return min(self.plain_chunk_size, self.size - self.offset(index))

    def digest(self) -> str:
        return resume.layout_digest([(c.index, c.hash, c.size) for c in self.chunks])


def check_layout(record: Mapping[str, Any], metadata: crypto.Metadata) -> Layout:
    """Hold the server's record to the sealed metadata; raise IntegrityError where they disagree.

    The metadata is authenticated under the file key, the record is not: a record whose
    chunk count, sizes or chunk list do not fit the metadata was altered (or is damaged).
    """
    file_id = str(record["id"])
    count, cipher_chunk = record["chunk_count"], record["chunk_size"]
    plain_chunk = cipher_chunk - crypto.CHUNK_OVERHEAD
    if plain_chunk < 1 or metadata.size < 0:
        raise crypto.IntegrityError(f"the server's record of file {file_id} has an impossible chunk size")
    expected = crypto.chunk_count(metadata.size, plain_chunk)
    if count != expected or record["size"] != metadata.size + crypto.CHUNK_OVERHEAD * expected:
        raise crypto.IntegrityError(
            f"the server's record of file {file_id} ({count} chunks, {record['size']} bytes) does not match its "
            f"sealed metadata ({expected} chunks of a {metadata.size}-byte file): the record was altered"
        )
    listed = record.get("chunks")
    if not isinstance(listed, list) or len(listed) != expected:
        have = len(listed) if isinstance(listed, list) else 0
        raise crypto.IntegrityError(
            f"the server's record of file {file_id} lists {have} chunks where its sealed metadata implies "
            f"{expected}: chunks were dropped or added"
        )
    layout = Layout(file_id, str(record["shard"]), metadata.size, plain_chunk, ())
    chunks = []
    for position, item in enumerate(listed):
        if item.get("index") != position:
            raise crypto.IntegrityError(f"the server's record of file {file_id} lists its chunks out of sequence")
        size = layout.plain_length(position) + crypto.CHUNK_OVERHEAD
        if item.get("size") != size:
            raise crypto.IntegrityError(
                f"chunk {position} of file {file_id} is recorded as {item.get('size')} bytes but must be {size}: "
                "the record was altered (chunks reordered, dropped or replaced)"
            )
        try:
            chunk_hash = check_chunk_hash(item.get("hash"))
        except ProtocolError as exc:
            raise crypto.IntegrityError(f"chunk {position} of file {file_id} has a malformed hash") from exc
        chunks.append(ChunkRef(position, chunk_hash, size, tuple(str(h) for h in item.get("fileservers", ()))))
    return Layout(layout.file_id, layout.shard, layout.size, plain_chunk, tuple(chunks))


def safe_name(name: str, fallback: str) -> str:
    """Return the last component of a name from metadata, never a path. SECURITY: it is remote input."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "")
    return base if base not in ("", ".", "..") else fallback
