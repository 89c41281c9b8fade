"""What a file is, sealed under its key: the server sees none of it.

Metadata is canonical JSON (``v``, name, size, type, mtime, sha256 of the plaintext), sealed
like a chunk under the file key with ``ad = "coffer metadata v1" || file id``.

SECURITY: every function here handles keys or plaintext; none of them logs.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any

import nacl.exceptions

from coffer.protocol.encoding import canonical_json

from . import aead
from .errors import IntegrityError
from .sizes import CHUNK_OVERHEAD, NONCE_BYTES

VERSION = 1
"""The version inside sealed metadata (``v``)."""
METADATA_AD = b"coffer metadata v1"
_SHA256_HEX = re.compile(r"\A[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class Metadata:
    """What a file is, sealed under its key: the server sees none of it."""

    name: str
    size: int
    type: str
    mtime: float
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "name": self.name,
            "size": self.size,
            "type": self.type,
            "mtime": self.mtime,
            "sha256": self.sha256,
        }


def seal_metadata(key: bytes, file_id: str, metadata: Metadata, nonce: bytes | None = None) -> bytes:
    """Seal *metadata* under the file key, bound to *file_id*; *nonce* is for test vectors only."""
    ad = METADATA_AD + uuid.UUID(file_id).bytes
    return aead.seal(nonce or os.urandom(NONCE_BYTES), canonical_json(metadata.to_json()), ad, key)


def open_metadata(key: bytes, file_id: str, blob: bytes) -> Metadata:
    """Open and check sealed metadata; IntegrityError if it does not open or is not well formed."""
    ad = METADATA_AD + uuid.UUID(file_id).bytes
    if len(blob) < CHUNK_OVERHEAD:
        raise IntegrityError("the file's metadata is too short to be sealed metadata")
    try:
        data = json.loads(aead.open_sealed(blob, ad, key))
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise IntegrityError("the file's metadata does not decrypt: it was altered, or the key is wrong") from exc
    # Whoever holds the file key (a sharer, later) wrote this: check its shape like any input.
    if not isinstance(data, dict):
        raise IntegrityError("the file's metadata is not a JSON object")
    if type(data.get("v")) is not int or data["v"] != VERSION:
        raise IntegrityError(f"unknown metadata version {data.get('v')!r}: this client reads version {VERSION}")
    name, size, kind, mtime, digest = (data.get(k) for k in ("name", "size", "type", "mtime", "sha256"))
    if not (isinstance(name, str) and isinstance(kind, str) and type(size) is int and size >= 0):
        raise IntegrityError("the file's metadata has a malformed name, type or size")
    if isinstance(mtime, bool) or not isinstance(mtime, (int, float)) or not math.isfinite(mtime):
        raise IntegrityError("the file's metadata has a malformed mtime")
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
        raise IntegrityError("the file's metadata has a malformed sha256")
    return Metadata(name, size, kind, float(mtime), digest)


def safe_name(name: str, fallback: str) -> str:
    """Return the last component of a name from metadata, never a path. SECURITY: it is remote input."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\0", "")
    return base if base not in ("", ".", "..") else fallback


def relative_path(name: str) -> tuple[str, ...]:
    """Return the components of a name that holds a relative path (a file uploaded with its directory).

    Such a name has ``/`` between its components; a client restoring the tree writes it below the
    directory the user chose. SECURITY: the name is remote input (whoever holds the file key wrote
    it, a sharer included), so an absolute name, an empty, ``.`` or ``..`` component, or a backslash
    or NUL anywhere is refused: each could put the file outside that directory.
    """
    parts = tuple(name.split("/"))
    if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise IntegrityError(
            f"the file's name {name!r} is not a safe relative path (it is absolute, or has an empty, '.' or '..' "
            "part, a backslash or a NUL): refusing to write it; whoever holds the file's key chose that name, "
            "so download it with -o FILE to name it yourself"
        )
    return parts
