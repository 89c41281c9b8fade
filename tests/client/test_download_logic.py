"""The download engine against an in-process fake network: verification, failover, resume, placement."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffer.client import errors, resume
from coffer.client.coffer import Coffer
from coffer.client.ordered_hash import OrderedHash
from coffer.format.errors import IntegrityError, UnknownFormatVersion
from coffer.format.keys import UserKeys
from coffer.format.metadata import Metadata, safe_name
from coffer.format.records import check_layout
from coffer.format.sizes import chunk_count
from coffer.transfer import errors as transfer_errors

from .fakenet import FakeNet, refuse_connections

CHUNK = 1000


class Interrupt(Exception):
    pass


def uploaded(coffer: Coffer, tmp_path: Path, size: int, **options: Any) -> tuple[str, bytes]:
    path = tmp_path / "source.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    return coffer.upload(path, chunk_size=CHUNK, **options).file_id, data


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 9 * CHUNK + 7])
def test_a_download_returns_the_exact_bytes_under_the_original_name(
    coffer: Coffer, tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id, data = uploaded(coffer, tmp_path, size)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    path = coffer.download(file_id)
    assert path == out / "source.bin"
    assert path.read_bytes() == data
    assert leftovers(out) == ["source.bin"]
    assert list((tmp_path / "config" / resume.DOWNLOADS).glob("*.json")) == []


def test_an_existing_file_is_not_overwritten_unless_asked(coffer: Coffer, tmp_path: Path) -> None:
    file_id, data = uploaded(coffer, tmp_path, 3 * CHUNK)
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"precious")
    with pytest.raises(errors.UsageError, match="exists"):
        coffer.download(file_id, dest)
    assert dest.read_bytes() == b"precious"
    coffer.download(file_id, dest, overwrite=True)
    assert dest.read_bytes() == data


def test_a_chunk_altered_on_its_only_fileserver_is_named_and_nothing_is_left(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 5 * CHUNK)
    row = net.chunk_rows[file_id][3]
    holder = net.fileservers[row["fileservers"][0]]
    blob = bytearray(holder.chunks[row["hash"]])
    blob[100] ^= 1
    holder.chunks[row["hash"]] = bytes(blob)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError, match=rf"chunk 3 .*{holder.url}.*does not decrypt"):
        coffer.download(file_id, out / "result.bin")
    assert leftovers(out) == []


def test_chunks_reordered_in_the_record_fail_to_open_at_their_new_position(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 5 * CHUNK)
    rows = net.chunk_rows[file_id]
    rows[0]["hash"], rows[1]["hash"] = rows[1]["hash"], rows[0]["hash"]
    rows[0]["fileservers"], rows[1]["fileservers"] = rows[1]["fileservers"], rows[0]["fileservers"]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError, match="out of order"):
        coffer.download(file_id, out / "result.bin")
    assert leftovers(out) == []


def test_a_record_with_a_chunk_dropped_is_refused_before_any_transfer(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 5 * CHUNK)
    del net.chunk_rows[file_id][2]
    with pytest.raises(IntegrityError, match="lists 4 chunks"):
        coffer.download(file_id, tmp_path / "result.bin")
    assert sum(fs.gets for fs in net.fileservers.values()) == 0


def test_a_failing_holder_is_stepped_around_to_another_copy(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, data = uploaded(coffer, tmp_path, 8 * CHUNK, copies=2)
    dead = net.by_url(0)
    net.faults[dead.id] = refuse_connections
    result = coffer.download_result(file_id, tmp_path / "result.bin")
    assert result.path.read_bytes() == data
    assert dead.url not in result.per_fileserver


def test_a_chunk_missing_from_its_holders_is_read_from_another_live_reader(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    """Fileservers on one shared storage serve every chunk, whoever took it."""
    file_id, data = uploaded(coffer, tmp_path, 6 * CHUNK)
    shared = net.by_url(2)
    for fs in net.fileservers.values():
        shared.chunks.update(fs.chunks)
    for fs in net.fileservers.values():
        if fs is not shared:
            net.faults[fs.id] = refuse_connections
    result = coffer.download_result(file_id, tmp_path / "result.bin")
    assert result.path.read_bytes() == data
    assert set(result.per_fileserver) == {shared.url}


def test_a_chunk_on_no_live_fileserver_is_a_clear_transfer_error(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 2 * CHUNK)
    for fs in net.fileservers.values():
        fs.chunks.clear()
    with pytest.raises(transfer_errors.TransferFailed, match="on no live fileserver"):
        coffer.download(file_id, tmp_path / "result.bin")


def test_expired_get_tickets_are_renewed(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, data = uploaded(coffer, tmp_path, 3 * CHUNK)
    net.expire_tickets_at_first_chunk_request()
    assert coffer.download(file_id, tmp_path / "result.bin").read_bytes() == data


def test_an_interrupted_download_run_again_fetches_only_the_rest(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, data = uploaded(coffer, tmp_path, 20 * CHUNK)
    dest = tmp_path / "result.bin"
    net.get_delay = 0.02  # chunks arrive one by one, as over a real network

    def stop_half_way(done: int, total: int) -> None:
        if done >= total // 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        coffer.download_result(file_id, dest, on_progress=stop_half_way, in_flight=2)
    assert not dest.exists() and resume.part_path(dest).exists()
    [state_path] = (tmp_path / "config" / resume.DOWNLOADS).glob("*.json")
    state = resume.load_download(state_path)
    assert state is not None and 10 <= len(state.done) < 20
    gets_before = sum(fs.gets for fs in net.fileservers.values())
    result = coffer.download_result(file_id, dest, in_flight=2)
    assert (result.chunks_skipped, result.chunks_fetched) == (len(state.done), 20 - len(state.done))
    assert sum(fs.gets for fs in net.fileservers.values()) - gets_before == 20 - len(state.done)
    assert dest.read_bytes() == data
    assert not resume.part_path(dest).exists() and not state_path.exists()


@pytest.mark.parametrize("interval", [0.0, 3600.0], ids=["checkpoints", "only-at-the-end"])
def test_a_saved_download_state_lists_only_chunks_fsynced_before_it_was_saved(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: float
) -> None:
    file_id, data = uploaded(coffer, tmp_path, 30 * CHUNK)
    net.get_delay = 0.005
    lock = threading.Lock()
    written: dict[int, set[int]] = {}  # part file descriptor -> chunks written to it
    durable: set[int] = set()
    saves: list[set[int]] = []
    real_pwrite, real_fsync, real_save, real_throttle = os.pwrite, os.fsync, resume.save, resume.Throttle

    def pwrite(fd: int, data: Any, offset: int) -> int:
        n = real_pwrite(fd, data, offset)
        with lock:
            written.setdefault(fd, set()).add(offset // CHUNK)
        return n

    def fsync(fd: int) -> None:
        with lock:
            before = set(written.get(fd, ()))
        real_fsync(fd)
        with lock:
            durable.update(before)

    def save(path: Path, state: Any) -> None:
        if isinstance(state, resume.DownloadState):
            with lock:
                assert state.done <= durable, f"saved as written but not fsynced: {sorted(state.done - durable)}"
                saves.append(set(state.done))
        real_save(path, state)

    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(resume, "save", save)
    monkeypatch.setattr(resume, "Throttle", lambda clock: real_throttle(clock, interval))
    dest = tmp_path / "result.bin"
    coffer.download_result(file_id, dest, in_flight=2)
    assert dest.read_bytes() == data
    assert saves[-1] == set(range(30))
    assert len(saves) > 3 if interval == 0 else len(saves) == 2  # the fresh state, checkpoints, the whole


def test_the_file_is_written_back_while_the_whole_file_hash_catches_up(
    coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fsync that makes the download durable starts once the last chunk is written, not after the hash."""
    file_id, data = uploaded(coffer, tmp_path, 6 * CHUNK)
    dest = tmp_path / "result.bin"
    events: list[str] = []
    written_back = threading.Event()
    real_fsync, real_drain, real_throttle = os.fsync, OrderedHash._drain, resume.Throttle

    def fsync(fd: int) -> None:
        real_fsync(fd)
        if _names(fd, resume.part_path(dest)):
            events.append("fsync")
            written_back.set()

    def drain(self: OrderedHash) -> None:
        if self.next_index == 0:
            written_back.wait(5)  # a hash that ends after the chunks are written, as a small file's does
        real_drain(self)
        events.append(f"hashed to {self.next_index}")

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(OrderedHash, "_drain", drain)
    monkeypatch.setattr(resume, "Throttle", lambda clock: real_throttle(clock, 3600.0))  # no checkpoint
    coffer.download_result(file_id, dest, in_flight=8)
    assert dest.read_bytes() == data
    assert events.index("fsync") < events.index("hashed to 6"), events


