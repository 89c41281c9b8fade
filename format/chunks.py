"""One chunk of a file: sealed under the file key, bound to its file and place, named by its hash.

A chunk is ``nonce (12) || AES-256-GCM(file key, nonce, plaintext, ad) (plaintext + 16-byte tag)``
with ``ad = "coffer chunk v1" || file id (16 bytes) || index (8 bytes, big-endian) || last (1 byte)``,
so a chunk that is moved to another position, another file, or that stands last when it is
not (truncation) fails to open. It is named by the SHA-256 of all its bytes.

SECURITY: every function here handles keys or plaintext; none of them logs.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import nacl.exceptions

from . import aead
from .aead import Bytes
from .errors import IntegrityError
from .sizes import CHUNK_OVERHEAD, NONCE_BYTES

CHUNK_AD = b"coffer chunk v1"


def chunk_ad(file_id: str, index: int, last: bool) -> bytes:
    """Return the associated data that binds a chunk to its file, its position, and whether it ends the file."""
    return CHUNK_AD + uuid.UUID(file_id).bytes + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def seal_chunk(key: bytes, file_id: str, index: int, last: bool, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Encrypt one chunk; *nonce* is for test vectors only (random otherwise)."""
    return aead.seal(nonce or os.urandom(NONCE_BYTES), plaintext, chunk_ad(file_id, index, last), key)


def open_chunk(key: bytes, file_id: str, index: int, last: bool, blob: bytes) -> bytearray:
    """Decrypt one chunk, or raise IntegrityError naming it."""
    if len(blob) < CHUNK_OVERHEAD:
        raise IntegrityError(f"chunk {index} is too short to be a Coffer chunk")
    try:
        return aead.open_sealed(blob, chunk_ad(file_id, index, last), key)
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            f"chunk {index} does not decrypt: it was altered, moved or truncated (or the file key is wrong)"
        ) from exc


def seal_chunk_into(
    key: bytes, file_id: str, index: int, last: bool, plaintext: Bytes, out: Bytes, nonce: bytes | None = None
) -> int:
    """Seal one chunk into the start of *out* (at least ``ciphertext_size`` bytes); return the chunk's length.

    The bytes are exactly :func:`seal_chunk`'s; *nonce* is for tests only (random otherwise).
    """
    return aead.seal_into(nonce or os.urandom(NONCE_BYTES), plaintext, chunk_ad(file_id, index, last), key, out)


def open_chunk_into(key: bytes, file_id: str, index: int, last: bool, blob: Bytes, out: Bytes) -> int:
    """Decrypt one chunk into the start of *out*; return the plaintext length, or raise IntegrityError naming it.

    What :func:`open_chunk` checks, with one libsodium call writing into the caller's
    buffer. SECURITY: on IntegrityError the plaintext part of *out* is zeroed; use none of it.
    """
    if aead.byte_view(blob).nbytes < CHUNK_OVERHEAD:
        raise IntegrityError(f"chunk {index} is too short to be a Coffer chunk")
    try:
        return aead.open_into(blob, chunk_ad(file_id, index, last), key, out)
    except nacl.exceptions.CryptoError as exc:
        raise IntegrityError(
            f"chunk {index} does not decrypt: it was altered, moved or truncated (or the file key is wrong)"
        ) from exc


def chunk_hash(blob: Bytes) -> str:
    """Return a chunk's name: the SHA-256 of all its sealed bytes, in hex."""
    return hashlib.sha256(blob).hexdigest()
