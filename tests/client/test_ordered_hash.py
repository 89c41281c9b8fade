"""The whole-file hash of a download: fed in file order whatever order the chunks finish in."""

from __future__ import annotations

import hashlib
import os
import random
import threading

import pytest

from coffer.client.buffers import BufferPool
from coffer.client.ordered_hash import OrderedHash
from coffer.format.records import Layout

CHUNK = 100
DATA = os.urandom(7 * CHUNK + 31)
LAYOUT = Layout("f", "default", len(DATA), CHUNK, ())
COUNT = 8
WHOLE = hashlib.sha256(DATA).hexdigest()


class PartFile:
    """The part file as written, counting what is read back from it."""

    def __init__(self, data: bytes = DATA) -> None:
        self.data = data
        self.read_back: set[int] = set()

    def read(self, size: int, offset: int) -> bytes:
        self.read_back.add(offset // CHUNK)
        return self.data[offset : offset + size]


def offer(hashed: OrderedHash, pool: BufferPool, index: int) -> None:
    plain = pool.take()
    piece = DATA[index * CHUNK : (index + 1) * CHUNK]
    plain[: len(piece)] = piece
    hashed.offer(index, plain)


@pytest.mark.parametrize("order", [list(range(COUNT)), list(reversed(range(COUNT))), [2, 0, 5, 1, 3, 7, 4, 6]])
def test_chunks_offered_in_any_order_are_hashed_in_file_order_and_never_read_back(order: list[int]) -> None:
    pool, part = BufferPool(CHUNK, COUNT), PartFile()
    hashed = OrderedHash(LAYOUT, pool, part.read)
    for index in order:
        offer(hashed, pool, index)
    assert hashed.next_index == COUNT and hashed.hexdigest() == WHOLE
    assert part.read_back == set() and pool.out == 0


def test_a_chunk_that_came_early_keeps_its_buffer_until_every_chunk_before_it_is_hashed() -> None:
    pool = BufferPool(CHUNK, COUNT)
    hashed = OrderedHash(LAYOUT, pool, PartFile().read)
    for index in (3, 2, 1):
        offer(hashed, pool, index)
    assert hashed.next_index == 0 and pool.out == 3
    offer(hashed, pool, 0)
    assert hashed.next_index == 4 and pool.out == 0


def test_only_the_chunks_an_earlier_run_wrote_are_read_back_each_in_its_turn() -> None:
    pool, part = BufferPool(CHUNK, COUNT), PartFile()
    hashed = OrderedHash(LAYOUT, pool, part.read, on_disk={0, 1, 4, 7})
    offer(hashed, pool, 3)
    assert hashed.next_index == 2 and part.read_back == {0, 1}  # chunk 3 waits in memory for chunk 2
    offer(hashed, pool, 2)
    assert hashed.next_index == 5 and part.read_back == {0, 1, 4}
    for index in (6, 5):
        offer(hashed, pool, index)
    assert hashed.next_index == COUNT and hashed.hexdigest() == WHOLE
    assert part.read_back == {0, 1, 4, 7} and pool.out == 0


def test_catching_up_hashes_a_file_an_earlier_run_wrote_whole() -> None:
    part = PartFile()
    hashed = OrderedHash(LAYOUT, BufferPool(CHUNK, 1), part.read, on_disk=range(COUNT))
    hashed.catch_up()
    assert hashed.next_index == COUNT and hashed.hexdigest() == WHOLE and part.read_back == set(range(COUNT))


@pytest.mark.parametrize("seed", range(20))
def test_no_chunk_is_stranded_when_workers_offer_while_another_is_hashing(seed: int) -> None:
    chunk, count = 1 << 16, 64
    data = random.Random(seed).randbytes(chunk * count)
    layout = Layout("f", "default", len(data), chunk, ())
    pool = BufferPool(chunk, count)
    hashed = OrderedHash(layout, pool, PartFile(data).read)
    order = list(range(count))
    random.Random(seed).shuffle(order)
    start = threading.Barrier(4)

    def worker(indices: list[int]) -> None:
        start.wait()
        for index in indices:
            plain = pool.take()
            plain[:] = data[index * chunk : (index + 1) * chunk]
            hashed.offer(index, plain)

    threads = [threading.Thread(target=worker, args=(order[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert hashed.next_index == count and pool.out == 0
    assert hashed.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_part_file_cut_short_gives_a_hash_that_cannot_match() -> None:
    hashed = OrderedHash(LAYOUT, BufferPool(CHUNK, 1), PartFile(DATA[: 5 * CHUNK]).read, on_disk=range(COUNT))
    hashed.catch_up()
    assert hashed.next_index == COUNT and hashed.hexdigest() != WHOLE
