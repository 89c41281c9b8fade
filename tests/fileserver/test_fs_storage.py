"""The storage contract every backend keeps, run against each backend on a real server.

local disk; moto's S3 server; gcp-storage-emulator; Azurite. To add a backend,
add its kind to ``BACKENDS`` and a factory to ``MAKERS`` that returns it on its
emulator (with a leftovers probe); every test below then runs against it.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coffer.fileserver.errors import (
    BackendUnavailable,
    BadRange,
    BodyStalled,
    ChunkNotFound,
    HashMismatch,
    SizeMismatch,
    StorageUnavailable,
)
from coffer.fileserver.storage import BLOCK_SIZE, Backend, backend_class, known_kinds
from coffer.fileserver.storage.cache import CachedBackend
from coffer.fileserver.storage.local import LocalBackend
from coffer.protocol.errors import ProtocolError
from tests.backends.azure_emulator import make_azure_store
from tests.backends.gcs_emulator import make_gcs_store
from tests.backends.s3_emulator import make_s3_store
from tests.fileserver.fs_helpers import FILE, OTHER_FILE, Store, stored_chunk


def _local(tmp_path: Path) -> Store:
    backend = LocalBackend(tmp_path / "chunks")
    return Store(backend, lambda: sorted(os.listdir(tmp_path / "chunks" / "tmp")))


def cached(make: Callable[[Any, Path], Store], *, write_back: bool) -> Callable[[Any, Path], Store]:
    """Return a maker of *make*'s store behind a local cache; its leftovers include the cache's temp files."""

    def make_cached(emulator: Any, tmp_path: Path) -> Store:
        inner = make(emulator, tmp_path)
        backend = CachedBackend(inner.backend, tmp_path / "cache", 64 << 20, write_back)
        return Store(backend, lambda: inner.leftovers() + sorted(os.listdir(backend.files.tmp)))

    return make_cached


HASH = "a" * 64
BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("s3", id="s3", marks=pytest.mark.slow),
    pytest.param("gcs", id="gcs", marks=pytest.mark.slow),
    pytest.param("azure", id="azure", marks=pytest.mark.slow),
    pytest.param("s3+cache", id="s3+cache", marks=pytest.mark.slow),
    pytest.param("s3+write-back", id="s3+write-back", marks=pytest.mark.slow),
]
MAKERS: dict[str, Callable[[Any, Path], Store]] = {
    "s3": make_s3_store,
    "gcs": make_gcs_store,
    "azure": make_azure_store,
    "s3+cache": cached(make_s3_store, write_back=False),
    "s3+write-back": cached(make_s3_store, write_back=True),
}


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh, empty store of each kind; cloud kinds live on their emulator, started once per session.

    ``kind+cache`` is the cloud kind behind a write-through :class:`CachedBackend`, ``kind+write-back``
    behind a write-back one: a cache must keep the whole contract too.
    """
    kind: str = request.param
    if kind == "local":
        return _local(tmp_path)
    return MAKERS[kind](request.getfixturevalue(f"{kind.split('+')[0]}_emulator"), tmp_path)


def put(backend: Backend, data: bytes, name: str | None = None, size: int | None = None) -> bool:
    name = name or stored_chunk(0)[1]
    return backend.put(name, io.BytesIO(data), len(data) if size is None else size)


class Failing(io.RawIOBase):
    """A body whose connection drops (or, with a TimeoutError, stalls past the socket's timeout) after *good* bytes."""

    def __init__(self, good: bytes, error: OSError | None = None):
        self._data = io.BytesIO(good)
        self._error = error or ConnectionResetError("peer went away")

    def readinto(self, buffer: Any, /) -> int:
        got = self._data.readinto(buffer)
        if not got:
            raise self._error
        return got


# -- the good paths ------------------------------------------------------------------------------


def test_put_then_open_returns_the_same_bytes(store: Store) -> None:
    data, name = stored_chunk(3 * BLOCK_SIZE + 123)
    assert put(store.backend, data, name) is True
    with store.backend.open(name) as stream:
        assert b"".join(stream) == data


def test_put_of_an_existing_chunk_reports_not_created_and_keeps_one_copy(store: Store) -> None:
    data, name = stored_chunk(1000)
    assert put(store.backend, data, name) is True
    assert put(store.backend, data, name) is False
    assert list(store.backend.list()) == [name]
    assert store.leftovers() == []


