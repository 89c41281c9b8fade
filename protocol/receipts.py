"""Chunk receipts: a fileserver's signed statement that it stored a chunk.

The client collects one receipt per chunk as it uploads and hands them all in
when it finalizes the file; the server checks each against the public key the
fileserver registered. This is how the server learns chunk locations:

- no fileserver-to-server call per chunk, so the data path never waits on the server;
- the server learns every location at the moment it marks the file complete,
  with no race between a late report and the finalize;
- the client cannot invent a location (it cannot sign as a fileserver), and a
  fileserver signs only what it has hashed, fsynced and renamed into place.

Fields: ``v``, ``fs`` (fileserver id), ``shard``, ``file``, ``chunk`` (hash),
``size`` (bytes), ``iat`` (Unix seconds). A receipt is a few hundred characters:
:data:`MAX_TOKEN_LENGTH` fits the largest one (a test pins it), and no more, since a
finalize body carries one per chunk and copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import PROTOCOL_VERSION
from .errors import ProtocolError
from .ids import check_chunk_hash, check_id, check_name
from .signing import MAX_FIGURE, SigningKey, open_token, peek_token

KIND = "receipt"
MAX_TOKEN_LENGTH = 512


class ReceiptInvalid(ProtocolError):
    code = "receipt_invalid"
    status = 400


@dataclass(frozen=True)
class Receipt:
    fs: str
    shard: str
    file: str
    chunk: str
    size: int
    iat: int

    def payload(self) -> dict[str, Any]:
        return {
            "v": PROTOCOL_VERSION,
            "fs": self.fs,
            "shard": self.shard,
            "file": self.file,
            "chunk": self.chunk,
            "size": self.size,
            "iat": self.iat,
        }


def sign(key: SigningKey, receipt: Receipt) -> str:
    return key.sign(KIND, receipt.payload(), max_length=MAX_TOKEN_LENGTH)


def fileserver_of(token: str) -> str:
    """Return the fileserver id a receipt claims, to look up the key that must have signed it."""
    try:
        return check_id(peek_token(token, MAX_TOKEN_LENGTH).get("fs"), "fileserver_id")
    except ProtocolError as exc:
        raise ReceiptInvalid(f"malformed receipt: {exc.message}") from exc


def verify(token: str, public_key: bytes) -> Receipt:
    """Return the receipt in *token* if *public_key* signed it."""
    try:
        payload = open_token(KIND, token, [public_key], MAX_TOKEN_LENGTH)
        if type(payload.get("v")) is not int or payload.get("v") != PROTOCOL_VERSION:
            raise ReceiptInvalid("unsupported receipt version")
        size, iat = payload.get("size"), payload.get("iat")
        if type(size) is not int or type(iat) is not int or not (0 <= size <= MAX_FIGURE and 0 <= iat <= MAX_FIGURE):
            raise ReceiptInvalid("receipt size and time must be non-negative 64-bit integers")
        return Receipt(
            fs=check_id(payload.get("fs"), "fileserver_id"),
            shard=check_name(payload.get("shard"), "shard"),
            file=check_id(payload.get("file"), "file_id"),
            chunk=check_chunk_hash(payload.get("chunk")),
            size=size,
            iat=iat,
        )
    except ReceiptInvalid:
        raise
    except ProtocolError as exc:
        raise ReceiptInvalid(f"receipt rejected: {exc.message}") from exc
