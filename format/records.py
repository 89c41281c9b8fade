"""A server's file record as a client reads it before moving a byte: opened and checked.

The server's record of a complete file (chunk list, sizes, holders) is not
authenticated; the metadata sealed under the file key is. :func:`check_layout`
holds the one to the other, so a record whose chunk list was shortened, padded or
resized fails before any transfer, and what is left to catch (chunks swapped in
place) fails to open at its position in ``chunks.open_chunk``. Before any of that,
:func:`open_record` checks the record's format version, then opens the file key (the
owner's sealed key, or a recipient's share box) and holds it to the record's key
commitment. Pure functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coffer.protocol.encoding import DecodeError, b64decode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import check_chunk_hash, check_id

from . import shares, sizes
from .errors import IntegrityError
from .keys import UserKeys, check_key_commitment, open_file_key
from .metadata import Metadata, open_metadata
from .version import record_version

OwnerCheck = Callable[[str, bytes], None]
"""Checks that a public key the server gave for a user is theirs (the pins); raises KeyChanged otherwise."""


@dataclass(frozen=True)
class OpenedFile:
    """A file record with its key and metadata opened."""

    record: dict[str, Any]
    key: bytes = field(repr=False)  # SECURITY
    metadata: Metadata

    @property
    def file_id(self) -> str:
        return str(self.record["id"])


def open_record(record: dict[str, Any], keys: UserKeys, check_owner: OwnerCheck | None = None) -> OpenedFile:
    """Open the file key and, once it matches the record's commitment, the metadata.

    The owner's record carries the key sealed to the owner's public key. A recipient's
    (``access: "shared"``) carries a box from the owner instead, opened with the owner's
    public key once *check_owner* accepted it. SECURITY: without *check_owner* a shared
    record is refused, since the server could otherwise name any key as the owner's.
    """
    file_id = _file_id(record)
    record_version(record)
    if record.get("access") != "shared":
        key = open_file_key(keys, _decoded(record, "sealed_key", file_id))
        return open_with_key(record, key, "your sealed file key")
    owner = record.get("owner")
    if check_owner is None or not isinstance(owner, str) or not owner:
        raise IntegrityError(f"file {file_id} is shared with you, but its owner's key cannot be checked")
    owner_public = _decoded(record, "owner_public_key", file_id)
    check_owner(owner, owner_public)  # SECURITY: the pinned key, before it authenticates anything
    key = shares.open_share_key(keys, owner_public, file_id, _decoded(record, "share_key", file_id))
    return open_with_key(record, key, f"the key {owner} shared with you")


def open_with_key(record: dict[str, Any], key: bytes, what: str) -> OpenedFile:
    """Check *key* against the record's key commitment, then open the metadata with it.

    SECURITY: the commitment comes first, so a key that is not the file's is named as
    such (*what* names it) before it opens anything, and a record without one is refused.
    """
    file_id = _file_id(record)
    record_version(record)
    commitment = _decoded(record, "key_commitment", file_id)
    blob = _decoded(record, "metadata", file_id)
    if not commitment:
        raise IntegrityError(
            f"file {file_id} was uploaded before Coffer recorded key commitments, so its key cannot be checked: "
            "its owner must upload it again (and remove the old copy)"
        )
    check_key_commitment(key, commitment, what)
    return OpenedFile(record, key, open_metadata(key, file_id, blob))


def _decoded(record: Mapping[str, Any], name: str, file_id: str) -> bytes:
    try:
        return b64decode(record.get(name) or "")
    except DecodeError as exc:
        raise IntegrityError(f"the record of file {file_id} carries a malformed {name}") from exc


def _file_id(record: Mapping[str, Any]) -> str:
    try:
        return check_id(record.get("id"), "file_id")
    except ProtocolError as exc:
        raise IntegrityError("the server sent a file record whose id is not a UUID") from exc


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
        return sizes.chunk_offset(index, self.plain_chunk_size)

    def plain_length(self, index: int) -> int:
        return sizes.chunk_plain_length(index, self.plain_chunk_size, self.size)

    def listing(self) -> list[tuple[int, str, int]]:
        """Return the ``(index, hash, size)`` of every chunk: what tells one layout from another."""
        return [(c.index, c.hash, c.size) for c in self.chunks]


def check_layout(record: Mapping[str, Any], metadata: Metadata) -> Layout:
    """Hold the server's record to the sealed metadata; raise IntegrityError where they disagree.

    The metadata is authenticated under the file key, the record is not: a record whose
    chunk count, sizes or chunk list do not fit the metadata was altered (or is damaged).
    """
    file_id = str(record["id"])
    record_version(record)
    count, cipher_chunk = record["chunk_count"], record["chunk_size"]
    plain_chunk = sizes.plain_size(cipher_chunk)
    if plain_chunk < 1 or metadata.size < 0:
        raise IntegrityError(f"the server's record of file {file_id} has an impossible chunk size")
    expected = sizes.chunk_count(metadata.size, plain_chunk)
    if count != expected or record["size"] != sizes.file_ciphertext_size(metadata.size, expected):
        raise IntegrityError(
            f"the server's record of file {file_id} ({count} chunks, {record['size']} bytes) does not match its "
            f"sealed metadata ({expected} chunks of a {metadata.size}-byte file): the record was altered"
        )
    listed = record.get("chunks")
    if not isinstance(listed, list) or len(listed) != expected:
        have = len(listed) if isinstance(listed, list) else 0
        raise IntegrityError(
            f"the server's record of file {file_id} lists {have} chunks where its sealed metadata implies "
            f"{expected}: chunks were dropped or added"
        )
    layout = Layout(file_id, str(record["shard"]), metadata.size, plain_chunk, ())
    chunks = []
    for position, item in enumerate(listed):
        if item.get("index") != position:
            raise IntegrityError(f"the server's record of file {file_id} lists its chunks out of sequence")
        size = sizes.ciphertext_size(layout.plain_length(position))
        if item.get("size") != size:
            raise IntegrityError(
                f"chunk {position} of file {file_id} is recorded as {item.get('size')} bytes but must be {size}: "
                "the record was altered (chunks reordered, dropped or replaced)"
            )
        try:
            chunk_hash = check_chunk_hash(item.get("hash"))
        except ProtocolError as exc:
            raise IntegrityError(f"chunk {position} of file {file_id} has a malformed hash") from exc
        chunks.append(ChunkRef(position, chunk_hash, size, tuple(str(h) for h in item.get("fileservers", ()))))
    return Layout(layout.file_id, layout.shard, layout.size, plain_chunk, tuple(chunks))