def test_empty_chunk_round_trips(store: Store) -> None:
    data, name = stored_chunk(0)
    assert put(store.backend, data, name) is True
    assert b"".join(store.backend.open(name)) == b""
    assert store.backend.stat(name).size == 0


@pytest.mark.parametrize(
    ("start", "length"),
    [(0, 1), (5, 10), (BLOCK_SIZE - 1, 2), (BLOCK_SIZE, BLOCK_SIZE), (0, None), (2 * BLOCK_SIZE + 7, None), (100, 0)],
)
def test_open_range_returns_exactly_the_requested_bytes(store: Store, start: int, length: int | None) -> None:
    data, name = stored_chunk(2 * BLOCK_SIZE + 100)
    put(store.backend, data, name)
    end = None if length is None else start + length
    assert b"".join(store.backend.open(name, start, length)) == data[start:end]


def test_reads_come_in_blocks_of_at_most_one_mebibyte(store: Store) -> None:
    data, name = stored_chunk(3 * BLOCK_SIZE)
    put(store.backend, data, name)
    with store.backend.open(name) as stream:
        assert max(len(block) for block in stream) <= BLOCK_SIZE


@pytest.mark.parametrize(("start", "length"), [(90, 20), (101, None), (0, 101)])
def test_open_range_beyond_the_chunk_is_refused(store: Store, start: int, length: int | None) -> None:
    data, name = stored_chunk(100)
    put(store.backend, data, name)
    with pytest.raises(BadRange):
        store.backend.open(name, start, length)


def test_exists_stat_and_delete(store: Store) -> None:
    data, name = stored_chunk(4096)
    assert not store.backend.exists(name)
    put(store.backend, data, name)
    assert store.backend.exists(name)
    stat = store.backend.stat(name)
    assert stat.size == 4096 and stat.mtime <= time.time() + 1
    store.backend.delete(name)
    assert not store.backend.exists(name)
    assert list(store.backend.list()) == []


@pytest.mark.parametrize("verb", ["open", "stat", "delete", "quarantine"])
def test_verbs_on_a_missing_chunk_raise_chunk_not_found(store: Store, verb: str) -> None:
    with pytest.raises(ChunkNotFound):
        getattr(store.backend, verb)(stored_chunk(1)[1])


def test_list_yields_every_chunk_and_nothing_else(store: Store) -> None:
    names = set()
    for seed in range(20):
        data, name = stored_chunk(100 + seed, seed)
        put(store.backend, data, name)
        names.add(name)
    assert set(store.backend.list()) == names


def test_quarantine_takes_a_chunk_out_of_service(store: Store) -> None:
    data, name = stored_chunk(500)
    put(store.backend, data, name)
    store.backend.quarantine(name)
    assert not store.backend.exists(name)
    assert list(store.backend.list()) == []


# -- one file's chunks: list_file and delete_file ----------------------------------------------------


def _store_file(backend: Backend, file: str, count: int, seed: int = 0) -> list[str]:
    names = []
    for i in range(count):
        data, name = stored_chunk(100 + i, seed + i, file=file)
        put(backend, data, name)
        names.append(name)
    return names


def test_list_file_yields_that_files_chunks_and_no_other(store: Store) -> None:
    mine = _store_file(store.backend, FILE, 3)
    theirs = _store_file(store.backend, OTHER_FILE, 2, seed=10)
    assert sorted(store.backend.list_file(FILE)) == sorted(mine)
    assert sorted(store.backend.list_file(OTHER_FILE)) == sorted(theirs)
    assert sorted(store.backend.list()) == sorted(mine + theirs)


def test_file_sizes_gives_each_chunk_of_that_file_with_its_size_and_no_other(store: Store) -> None:
    small, small_name = stored_chunk(10, seed=1)
    large, large_name = stored_chunk(3000, seed=2)
    put(store.backend, small, small_name)
    put(store.backend, large, large_name)
    _store_file(store.backend, OTHER_FILE, 2, seed=10)
    assert store.backend.file_sizes(FILE) == {small_name: 10, large_name: 3000}
    assert store.backend.file_sizes("0f11e000-0000-4000-8000-000000000003") == {}


