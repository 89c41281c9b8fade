"""Sealing and opening chunks in place in reused buffers, and the pools that hold those buffers.

``seal_chunk_into`` must make exactly ``seal_chunk``'s bytes (the format is pinned by the
vectors), and ``open_chunk_into`` must refuse exactly what ``open_chunk`` refuses, leaving
nothing usable in its buffer when it does.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import resource
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.client.buffers import Buffer, BufferPool
from coffer.format.chunks import open_chunk_into, seal_chunk, seal_chunk_into
from coffer.format.errors import IntegrityError
from coffer.format.sizes import CHUNK_OVERHEAD, ciphertext_size

KEY = bytes(range(32))
FILE_ID = "6f1c3f0e-2b7a-4d55-9a43-0c3e8f1d2a10"
OTHER_FILE_ID = "0b8e2f4c-5d7a-4e19-8c33-91a7d4b6e205"
NONCE = bytes(range(100, 112))


def sealed(plaintext: bytes, index: int = 3, last: bool = False) -> bytes:
    return seal_chunk(KEY, FILE_ID, index, last, plaintext, nonce=NONCE)


@settings(deadline=None)
@given(plaintext=st.binary(max_size=3000), spare=st.integers(min_value=0, max_value=64), last=st.booleans())
def test_a_chunk_sealed_into_a_buffer_is_the_exact_bytes_of_seal_chunk(
    plaintext: bytes, spare: int, last: bool
) -> None:
    out = bytearray(b"\xaa" * (ciphertext_size(len(plaintext)) + spare))
    size = seal_chunk_into(KEY, FILE_ID, 3, last, memoryview(plaintext), out, nonce=NONCE)
    assert size == ciphertext_size(len(plaintext))
    assert bytes(out[:size]) == seal_chunk(KEY, FILE_ID, 3, last, plaintext, nonce=NONCE)
    assert out[size:] == b"\xaa" * spare


@settings(deadline=None)
@given(plaintext=st.binary(max_size=3000), spare=st.integers(min_value=0, max_value=64))
def test_a_chunk_opened_into_a_buffer_is_its_plaintext_and_only_the_start_is_written(
    plaintext: bytes, spare: int
) -> None:
    blob = sealed(plaintext)
    out = bytearray(b"\xaa" * (len(plaintext) + spare))
    assert open_chunk_into(KEY, FILE_ID, 3, False, memoryview(blob), out) == len(plaintext)
    assert out[: len(plaintext)] == plaintext
    assert out[len(plaintext) :] == b"\xaa" * spare


def test_an_empty_chunk_opens_into_an_empty_buffer() -> None:
    blob = sealed(b"", index=0, last=True)
    assert open_chunk_into(KEY, FILE_ID, 0, True, blob, bytearray()) == 0


def damaged(blob: bytes, at: int) -> bytes:
    data = bytearray(blob)
    data[at] ^= 0x01
    return bytes(data)


PLAIN = os.urandom(5000)
BLOB = sealed(PLAIN)


@pytest.mark.parametrize(
    ("file_id", "index", "last", "blob"),
    [
        (FILE_ID, 4, False, BLOB),
        (FILE_ID, 3, True, BLOB),
        (OTHER_FILE_ID, 3, False, BLOB),
        (FILE_ID, 3, False, damaged(BLOB, 0)),
        (FILE_ID, 3, False, damaged(BLOB, 2500)),
        (FILE_ID, 3, False, damaged(BLOB, len(BLOB) - 1)),
        (FILE_ID, 3, False, BLOB[:-1]),
    ],
    ids=["another position", "marked last", "another file", "altered nonce", "altered byte", "altered tag", "cut"],
)
def test_a_chunk_that_does_not_open_leaves_no_plaintext_in_the_buffer(
    file_id: str, index: int, last: bool, blob: bytes
) -> None:
    out = bytearray(b"\xaa" * len(PLAIN))
    with pytest.raises(IntegrityError, match=f"chunk {index} does not decrypt"):
        open_chunk_into(KEY, file_id, index, last, memoryview(blob), out)
    opened = len(blob) - CHUNK_OVERHEAD
    assert out[:opened] == bytes(opened)
    assert out[opened:] == b"\xaa" * (len(out) - opened)


def test_a_blob_shorter_than_the_overhead_is_refused_as_open_chunk_refuses_it() -> None:
    with pytest.raises(IntegrityError, match="too short"):
        open_chunk_into(KEY, FILE_ID, 3, False, BLOB[: CHUNK_OVERHEAD - 1], bytearray(10))


def test_a_buffer_too_small_or_read_only_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="writable buffer"):
        open_chunk_into(KEY, FILE_ID, 3, False, BLOB, bytearray(len(PLAIN) - 1))
    with pytest.raises(ValueError, match="writable buffer"):
        open_chunk_into(KEY, FILE_ID, 3, False, BLOB, bytes(len(PLAIN)))
    with pytest.raises(ValueError, match="writable buffer"):
        seal_chunk_into(KEY, FILE_ID, 3, False, PLAIN, bytearray(len(BLOB) - 1))


def test_a_pool_hands_the_buffer_given_back_last_to_the_next_taker() -> None:
    pool = BufferPool(16, 2)
    first = pool.take()
    pool.give(first)
    assert pool.take() is first
    assert (pool.made, pool.out) == (1, 1)


def test_a_pool_makes_at_most_count_buffers_and_waits_for_one_to_come_back() -> None:
    pool = BufferPool(16, 2)
    a, b = pool.take(), pool.take()
    got: list[Buffer] = []
    waiter = threading.Thread(target=lambda: got.append(pool.take()))
    waiter.start()
    time.sleep(0.05)
    assert got == [] and pool.made == 2
    pool.give(b)
    waiter.join(5)
    assert got == [b] and pool.made == 2
    pool.give(a)
    pool.give(got[0])
    assert pool.out == 0


def test_a_pool_buffer_is_page_aligned_and_costs_no_page_until_it_is_written() -> None:
    """A zeroed ``bytearray`` faulted every page with the GIL held (6-7 ms per 8 MiB): workers started in turn."""
    size = 64 << 20
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    buffer = BufferPool(size, 1).take()
    faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
    assert faults < size // mmap.PAGESIZE // 100
    assert len(buffer) == size and ctypes.addressof(ctypes.c_char.from_buffer(buffer)) % mmap.PAGESIZE == 0


def test_an_empty_pool_buffer_is_an_empty_writable_buffer() -> None:
    buffer = BufferPool(0, 1).take()
    assert len(buffer) == 0 and not memoryview(buffer).readonly
