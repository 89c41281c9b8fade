"""AES-256-GCM through libsodium, written straight into the caller's buffers.

The chunk and metadata layout is ``nonce (12) || ciphertext || tag (16)``. PyNaCl's public
binding would copy every 8 MiB chunk three times; these call the same libsodium function
through PyNaCl's own cffi handle, into buffers the caller keeps and reuses.

SECURITY: every function here handles keys or plaintext; none of them logs.
"""

from __future__ import annotations

import nacl.exceptions
from nacl._sodium import ffi as _ffi  # type: ignore[import-not-found]  # PyNaCl's own libsodium handle
from nacl._sodium import lib as _lib

from .errors import CryptoUnavailable
from .sizes import CHUNK_OVERHEAD, NONCE_BYTES, TAG_BYTES

_NO_AES = (
    "this computer's processor lacks the AES instructions Coffer's chunk encryption (AES-256-GCM) needs; "
    "use a machine with AES-NI (x86-64) or the ARMv8 crypto extensions"
)


def require_aes() -> None:
    """Refuse to run on a processor without AES instructions, with a message that says so, not a crash."""
    if not _lib.crypto_aead_aes256gcm_is_available():
        raise CryptoUnavailable(_NO_AES)


def seal(nonce: bytes, plaintext: bytes, ad: bytes, key: bytes) -> bytes:
    """Return ``nonce || AES-256-GCM(plaintext) || tag``, the chunk written once, straight into its buffer.

    PyNaCl's public binding zero-fills a buffer, encrypts into it, copies it out, and
    the nonce is then prepended with one more copy: three passes over every 8 MiB
    chunk. Calling the same libsodium function through PyNaCl's own cffi handle with
    the output placed after the nonce leaves one copy (bytearray → bytes).
    """
    require_aes()
    out = bytearray(NONCE_BYTES + len(plaintext) + TAG_BYTES)
    out[:NONCE_BYTES] = nonce
    written = _ffi.new("unsigned long long *")
    rc = _lib.crypto_aead_aes256gcm_encrypt(
        _ffi.from_buffer(out) + NONCE_BYTES,
        written,
        plaintext,
        len(plaintext),
        ad,
        len(ad),
        _ffi.NULL,
        nonce,
        key,
    )
    if rc != 0 or written[0] != len(plaintext) + TAG_BYTES:
        raise nacl.exceptions.CryptoError("AES-256-GCM encryption failed")
    return bytes(out)


def open_sealed(blob: bytes, ad: bytes, key: bytes) -> bytearray:
    """Open ``nonce || ciphertext || tag`` in one pass, reading *blob* in place; CryptoError if it does not verify."""
    require_aes()
    out = bytearray(len(blob) - CHUNK_OVERHEAD)
    written = _ffi.new("unsigned long long *")
    source = _ffi.from_buffer(blob)
    rc = _lib.crypto_aead_aes256gcm_decrypt(
        _ffi.from_buffer(out) if out else _ffi.NULL,
        written,
        _ffi.NULL,
        source + NONCE_BYTES,
        len(blob) - NONCE_BYTES,
        ad,
        len(ad),
        source,
        key,
    )
    if rc != 0:
        raise nacl.exceptions.CryptoError("the chunk does not authenticate")
    return out


Bytes = bytes | bytearray | memoryview
"""Anything a chunk can be read from or written into: the ``…_into`` functions take views of reused buffers."""


def byte_view(data: Bytes) -> memoryview:
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def seal_into(nonce: bytes, plaintext: Bytes, ad: bytes, key: bytes, out: Bytes) -> int:
    """Write ``nonce || AES-256-GCM(plaintext) || tag`` at the start of *out*; return its length.

    The same single libsodium call as :func:`seal`, into a buffer the caller keeps
    and reuses, so sealing a chunk allocates (and page-faults) nothing.
    """
    require_aes()
    source, target = byte_view(plaintext), byte_view(out)
    size = NONCE_BYTES + source.nbytes + TAG_BYTES
    if target.readonly or target.nbytes < size:
        raise ValueError(f"sealing {source.nbytes} bytes needs a writable buffer of {size} bytes")
    target[:NONCE_BYTES] = nonce
    written = _ffi.new("unsigned long long *")
    rc = _lib.crypto_aead_aes256gcm_encrypt(
        _ffi.from_buffer(target) + NONCE_BYTES,
        written,
        _ffi.from_buffer(source),
        source.nbytes,
        ad,
        len(ad),
        _ffi.NULL,
        nonce,
        key,
    )
    if rc != 0 or written[0] != source.nbytes + TAG_BYTES:
        raise nacl.exceptions.CryptoError("AES-256-GCM encryption failed")
    return size


def open_into(blob: Bytes, ad: bytes, key: bytes, out: Bytes) -> int:
    """Open ``nonce || ciphertext || tag`` into the start of *out* in one pass; return the plaintext length.

    SECURITY: if the tag does not verify, the bytes libsodium may have written are wiped
    before CryptoError is raised, so a failed chunk leaves nothing usable in the buffer.
    """
    require_aes()
    source, target = byte_view(blob), byte_view(out)
    size = source.nbytes - CHUNK_OVERHEAD
    if target.readonly or target.nbytes < size:
        raise ValueError(f"opening a {source.nbytes}-byte chunk needs a writable buffer of {size} bytes")
    into = _ffi.from_buffer(target) if size else _ffi.NULL
    written = _ffi.new("unsigned long long *")
    sealed = _ffi.from_buffer(source)
    rc = _lib.crypto_aead_aes256gcm_decrypt(
        into,
        written,
        _ffi.NULL,
        sealed + NONCE_BYTES,
        source.nbytes - NONCE_BYTES,
        ad,
        len(ad),
        sealed,
        key,
    )
    if rc != 0 or written[0] != size:
        if size:
            _lib.sodium_memzero(into, size)
        raise nacl.exceptions.CryptoError("the chunk does not authenticate")
    return size