def test_file_sizes_takes_the_sizes_from_the_listing_not_a_lookup_per_chunk(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every put of a pending upload counts its file: one stat (or HEAD) per chunk would make that quadratic."""
    names = _store_file(store.backend, FILE, 3)

    def no_lookup(name: str) -> None:
        raise AssertionError(f"file_sizes looked {name} up one by one")

    monkeypatch.setattr(store.backend, "_stat", no_lookup)
    assert sorted(store.backend.file_sizes(FILE)) == sorted(names)


def test_list_file_of_a_file_with_no_chunks_is_empty(store: Store) -> None:
    _store_file(store.backend, OTHER_FILE, 1)
    assert list(store.backend.list_file(FILE)) == []


def test_the_same_bytes_in_two_files_are_two_chunks(store: Store) -> None:
    data, mine = stored_chunk(1000, file=FILE)
    _, theirs = stored_chunk(1000, file=OTHER_FILE)
    assert put(store.backend, data, mine) is True
    assert put(store.backend, data, theirs) is True
    assert sorted(store.backend.list()) == sorted([mine, theirs])


def test_delete_file_removes_every_chunk_of_the_file_and_says_how_many(store: Store) -> None:
    names = _store_file(store.backend, FILE, 3)
    assert store.backend.delete_file(FILE) == 3
    assert list(store.backend.list_file(FILE)) == []
    assert not any(store.backend.exists(name) for name in names)
    assert list(store.backend.list()) == [] and store.leftovers() == []


def test_delete_file_of_a_file_with_no_chunks_returns_zero_and_repeats_are_harmless(store: Store) -> None:
    assert store.backend.delete_file(FILE) == 0
    _store_file(store.backend, FILE, 2)
    assert store.backend.delete_file(FILE) == 2
    assert store.backend.delete_file(FILE) == 0


def test_deleting_one_files_chunks_leaves_another_files_identical_chunk_untouched(store: Store) -> None:
    data, mine = stored_chunk(BLOCK_SIZE + 10, file=FILE)
    _, theirs = stored_chunk(BLOCK_SIZE + 10, file=OTHER_FILE)
    put(store.backend, data, mine)
    put(store.backend, data, theirs)
    assert store.backend.delete_file(FILE) == 1
    assert not store.backend.exists(mine)
    assert list(store.backend.list()) == [theirs]
    assert b"".join(store.backend.open(theirs)) == data


def test_delete_file_also_removes_the_files_quarantined_copies(store: Store) -> None:
    bad, good = _store_file(store.backend, FILE, 2)
    store.backend.quarantine(bad)
    assert store.backend.delete_file(FILE) == 1  # the quarantined copy is not a chunk any more
    assert list(store.backend.list()) == [] and store.leftovers() == []


def test_a_chunk_stored_again_after_delete_file_is_a_new_chunk(store: Store) -> None:
    data, name = stored_chunk(500)
    put(store.backend, data, name)
    store.backend.delete_file(FILE)
    assert put(store.backend, data, name) is True
    assert list(store.backend.list_file(FILE)) == [name]


@pytest.mark.parametrize("bad_id", ["", "../etc", "a" * 64, FILE.upper(), f"{FILE}/", f"{FILE}/{HASH}", "tmp"])
def test_file_verbs_refuse_an_invalid_file_id_before_the_backend_runs(store: Store, bad_id: str) -> None:
    for call in (
        lambda: list(store.backend.list_file(bad_id)),
        lambda: store.backend.delete_file(bad_id),
        lambda: store.backend.file_sizes(bad_id),
    ):
        with pytest.raises(ProtocolError) as caught:
            call()
        assert caught.value.status == 400


# -- refused uploads leave nothing behind ----------------------------------------------------------


def test_put_with_wrong_hash_leaves_nothing_stored(store: Store) -> None:
    data, _ = stored_chunk(2 * BLOCK_SIZE)
    wrong = stored_chunk(10, seed=9)[1]
    with pytest.raises(HashMismatch):
        store.backend.put(wrong, io.BytesIO(data), len(data))
    assert not store.backend.exists(wrong)
    assert list(store.backend.list()) == []
    assert store.leftovers() == []


def test_short_body_leaves_nothing_stored(store: Store) -> None:
    data, name = stored_chunk(1000)
    with pytest.raises(SizeMismatch, match="ended after 1000 of the 2000"):
        put(store.backend, data, name, size=2000)
    assert list(store.backend.list()) == [] and store.leftovers() == []


def test_long_body_is_refused(store: Store) -> None:
    data, name = stored_chunk(1000)
    with pytest.raises(SizeMismatch, match="longer"):
        store.backend.put(name, io.BytesIO(data + b"extra"), len(data))
    assert list(store.backend.list()) == [] and store.leftovers() == []


def test_body_whose_connection_drops_leaves_nothing_stored(store: Store) -> None:
    data, name = stored_chunk(BLOCK_SIZE + 10)
    with pytest.raises(SizeMismatch, match="ConnectionResetError"):
        store.backend.put(name, Failing(data[:5000]), len(data))
    assert list(store.backend.list()) == [] and store.leftovers() == []


def test_body_that_stalls_is_refused_as_timed_out_and_leaves_nothing_stored(store: Store) -> None:
    data, name = stored_chunk(BLOCK_SIZE + 10)
    with pytest.raises(BodyStalled, match="stopped arriving after 5000 of") as refused:
        store.backend.put(name, Failing(data[:5000], TimeoutError("timed out")), len(data))
    assert (refused.value.status, refused.value.code) == (408, "body_timeout")
    assert list(store.backend.list()) == [] and store.leftovers() == []


BAD_NAMES = [
    HASH,  # a bare hash: every chunk belongs to a file
    f"{FILE}/{'A' * 64}",
    f"{FILE}/{'a' * 63}",
    f"{FILE}/{'g' * 64}",
    f"{FILE.upper()}/{HASH}",
    f"{FILE}/{HASH}/{HASH}",
    f"../{FILE}/{HASH}",
    f"{FILE}/../{HASH}",
    f"../../{HASH}",
    f"/{HASH}",
    f"{FILE}/",
    f"{FILE}",
    f"tmp/{HASH}",
    f"quarantine/{HASH}",
    "",
    "..",
]


@pytest.mark.parametrize("bad_name", BAD_NAMES)
def test_invalid_names_are_refused_before_the_backend_runs(store: Store, bad_name: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.backend.put(bad_name, io.BytesIO(b""), 0),
        lambda: store.backend.open(bad_name),
        lambda: store.backend.exists(bad_name),
        lambda: store.backend.stat(bad_name),
        lambda: store.backend.delete(bad_name),
        lambda: store.backend.quarantine(bad_name),
    ]
    for call in calls:
        with pytest.raises(ProtocolError) as caught:
            call()
        assert caught.value.status == 400
    assert store.leftovers() == []


# -- concurrency ---------------------------------------------------------------------------------------


def _in_threads(calls: list[Callable[[], bool]]) -> list[bool]:
    results: list[bool] = []
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], bool]) -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_puts_of_one_chunk_store_it_once_and_create_it_once(store: Store) -> None:
    if store.backend.kind == "gcs":
        pytest.skip("gcp-storage-emulator ignores ifGenerationMatch=0; create-only is proven on S3 and Azure")
    data, name = stored_chunk(BLOCK_SIZE * 2)
    results = _in_threads([lambda: put(store.backend, data, name) for _ in range(8)])
    assert sorted(results) == [False] * 7 + [True]
    assert list(store.backend.list()) == [name]
    assert b"".join(store.backend.open(name)) == data
    assert store.leftovers() == []


def test_concurrent_puts_of_different_chunks_all_land(store: Store) -> None:
    chunks = [stored_chunk(50_000 + i, seed=i) for i in range(12)]
    results = _in_threads([lambda d=d, n=n: put(store.backend, d, n) for d, n in chunks])  # type: ignore[misc]
    assert results == [True] * 12
    assert set(store.backend.list()) == {n for _, n in chunks}
    for data, name in chunks:
        assert b"".join(store.backend.open(name)) == data


# -- the local backend's own promises -------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / "chunks")


def _path(local: LocalBackend, name: str) -> Path:
    file_id, chunk_hash = name.split("/")
    return local.root / file_id[:2] / file_id / chunk_hash


def test_local_backend_keeps_a_files_chunks_in_one_directory_fanned_out_by_file_id(local: LocalBackend) -> None:
    data, name = stored_chunk(10)
    put(local, data, name)
    assert (local.root / FILE[:2] / FILE / name.split("/")[1]).read_bytes() == data


def test_local_backend_replaces_a_damaged_copy_on_reupload(local: LocalBackend) -> None:
    data, name = stored_chunk(1000)
    put(local, data, name)
    path = _path(local, name)
    path.write_bytes(b"rot" + data[3:])
    assert put(local, data, name) is True
    assert path.read_bytes() == data


def test_local_cleanup_removes_only_stale_temp_files(local: LocalBackend) -> None:
    tmp = local.root / "tmp"
    (tmp / "old.part").write_bytes(b"x")
    (tmp / "new.part").write_bytes(b"y")
    old = time.time() - 7200
    os.utime(tmp / "old.part", (old, old))
    assert local.cleanup(older_than=3600) == 1
    assert os.listdir(tmp) == ["new.part"]
    assert local.cleanup(older_than=0) == 1


def test_local_quarantine_keeps_the_bad_copy_for_inspection_under_its_file(local: LocalBackend) -> None:
    data, name = stored_chunk(10)
    put(local, data, name)
    local.quarantine(name)
    [kept] = os.listdir(local.root / "quarantine" / FILE)
    assert kept.startswith(name.split("/")[1] + ".")


def test_local_delete_file_removes_the_quarantined_copies_and_the_files_directory(local: LocalBackend) -> None:
    names = [stored_chunk(10, seed)[1] for seed in range(2)]
    for seed, name in enumerate(names):
        put(local, stored_chunk(10, seed)[0], name)
    local.quarantine(names[0])
    assert local.delete_file(FILE) == 1
    assert not (local.root / FILE[:2] / FILE).exists()
    assert not (local.root / "quarantine" / FILE).exists()


def test_local_list_skips_foreign_files(local: LocalBackend) -> None:
    data, name = stored_chunk(10)
    put(local, data, name)
    (local.root / "zz").mkdir()
    (local.root / "zz" / "README").write_text("not a chunk")
    (_path(local, name).parent / "notes.txt").write_text("not a chunk")
    (local.root / FILE[:2] / "not-a-file-id").mkdir()
    (local.root / "ff" / FILE).mkdir(parents=True)  # a file id under the wrong fan-out directory
    (local.root / "ff" / FILE / name.split("/")[1]).write_bytes(data)
    assert list(local.list()) == [name]
    assert list(local.list_file(FILE)) == [name]


def test_local_delete_file_keeps_a_directory_that_holds_a_foreign_file(local: LocalBackend) -> None:
    """Something that is not a chunk is not ours to delete: the chunks go, the directory and it stay."""
    data, name = stored_chunk(10)
    put(local, data, name)
    (_path(local, name).parent / "notes.txt").write_text("an administrator's note")
    assert local.delete_file(FILE) == 1
    assert os.listdir(local.root / FILE[:2] / FILE) == ["notes.txt"]


def test_local_put_racing_delete_file_recreates_the_files_directory(
    local: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delete_file may remove the file's emptied directory between a put's mkdir and its link; the put still lands."""
    data, name = stored_chunk(10)
    make_parents = local._make_parents
    raced: list[bool] = []

    def then_removed(final: Path) -> list[Path]:
        changed = make_parents(final)
        if not raced:
            raced.append(True)
            final.parent.rmdir()
        return changed

    monkeypatch.setattr(local, "_make_parents", then_removed)
    assert put(local, data, name) is True
    assert raced and _path(local, name).read_bytes() == data


class _Forgetful(LocalBackend):
    """A backend whose bulk delete acknowledges but deletes nothing, as a misbehaving service might."""

    def _delete_file(self, file_id: str) -> int:
        return 0


def test_delete_file_that_leaves_a_chunk_behind_fails_with_storage_unavailable(tmp_path: Path) -> None:
    backend = _Forgetful(tmp_path / "chunks")
    data, name = stored_chunk(10)
    put(backend, data, name)
    with pytest.raises(StorageUnavailable, match="1 chunk\\(s\\) are still listed"):
        backend.delete_file(FILE)


def test_local_reports_free_space_and_one_volume_per_disk(tmp_path: Path) -> None:
    a, b = LocalBackend(tmp_path / "a"), LocalBackend(tmp_path / "b")
    assert a.free_bytes() > 0
    assert a.volume() == b.volume()


# -- the registry ---------------------------------------------------------------------------------------


def test_registry_knows_every_backend() -> None:
    assert known_kinds() == ["azure", "gcs", "local", "s3"]
    assert backend_class("local") is LocalBackend
    assert {backend_class(kind).kind for kind in known_kinds()} == set(known_kinds())


def test_unknown_backend_error_names_the_known_ones() -> None:
    with pytest.raises(BackendUnavailable, match="unknown storage backend 'floppy'; known: azure, gcs, local, s3"):
        backend_class("floppy")