def test_a_write_back_that_fails_fails_the_download_and_keeps_what_arrived(
    coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 3 * CHUNK)
    real_fsync = os.fsync
    part = resume.part_path(tmp_path / "result.bin")
    failed: list[int] = []

    def fsync(fd: int) -> None:
        if _names(fd, part) and not failed:  # once: a later fsync of the same file would hide the lost write
            failed.append(fd)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(errors.LocalFileError, match="Input/output error"):
        coffer.download_result(file_id, tmp_path / "result.bin")
    assert failed and part.exists() and not (tmp_path / "result.bin").exists()


def _names(fd: int, path: Path) -> bool:
    """Whether descriptor *fd* of this process is open on *path*."""
    return os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())


def test_a_full_disk_mid_download_keeps_what_arrived_says_so_and_resumes(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id, data = uploaded(coffer, tmp_path, 12 * CHUNK)
    dest = tmp_path / "result.bin"
    net.get_delay = 0.005
    real_pwrite, writes = os.pwrite, list[int]()

    def pwrite(fd: int, chunk: Any, offset: int) -> int:
        if len(writes) >= 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        writes.append(offset)
        return real_pwrite(fd, chunk, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(errors.LocalFileError, match="No space left on device.*run the same download again") as caught:
        coffer.download_result(file_id, dest, in_flight=2)
    assert caught.value.exit_code == 2 and not dest.exists() and resume.part_path(dest).exists()
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    result = coffer.download_result(file_id, dest, in_flight=2)
    assert result.chunks_skipped >= 1 and dest.read_bytes() == data


def test_a_part_file_that_no_longer_fits_its_state_starts_over(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, data = uploaded(coffer, tmp_path, 6 * CHUNK)
    dest = tmp_path / "result.bin"

    def stop(done: int, total: int) -> None:
        if done >= total // 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        coffer.download(file_id, dest, on_progress=stop, in_flight=1)
    resume.part_path(dest).write_bytes(b"truncated")
    result = coffer.download_result(file_id, dest)
    assert result.chunks_skipped == 0 and dest.read_bytes() == data


def test_list_and_info_decrypt_names_and_remove_forgets_the_file(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, data = uploaded(coffer, tmp_path, 2 * CHUNK + 1)
    [info] = coffer.list()
    assert (info.id, info.name, info.size, info.state) == (file_id, "source.bin", len(data), "complete")
    assert coffer.info(file_id) == info
    coffer.remove(file_id)
    assert coffer.list() == []


def test_a_pending_upload_is_listed_without_a_name() -> None:
    record = {
        "id": "0b6c43f2-4b0e-4c36-9d55-3b0c8a9e2f10",
        "shard": "default",
        "size": 128,
        "chunk_count": 1,
        "chunk_size": 1028,
        "metadata": "AAAA",
        "sealed_key": "",
        "state": "pending",
        "created_at": 1.0,
        "expires_at": 2.0,
        "completed_at": None,
    }
    from coffer.client.coffer import FileInfo

    info = FileInfo.from_record(record, UserKeys.generate())
    assert (info.name, info.size, info.state) == ("", 100, "pending")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("a\\..\\b.txt", "b.txt"),
        ("..", "fallback"),
        ("", "fallback"),
    ],
)
def test_a_name_from_metadata_never_becomes_a_path(name: str, safe: str) -> None:
    assert safe_name(name, "fallback") == safe


def layout_record(size: int, chunk: int, **changes: Any) -> dict[str, Any]:
    count = chunk_count(size, chunk)
    chunks = [
        {"index": i, "hash": f"{i:064x}", "size": min(chunk, size - i * chunk) + 28, "fileservers": ["f"]}
        for i in range(count)
    ]
    record = {
        "id": "0b6c43f2-4b0e-4c36-9d55-3b0c8a9e2f10",
        "shard": "default",
        "size": size + 28 * count,
        "chunk_count": count,
        "chunk_size": chunk + 28,
        "chunks": chunks,
    }
    return record | changes


def meta(size: int) -> Metadata:
    return Metadata("x", size, "application/octet-stream", 0.0, "0" * 64)


def test_a_consistent_layout_is_accepted() -> None:
    layout = check_layout(layout_record(2500, 1000), meta(2500))
    assert [c.size for c in layout.chunks] == [1028, 1028, 528]
    assert [layout.offset(i) for i in range(3)] == [0, 1000, 2000]
    assert check_layout(layout_record(0, 1000), meta(0)).chunks[0].size == 28


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r | {"chunk_count": 2, "size": 2500 + 56}, "does not match its sealed metadata"),
        (lambda r: r | {"chunks": r["chunks"][:2]}, "lists 2 chunks"),
        (lambda r: r | {"chunks": r["chunks"] + r["chunks"][:1]}, "lists 4 chunks"),
        (lambda r: r | {"chunks": [r["chunks"][1], r["chunks"][0], r["chunks"][2]]}, "out of sequence"),
        (
            lambda r: r | {"chunks": [r["chunks"][0], r["chunks"][2] | {"index": 1}, r["chunks"][1] | {"index": 2}]},
            "recorded as 528",
        ),
        (lambda r: r | {"chunks": r["chunks"][:2] + [r["chunks"][2] | {"hash": "../x"}]}, "malformed hash"),
        (lambda r: r | {"chunk_size": 28}, "impossible chunk size"),
    ],
)
def test_a_record_that_disagrees_with_the_metadata_is_refused(mutate: Any, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        check_layout(mutate(layout_record(2500, 1000)), meta(2500))


def test_a_record_shortened_with_its_size_is_still_refused_by_the_metadata() -> None:
    shortened = layout_record(2000, 1000)
    with pytest.raises(IntegrityError, match="does not match its sealed metadata"):
        check_layout(shortened, meta(2500))


def test_with_every_reader_failing_the_live_list_is_asked_again(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 2 * CHUNK)

    def gone(request: httpx.Request) -> httpx.Response | None:
        net.live = []
        raise httpx.ConnectError("refused", request=request)

    for fs in net.fileservers.values():
        net.faults[fs.id] = gone
    with pytest.raises(transfer_errors.NoLiveFileserver, match="no live fileserver can serve shard 'default'"):
        coffer.download(file_id, tmp_path / "result.bin", in_flight=1)
    assert not (tmp_path / "result.bin").exists()


def test_a_file_in_a_newer_format_is_refused_by_name_before_any_chunk_is_fetched(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    file_id, _ = uploaded(coffer, tmp_path, 3 * CHUNK)
    net.files[file_id]["format"] = 2
    with pytest.raises(UnknownFormatVersion, match=f"file {file_id} was written in format v2.*upgrade coffer"):
        coffer.download(file_id, tmp_path / "result.bin")
    assert sum(fs.gets for fs in net.fileservers.values()) == 0
    assert not (tmp_path / "result.bin").exists()
    assert "format v2" in coffer.info(file_id).problem


def test_a_part_file_is_private_while_it_fills_and_the_finished_file_follows_the_umask(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    file_id, data = uploaded(coffer, tmp_path, 20 * CHUNK)
    dest = tmp_path / "result.bin"
    part = resume.part_path(dest)
    modes: list[int] = []
    old_umask = os.umask(0o022)
    try:
        coffer.download_result(
            file_id, dest, on_progress=lambda done, total: modes.append(stat.S_IMODE(part.stat().st_mode)), in_flight=2
        )
    finally:
        os.umask(old_umask)
    assert modes and set(modes) == {0o600}
    assert dest.read_bytes() == data and stat.S_IMODE(dest.stat().st_mode) == 0o644


def test_a_part_file_altered_between_two_runs_fails_the_whole_file_hash_and_is_removed(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    """Chunks an earlier run wrote are not opened again: the sealed SHA-256 of the whole file is what checks them."""
    file_id, data = uploaded(coffer, tmp_path, 20 * CHUNK)
    dest = tmp_path / "result.bin"
    net.get_delay = 0.02

    def stop_half_way(done: int, total: int) -> None:
        if done >= total // 2:
            raise Interrupt()

    with pytest.raises(Interrupt):
        coffer.download_result(file_id, dest, on_progress=stop_half_way, in_flight=2)
    [state_path] = (tmp_path / "config" / resume.DOWNLOADS).glob("*.json")
    state = resume.load_download(state_path)
    assert state is not None and state.done
    part = resume.part_path(dest)
    with open(part, "r+b") as f:
        f.seek(min(state.done) * CHUNK + 7)
        f.write(bytes([data[min(state.done) * CHUNK + 7] ^ 1]))
    with pytest.raises(IntegrityError, match="do not match its sealed SHA-256"):
        coffer.download_result(file_id, dest, in_flight=2)
    assert not dest.exists() and not part.exists() and not state_path.exists()


@pytest.mark.parametrize("chunks", [1, 3])
def test_chunks_of_whole_pages_are_written_around_the_page_cache_and_read_back_exact(
    coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: int
) -> None:
    """A chunk size of whole pages, as the default's 8 MiB: those chunks go direct where the filesystem allows it."""
    from coffer.client import part_writer

    page_chunk = 2 * part_writer.ALIGN
    path = tmp_path / "source.bin"
    data = os.urandom(chunks * page_chunk - 100)  # the last chunk is short: through the page cache
    path.write_bytes(data)
    file_id = coffer.upload(path, chunk_size=page_chunk).file_id
    direct: list[int] = []
    real = part_writer.PartWriter._write_direct

    def counted(self: part_writer.PartWriter, view: memoryview, offset: int) -> int:
        done = real(self, view, offset)
        direct.append(done)
        return done

    monkeypatch.setattr(part_writer.PartWriter, "_write_direct", counted)
    dest = tmp_path / "result.bin"
    coffer.download_result(file_id, dest, in_flight=2)
    assert dest.read_bytes() == data
    assert len(direct) <= chunks - 1 and all(done in (0, page_chunk) for done in direct)
