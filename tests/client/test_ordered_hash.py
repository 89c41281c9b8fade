"""The whole-file hash of a download: fed in file order whatever order the chunks finish in."""

from __future__ import annotations

import hashlib
import os

import pytest

from client.buffers import BufferPool
from client.layout import Layout
from client.ordered_hash import OrderedHash

CHUNK = 100
DATA = os.urandom(7 * CHUNK + 31)
LAYOUT = Layout("f", "default", len(DATA), CHUNK, ())
COUNT = 8


class PartFile:
    """The part file as written, counting what is read back from it."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, size: int, offset: int) -> bytes:
        self.reads += 1
        return DATA[offset : offset + size]


def offered(pool: BufferPool, index: int) -> bytearray:
    plain = pool.take()
    piece = DATA[index * CHUNK : (index + 1) * CHUNK]
    plain[: len(piece)] = piece
    return plain


def offer(hashed: OrderedHash, pool: BufferPool, index: int) -> None:
    plain = offered(pool, index)
    if not hashed.offer(index, plain):
        pool.give(plain)


@pytest.mark.parametrize("order", [list(range(COUNT)), list(reversed(range(COUNT))), [2, 0, 5, 1, 3, 7, 4, 6]])
def test_chunks_kept_in_memory_are_hashed_in_file_order_and_never_read_back(order: list[int]) -> None:
    pool, part = BufferPool(CHUNK, 2 * COUNT), PartFile()
    hashed = OrderedHash(LAYOUT, pool, COUNT, part.read)
    for index in order:
        offer(hashed, pool, index)
    hashed.catch_up(set(range(COUNT)))
    assert hashed.next_index == COUNT and hashed.hexdigest() == hashlib.sha256(DATA).hexdigest()
    assert part.reads == 0 and pool.out == 0


def test_chunks_beyond_what_may_be_kept_are_read_back_in_their_turn() -> None:
    pool, part = BufferPool(CHUNK, 4), PartFile()
    hashed = OrderedHash(LAYOUT, pool, 1, part.read)
    for index in reversed(range(COUNT)):
        offer(hashed, pool, index)
    assert hashed.next_index == 1 and pool.out == 1  # chunk 0 hashed when offered, chunk 7 kept, 1-6 given back
    hashed.catch_up(set(range(COUNT)))
    assert hashed.next_index == COUNT and hashed.hexdigest() == hashlib.sha256(DATA).hexdigest()
    assert part.reads == COUNT - 2 and pool.out == 0


def test_catching_up_stops_at_the_first_chunk_not_yet_written() -> None:
    pool, part = BufferPool(CHUNK, 4), PartFile()
    hashed = OrderedHash(LAYOUT, pool, 0, part.read)
    hashed.catch_up({0, 1, 3})
    assert hashed.next_index == 2
    offer(hashed, pool, 2)
    hashed.catch_up({0, 1, 2, 3})
    assert hashed.next_index == 4 and part.reads == 3


def test_a_part_file_cut_short_gives_a_hash_that_cannot_match() -> None:
    pool = BufferPool(CHUNK, 1)
    hashed = OrderedHash(LAYOUT, pool, 0, lambda size, offset: DATA[offset : min(offset + size, 5 * CHUNK)])
    hashed.catch_up(set(range(COUNT)))
    assert hashed.next_index == COUNT and hashed.hexdigest() != hashlib.sha256(DATA).hexdigest()
