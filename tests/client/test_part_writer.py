"""A download's part file written around the page cache where it can be, and through it where it cannot."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from coffer.client import part_writer
from coffer.client.part_writer import ALIGN, PartWriter

BLOCK = 4 * ALIGN


def _part(tmp_path: Path, size: int) -> tuple[int, Path]:
    path = tmp_path / "file.coffer-part"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, size)
    return fd, path


def _aligned(data: bytes) -> mmap.mmap:
    buffer = mmap.mmap(-1, len(data))
    buffer[:] = data
    return buffer


def test_aligned_blocks_and_a_short_tail_land_exactly_where_they_belong(tmp_path: Path) -> None:
    data = os.urandom(3 * BLOCK + 123)
    fd, path = _part(tmp_path, len(data))
    writer = PartWriter(fd, path)
    try:
        for offset in (2 * BLOCK, 0, BLOCK, 3 * BLOCK):  # in any order, as chunks finish
            piece = _aligned(data[offset : offset + BLOCK])
            writer.write(memoryview(piece), offset)
        os.fsync(fd)
    finally:
        writer.close_direct()
        os.close(fd)
    assert path.read_bytes() == data


def test_a_buffer_the_disk_cannot_read_direct_is_written_through_the_page_cache(tmp_path: Path) -> None:
    """An unaligned buffer (O_DIRECT refuses it with EINVAL): the bytes still arrive, and later writes skip the try."""
    data = os.urandom(2 * BLOCK)
    fd, path = _part(tmp_path, len(data))
    writer = PartWriter(fd, path)
    unaligned = memoryview(bytearray(b"x" + data))[1:]
    try:
        writer.write(unaligned[:BLOCK], 0)
        writer.write(unaligned[BLOCK:], BLOCK)
    finally:
        writer.close_direct()
        os.close(fd)
    assert path.read_bytes() == data
    assert not writer.direct


def test_without_direct_writes_everything_goes_through_the_ordinary_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(part_writer, "_open_direct", lambda path: None)
    data = os.urandom(BLOCK)
    fd, path = _part(tmp_path, len(data))
    writer = PartWriter(fd, path)
    assert not writer.direct
    writer.write(memoryview(_aligned(data)), 0)
    os.close(fd)
    assert path.read_bytes() == data
