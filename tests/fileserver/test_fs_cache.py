"""The local cache in front of a cloud backend: capacity, damaged copies, the write-back queue and its flusher.

The shared contract (every verb, refused bodies leave nothing) runs on the cache in
test_fs_storage.py; these pin what only a cache promises, on moto's S3 server.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from coffer.fileserver.maintenance.flusher import Flusher
from coffer.fileserver.maintenance.scrub import Scrubber
from coffer.fileserver.reports import CorruptReports
from coffer.fileserver.settings import settings_from_table
from coffer.fileserver.shards import ServedShard, Shards
from coffer.fileserver.storage.cache import CachedBackend
from coffer.fileserver.storage.cachedir import flat
from coffer.fileserver.storage.s3 import S3Backend
from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import ShardAnnouncement, parse_shards
from coffer.protocol.settings import SettingsError
from tests.backends.s3_emulator import MotoEmulator
from tests.fileserver.fs_helpers import FILE, OTHER_FILE, stored_chunk
from tests.fileserver.test_fs_settings import table

pytestmark = pytest.mark.slow
CHUNK = 100_000


def _s3(emulator: MotoEmulator, bucket: str) -> S3Backend:
    return S3Backend(emulator.options(bucket), shard="default")


@pytest.fixture
def bucket(s3_emulator: MotoEmulator) -> str:
    return s3_emulator.create_bucket()


def make_cache(emulator: MotoEmulator, bucket: str, root: Path, capacity: int, write_back: bool) -> CachedBackend:
    return CachedBackend(_s3(emulator, bucket), root, capacity, write_back)


def put(backend: Any, data: bytes, name: str) -> bool:
    created: bool = backend.put(name, io.BytesIO(data), len(data))
    return created


def read(backend: CachedBackend, name: str) -> bytes:
    with backend.open(name) as stream:
        return b"".join(stream)


# -- the read cache ------------------------------------------------------------------------------------


def test_cache_stays_within_capacity_under_reads_bigger_than_it(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    """Reading 12 chunks through a cache that holds 3 never lets it grow past 3, and keeps the newest."""
    cloud = _s3(s3_emulator, bucket)
    chunks = [stored_chunk(CHUNK, seed) for seed in range(12)]
    for data, name in chunks:
        put(cloud, data, name)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 3 * CHUNK + 10, write_back=False)
    for data, name in chunks:
        assert read(cache, name) == data
        assert cache.stats().cached_bytes <= cache.capacity
        time.sleep(0.01)  # distinct mtimes: recency is the file's mtime
    assert sorted(cache.files.chunks(cache.files.cache)) == sorted(name for _, name in chunks[-3:])


def test_a_hit_refreshes_recency_so_the_oldest_unused_chunk_is_evicted(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    cloud = _s3(s3_emulator, bucket)
    (a, na), (b, nb), (c, nc) = chunks = [stored_chunk(CHUNK, seed) for seed in range(3)]
    for data, name in chunks:
        put(cloud, data, name)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 2 * CHUNK, write_back=False)
    for name in (na, nb, na, nc):  # a is used again after b, so b is the least recently used
        read(cache, name)
        time.sleep(0.01)
    assert sorted(cache.files.chunks(cache.files.cache)) == sorted([na, nc])


def test_a_damaged_cache_file_is_dropped_and_refetched_never_served(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    data, name = stored_chunk(CHUNK)
    put(_s3(s3_emulator, bucket), data, name)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=False)
    assert read(cache, name) == data
    cached = cache.files.cached(name)
    cached.write_bytes(b"rot" + data[3:])
    assert read(cache, name) == data
    assert cached.read_bytes() == data  # the refetched copy replaced the damaged one


def test_a_chunk_larger_than_the_cache_is_served_but_not_kept(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    data, name = stored_chunk(CHUNK)
    put(_s3(s3_emulator, bucket), data, name)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", CHUNK - 1, write_back=False)
    assert read(cache, name) == data
    assert os.listdir(cache.files.cache) == [] and os.listdir(cache.files.tmp) == []


def test_write_through_put_is_in_the_cloud_when_acknowledged(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    data, name = stored_chunk(CHUNK)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=False)
    assert put(cache, data, name) is True
    assert b"".join(_s3(s3_emulator, bucket).open(name)) == data
    assert cache.pending() == []


def test_hits_and_misses_are_counted_in_a_file_the_agent_reads(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    data, name = stored_chunk(CHUNK)
    put(_s3(s3_emulator, bucket), data, name)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=False)
    read(cache, name)  # the first event writes the counter file at once
    assert cache.stats().misses == 1
    assert cache.stats().hit_ratio == 0.0


# -- write-back ------------------------------------------------------------------------------------------


def test_write_back_acknowledges_from_pending_and_the_flush_moves_it_to_the_cloud(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    data, name = stored_chunk(CHUNK)
    cloud = _s3(s3_emulator, bucket)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=True)
    assert put(cache, data, name) is True
    assert cache.pending() == [name] and not cloud.exists(name)
    assert read(cache, name) == data and cache.exists(name) and list(cache.list()) == [name]
    assert cache.stats().pending == 1
    assert Flusher([cache]).flush_all() == 1
    assert cache.pending() == [] and b"".join(cloud.open(name)) == data
    assert os.listdir(cache.files.cache) == [flat(name)]  # the uploaded copy now serves reads


def test_queued_chunks_are_never_evicted(s3_emulator: MotoEmulator, bucket: str, tmp_path: Path) -> None:
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", CHUNK, write_back=True)
    chunks = [stored_chunk(CHUNK, seed) for seed in range(4)]
    for data, name in chunks:
        put(cache, data, name)
    assert sorted(cache.pending()) == sorted(n for _, n in chunks)


def test_delete_of_a_queued_chunk_removes_it_everywhere(s3_emulator: MotoEmulator, bucket: str, tmp_path: Path) -> None:
    data, name = stored_chunk(CHUNK)
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=True)
    put(cache, data, name)
    cache.delete(name)
    assert cache.pending() == [] and not cache.exists(name)
    assert Flusher([cache]).flush_all() == 0


def test_delete_file_drops_the_files_queued_chunks_so_the_flusher_never_uploads_them(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=True)
    for seed in range(3):
        put(cache, *stored_chunk(CHUNK, seed))
    other = stored_chunk(CHUNK, 0, file=OTHER_FILE)  # the same bytes, another file
    put(cache, *other)
    assert cache.delete_file(FILE) == 3
    assert cache.pending() == [other[1]]
    assert Flusher([cache]).flush_all() == 1
    assert list(_s3(s3_emulator, bucket).list()) == [other[1]]


def test_delete_file_removes_the_files_cached_copies_and_its_cloud_objects(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=False)
    for seed in range(2):
        put(cache, *stored_chunk(CHUNK, seed))
    other = stored_chunk(CHUNK, 0, file=OTHER_FILE)
    put(cache, *other)
    assert len(list(cache.files.chunks(cache.files.cache))) == 3
    assert cache.delete_file(FILE) == 2
    assert list(cache.files.chunks(cache.files.cache)) == [other[1]]
    assert list(_s3(s3_emulator, bucket).list()) == [other[1]]
    assert read(cache, other[1]) == other[0]


def test_a_chunk_uploading_while_its_file_is_deleted_is_removed_from_the_cloud_by_the_flusher(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    """The documented window: the purge lands mid-upload; the flusher sees its queue entry gone and deletes."""
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=True)
    data, name = stored_chunk(CHUNK)
    put(cache, data, name)
    upload = cache.inner._put
    purged: list[int] = []

    def purge_midway(chunk: str, reader: Any) -> bool:
        purged.append(cache.delete_file(FILE))  # the cloud has nothing yet: the purge verifies and confirms
        return upload(chunk, reader)

    cache.inner._put = purge_midway  # type: ignore[method-assign,assignment]
    assert Flusher([cache]).flush_all() == 1
    assert purged == [1]
    assert list(_s3(s3_emulator, bucket).list()) == [] and cache.pending() == []
    assert list(cache.files.chunks(cache.files.cache)) == []


def test_graceful_stop_drains_the_whole_queue(s3_emulator: MotoEmulator, bucket: str, tmp_path: Path) -> None:
    """A flusher told to stop before its first round still uploads every queued chunk before it returns."""
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=True)
    chunks = [stored_chunk(CHUNK, seed) for seed in range(5)]
    for data, name in chunks:
        put(cache, data, name)
    stop = threading.Event()
    stop.set()
    Flusher([cache], interval=0.05).run(stop)
    assert cache.pending() == []
    cloud = _s3(s3_emulator, bucket)
    assert all(b"".join(cloud.open(name)) == data for data, name in chunks)


def test_drain_that_runs_out_of_time_logs_what_is_left(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=True)
    for seed in range(3):
        put(cache, *stored_chunk(CHUNK, seed))
    with caplog.at_level(logging.WARNING):
        assert Flusher([cache], drain_timeout=0).drain() == 3
    assert "write-back queue not empty" in caplog.text
    assert len(cache.pending()) == 3


def _flush_slowly(endpoint_bucket: tuple[dict[str, Any], str, str]) -> None:
    """In a child process: flush the queue at one chunk per 0.3 s, forever (the parent kills it)."""
    options, bucket, root = endpoint_bucket
    from coffer.fileserver.storage.s3 import S3Options

    inner = S3Backend(S3Options(**options), shard="default")
    original = inner._put

    def slow(name: str, reader: Any) -> bool:
        time.sleep(0.3)
        return original(name, reader)

    inner._put = slow  # type: ignore[method-assign]
    Flusher([CachedBackend(inner, Path(root), 10 * CHUNK, True)], interval=0.05).run(threading.Event())


def test_write_back_queue_survives_a_sigkill_mid_flush_and_drains_in_a_new_flusher(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    root = tmp_path / "cache"
    cache = make_cache(s3_emulator, bucket, root, 10 * CHUNK, write_back=True)
    chunks = [stored_chunk(CHUNK, seed) for seed in range(8)]
    for data, name in chunks:
        put(cache, data, name)
    options = {k: getattr(s3_emulator.options(bucket), k) for k in s3_emulator.options(bucket).__dataclass_fields__}
    child = multiprocessing.get_context("spawn").Process(target=_flush_slowly, args=((options, bucket, str(root)),))
    child.start()
    deadline = time.monotonic() + 30
    while len(cache.pending()) > 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    left = cache.pending()
    assert 0 < len(left) <= 6  # killed mid-queue: some uploaded, some still waiting
    assert Flusher([make_cache(s3_emulator, bucket, root, 10 * CHUNK, True)]).flush_all() == len(left)
    assert cache.pending() == []
    cloud = _s3(s3_emulator, bucket)
    assert sorted(cloud.list()) == sorted(name for _, name in chunks)
    assert all(b"".join(cloud.open(name)) == data for data, name in chunks)


# -- configuration and the heartbeat ---------------------------------------------------------------------


def _cloud_shard(**cache: Any) -> dict[str, Any]:
    return {"name": "archive", "backend": "s3", "bucket": "b", "endpoint_url": "http://127.0.0.1:1"} | cache


def test_cache_keys_wrap_the_cloud_backend_without_its_options_knowing(tmp_path: Path) -> None:
    tbl = table(shards=[_cloud_shard(cache_dir="cache/archive", cache_bytes=1000, write_back=True)])
    tbl["fileserver"] = {"data_dir": str(tmp_path)}
    settings = settings_from_table(tbl, source="fs.toml", environ={})
    [shard] = settings.shards
    assert shard.cache is not None and shard.cache.write_back and shard.cache.cache_bytes == 1000
    [served] = Shards.open(settings)
    assert isinstance(served.backend, CachedBackend) and isinstance(served.backend.inner, S3Backend)
    assert served.backend.files.root == tmp_path / "cache/archive"
    announced = served.announcement(with_free_bytes=False)
    assert (announced.backend, announced.queue_depth, announced.cache_bytes) == ("s3", 0, 0)


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ({"name": "hq", "backend": "local", "cache_dir": "c"}, "only helps in front of a cloud backend"),
        (_cloud_shard(write_back=True), "need 'cache_dir'"),
        (_cloud_shard(cache_dir="c", cache_bytes=0), "'cache_bytes' must be more than 0"),
    ],
)
def test_bad_cache_settings_are_refused(shard: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from_table(table(shards=[shard]), source="fs.toml", environ={})


def test_two_shards_cannot_share_a_cache_dir() -> None:
    shards = [_cloud_shard(cache_dir="c"), _cloud_shard(cache_dir="c") | {"name": "other"}]
    with pytest.raises(SettingsError, match="cache_dir c is used by more than one shard"):
        settings_from_table(table(shards=shards), source="fs.toml", environ={})


def test_cache_figures_are_optional_in_the_shard_announcement() -> None:
    plain = ShardAnnouncement("hq", True, True)
    assert "queue_depth" not in plain.to_json()
    cached = ShardAnnouncement("hq", True, True, "s3", None, queue_depth=2, cache_bytes=10, cache_hits=3)
    assert parse_shards([cached.to_json()]) == [cached]
    with pytest.raises(ProtocolError, match="queue_depth"):
        parse_shards([plain.to_json() | {"queue_depth": -1}])


def test_write_back_takes_uploads_while_the_cloud_is_unreachable(s3_emulator: MotoEmulator, tmp_path: Path) -> None:
    """Nothing listens on the endpoint: the put is still acknowledged from the queue, which waits for the cloud."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inner = S3Backend(s3_emulator.options("gone", endpoint_url=f"http://127.0.0.1:{port}"), shard="default")
    cache = CachedBackend(inner, tmp_path / "cache", 10 * CHUNK, write_back=True)
    data, name = stored_chunk(CHUNK)
    assert put(cache, data, name) is True
    assert cache.pending() == [name] and read(cache, name) == data
    assert Flusher([cache]).flush_all() == 0
    assert cache.pending() == [name]


def test_scrub_of_a_cached_shard_checks_the_cloud_copy_and_quarantines_it(
    s3_emulator: MotoEmulator, bucket: str, tmp_path: Path
) -> None:
    """The scrub reads behind the cache: a damaged object is quarantined, and nothing is pulled into the cache."""
    data, name = stored_chunk(CHUNK)
    cloud = _s3(s3_emulator, bucket)
    put(cloud, data, name)
    s3_emulator.client().put_object(Bucket=bucket, Key=cloud._key(name), Body=b"rot" + data[3:])
    cache = make_cache(s3_emulator, bucket, tmp_path / "cache", 10 * CHUNK, write_back=False)
    reports = CorruptReports()
    scrubber = Scrubber([ServedShard("s", True, True, cache)], reports, rate=10**12, interval=1, data_dir=tmp_path)
    result = scrubber.scrub_pass(threading.Event())
    assert result.corrupt == 1 and reports.take() == [("s", FILE, name.split("/")[1])]
    assert not cloud.exists(name) and os.listdir(cache.files.cache) == []
