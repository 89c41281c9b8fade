"""Uploads and downloads move chunks through a few reused buffers, and a retry never sees another chunk's bytes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffer.client import buffers
from coffer.client.coffer import Coffer
from coffer.format.chunks import chunk_hash
from coffer.transfer.http import ChunkClient

from .fakenet import FakeNet

CHUNK = 1000


def recorded_pools(monkeypatch: pytest.MonkeyPatch) -> list[buffers.BufferPool]:
    """Keep every buffer pool made from now on, to look at what it handed out."""
    made: list[buffers.BufferPool] = []
    real = buffers.BufferPool.__init__

    def init(self: buffers.BufferPool, size: int, count: int) -> None:
        real(self, size, count)
        made.append(self)

    monkeypatch.setattr(buffers.BufferPool, "__init__", init)
    return made


def wrap(monkeypatch: pytest.MonkeyPatch, name: str, record: Callable[..., None]) -> None:
    real = getattr(ChunkClient, name)

    def wrapped(self: ChunkClient, *args: Any) -> Any:
        record(*args)
        return real(self, *args)

    monkeypatch.setattr(ChunkClient, name, wrapped)


def uploaded(coffer: Coffer, tmp_path: Path, size: int, **options: Any) -> tuple[str, bytes]:
    path = tmp_path / "source.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    return coffer.upload(path, chunk_size=CHUNK, **options).file_id, data


def test_one_download_worker_receives_every_chunk_into_the_same_buffer(
    coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id, data = uploaded(coffer, tmp_path, 5 * CHUNK + 7)
    into: list[object] = []
    wrap(monkeypatch, "get_into", lambda base, shard, fid, name, ticket, buffer: into.append(buffer.obj))
    pools = recorded_pools(monkeypatch)
    result = coffer.download_result(file_id, tmp_path / "copy", in_flight=1)
    assert result.path.read_bytes() == data
    assert len(into) == 6 and all(buffer is into[0] for buffer in into)
    assert pools and all(pool.out == 0 for pool in pools)


def test_download_buffers_are_bounded_by_the_chunks_in_flight(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks that finish before the one the whole-file hash needs are kept for it, a bounded few."""
    file_id, data = uploaded(coffer, tmp_path, 12 * CHUNK)
    first = net.chunk_rows[file_id][0]["hash"]

    def slow_first(request: httpx.Request) -> httpx.Response | None:
        if request.method == "GET" and request.url.path.endswith(first):
            time.sleep(0.2)
        return None

    for fs in net.fileservers.values():
        net.faults[fs.id] = slow_first
    pools = recorded_pools(monkeypatch)
    result = coffer.download_result(file_id, tmp_path / "copy", in_flight=3)
    assert result.path.read_bytes() == data
    sealed, plain = pools
    assert sealed.made <= 3 and 3 < plain.made <= 6  # chunks after the slow first one were kept for the hash
    assert sealed.out == plain.out == 0


def test_a_copy_that_fails_verification_is_overwritten_by_the_good_one(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk's first copy comes damaged into the buffer; only the next copy's bytes reach the file."""
    file_id, data = uploaded(coffer, tmp_path, 4 * CHUNK, copies=2)
    damaged: set[str] = set()

    def damage_first_copy(request: httpx.Request) -> httpx.Response | None:
        name = request.url.path.rsplit("/", 1)[1]
        if request.method != "GET" or name in damaged:
            return None
        damaged.add(name)
        holder = next(fs for fs in net.fileservers.values() if fs.url == f"http://{request.url.host}")
        blob = bytearray(holder.chunks[name])
        blob[len(blob) // 2] ^= 0xFF
        return httpx.Response(200, content=bytes(blob))

    for fs in net.fileservers.values():
        net.faults[fs.id] = damage_first_copy
    used: list[str] = []
    wrap(monkeypatch, "get_into", lambda base, *rest: used.append(base))
    result = coffer.download_result(file_id, tmp_path / "copy", in_flight=1)
    assert result.path.read_bytes() == data
    assert len(damaged) == 4 and len(used) == 8  # each chunk: the damaged copy, then the good one


def test_one_upload_worker_seals_every_chunk_into_the_same_buffer(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []
    wrap(monkeypatch, "put", lambda base, fs_id, shard, fid, name, blob, ticket: sent.append(memoryview(blob).obj))
    pools = recorded_pools(monkeypatch)
    file_id, data = uploaded(coffer, tmp_path, 6 * CHUNK + 1, in_flight=1)
    assert len(sent) == 7 and all(buffer is sent[0] for buffer in sent)
    assert [pool.made for pool in pools] == [1, 1]
    assert all(pool.out == 0 for pool in pools)


def test_upload_buffers_stay_at_two_per_chunk_in_flight(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net.put_delay = 0.01
    pools = recorded_pools(monkeypatch)
    uploaded(coffer, tmp_path, 30 * CHUNK, in_flight=3)
    assert len(pools) == 2 and all(pool.made <= 3 for pool in pools)
    assert all(pool.out == 0 for pool in pools)


def test_a_chunk_retried_on_another_fileserver_carries_the_same_sealed_bytes(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    """Each chunk's first fileserver reads the whole body and then fails; the next gets the same bytes and name."""
    first_bodies: dict[str, bytes] = {}

    def read_then_fail_first(request: httpx.Request) -> httpx.Response | None:
        name = request.url.path.rsplit("/", 1)[1]
        if request.method != "PUT" or name in first_bodies:
            return None
        first_bodies[name] = request.read()
        return httpx.Response(503, json={"error": "storage_unavailable", "message": "fake"})

    for fs in net.fileservers.values():
        net.faults[fs.id] = read_then_fail_first
    file_id, data = uploaded(coffer, tmp_path, 9 * CHUNK, in_flight=1)
    stored = {name: blob for fs in net.fileservers.values() for name, blob in fs.chunks.items()}
    assert len(first_bodies) == len(stored) == 9
    for name, body in first_bodies.items():
        assert stored[name] == body
        assert chunk_hash(body) == name
    assert coffer.download(file_id, tmp_path / "copy").read_bytes() == data
