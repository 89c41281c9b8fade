"""How big a file's chunks and ciphertext are: the one place for that arithmetic.

A file of ``n`` plaintext bytes cut at ``p`` bytes is ``max(1, ceil(n / p))`` chunks (an
empty file still has one); each chunk carries ``CHUNK_OVERHEAD`` bytes more than its
plaintext (nonce and tag), so the record's chunk size is ``p + 28`` and its size
``n + 28 × count``.
"""

from __future__ import annotations

import nacl.bindings

from coffer.protocol.wire import DEFAULT_CHUNK_SIZE as _WIRE_DEFAULT

NONCE_BYTES: int = nacl.bindings.crypto_aead_aes256gcm_NPUBBYTES
TAG_BYTES: int = nacl.bindings.crypto_aead_aes256gcm_ABYTES
CHUNK_OVERHEAD = NONCE_BYTES + TAG_BYTES
DEFAULT_CHUNK_SIZE = _WIRE_DEFAULT
"""Plaintext bytes per chunk unless the uploader chooses otherwise."""


def ciphertext_size(plain_size: int) -> int:
    """Return the bytes one chunk of *plain_size* plaintext bytes takes sealed."""
    return plain_size + CHUNK_OVERHEAD


def plain_size(cipher_size: int) -> int:
    """Return the plaintext bytes a sealed chunk of *cipher_size* bytes holds."""
    return cipher_size - CHUNK_OVERHEAD


def chunk_count(plain_size: int, chunk_size: int) -> int:
    """Return how many chunks a file of *plain_size* bytes takes; an empty file still has one."""
    return max(1, -(-plain_size // chunk_size))


def file_ciphertext_size(plain_size: int, count: int) -> int:
    """Return the sealed size of a whole file of *plain_size* bytes in *count* chunks."""
    return plain_size + CHUNK_OVERHEAD * count


def file_plain_size(cipher_size: int, count: int) -> int:
    """Return the plaintext size of a whole file sealed into *count* chunks of *cipher_size* bytes in all."""
    return cipher_size - CHUNK_OVERHEAD * count


def chunk_offset(index: int, plain_chunk_size: int) -> int:
    """Return where chunk *index* starts in the plaintext."""
    return index * plain_chunk_size


def chunk_plain_length(index: int, plain_chunk_size: int, file_size: int) -> int:
    """Return the plaintext bytes chunk *index* of a *file_size*-byte file holds."""
    return min(plain_chunk_size, file_size - chunk_offset(index, plain_chunk_size))
