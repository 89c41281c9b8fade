"""The purge worker: carries out the server's orders beside the heartbeat, and confirms only what it verified."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest

from coffer.fileserver.errors import StorageUnavailable
from coffer.fileserver.maintenance.purger import Purger
from coffer.fileserver.settings import Settings
from coffer.fileserver.shards import ServedShard, Shards
from coffer.protocol.messages import MAX_PURGES, FilePurge
from tests.fileserver.fs_helpers import FILE, OTHER_FILE, stored_chunk


@pytest.fixture
def shards(settings: Settings) -> list[ServedShard]:
    """default (read-write), archive (read-only) and inbox (write-only), all on local disk."""
    return list(Shards.open(settings))


def store(shard: ServedShard, count: int, file: str = FILE, seed: int = 0) -> list[str]:
    names = []
    for i in range(count):
        data, name = stored_chunk(100, seed + i, file=file)
        shard.backend.put(name, io.BytesIO(data), len(data))
        names.append(name)
    return names


def kv(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, object]]:
    return [r.kv for r in caplog.records if r.getMessage() == message]  # type: ignore[attr-defined]


def test_a_purge_deletes_the_files_chunks_and_awaits_confirmation(shards: list[ServedShard]) -> None:
    store(shards[0], 3)
    store(shards[0], 2, file=OTHER_FILE)
    purger = Purger(shards)
    assert purger.order([FilePurge("default", FILE)]) == 1
    assert purger.run_pending() == 1
    assert list(shards[0].backend.list_file(FILE)) == []
    assert len(list(shards[0].backend.list_file(OTHER_FILE))) == 2
    assert purger.take() == [FilePurge("default", FILE)]


def test_a_purge_is_not_confirmed_before_it_has_run(shards: list[ServedShard]) -> None:
    store(shards[0], 1)
    purger = Purger(shards)
    purger.order([FilePurge("default", FILE)])
    assert purger.take() == [] and len(purger) == 1


def test_a_purge_reaches_read_only_and_write_only_shards_too(shards: list[ServedShard]) -> None:
    for shard in shards:
        store(shard, 2)
    purger = Purger(shards)
    purger.order([FilePurge(shard.name, FILE) for shard in shards])
    assert purger.run_pending() == 3
    assert all(list(shard.backend.list_file(FILE)) == [] for shard in shards)
    assert sorted(p.shard for p in purger.take()) == ["archive", "default", "inbox"]


def test_a_purge_of_a_shard_not_served_here_is_confirmed_at_once(shards: list[ServedShard]) -> None:
    purger = Purger(shards)
    purger.order([FilePurge("elsewhere", FILE)])
    assert purger.run_pending() == 1
    assert purger.take() == [FilePurge("elsewhere", FILE)]


def test_a_purge_of_a_file_with_no_chunks_here_is_confirmed(shards: list[ServedShard]) -> None:
    purger = Purger(shards)
    purger.order([FilePurge("default", FILE)])
    purger.run_pending()
    assert purger.take() == [FilePurge("default", FILE)]


def test_orders_queued_in_progress_or_awaiting_confirmation_are_not_queued_again(shards: list[ServedShard]) -> None:
    purger = Purger(shards)
    order = FilePurge("default", FILE)
    assert purger.order([order, order]) == 1  # queued
    assert purger.order([order]) == 0
    purger.run_pending()
    assert purger.order([order]) == 0  # done, awaiting confirmation
    taken = purger.take()
    assert purger.order([order]) == 0  # being sent
    purger.delivered(taken)
    assert purger.order([order]) == 1  # the server ordered it again after the confirmation: idempotent, redo


def test_confirmations_a_failed_heartbeat_put_back_go_first_in_the_next(shards: list[ServedShard]) -> None:
    purger = Purger(shards)
    first, second = FilePurge("default", FILE), FilePurge("default", OTHER_FILE)
    purger.order([first])
    purger.run_pending()
    taken = purger.take()
    purger.order([second])
    purger.run_pending()
    purger.put_back(taken)
    assert purger.take() == [first, second]


def test_one_heartbeat_carries_at_most_the_protocols_limit_of_confirmations(shards: list[ServedShard]) -> None:
    purger = Purger(shards)
    purger.order([FilePurge(f"s{i}", FILE) for i in range(MAX_PURGES + 5)])
    purger.run_pending()
    assert len(purger.take()) == MAX_PURGES and len(purger.take()) == 5


def test_a_failed_purge_is_logged_once_and_retried_when_the_order_comes_again(
    shards: list[ServedShard], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store(shards[0], 2)
    backend = shards[0].backend
    real = backend.delete_file
    outage = [True]

    def delete_file(file_id: str) -> int:
        if outage[0]:
            raise StorageUnavailable("deleting the chunks of a file: the storage failed (EIO); try again")
        return real(file_id)

    monkeypatch.setattr(backend, "delete_file", delete_file)
    purger = Purger(shards)
    order = FilePurge("default", FILE)
    with caplog.at_level(logging.INFO, logger="coffer.fileserver.maintenance.purger"):
        for _ in range(3):  # the server repeats an unconfirmed order on every beat
            purger.order([order])
            purger.run_pending()
        assert purger.take() == [] and len(purger) == 0
        outage[0] = False
        purger.order([order])
        purger.run_pending()
    [failure] = kv(caplog, "purge failed; retried when the server repeats the order")
    assert failure == {
        "shard": "default",
        "file": FILE,
        "reason": "deleting the chunks of a file: the storage failed (EIO); try again",
    }
    assert purger.take() == [order]
    assert list(backend.list_file(FILE)) == []


def test_each_purge_logs_one_line_with_shard_file_and_chunks_deleted(
    shards: list[ServedShard], caplog: pytest.LogCaptureFixture
) -> None:
    store(shards[0], 3)
    purger = Purger(shards, monotonic=lambda: 0.0)
    with caplog.at_level(logging.INFO, logger="coffer.fileserver.maintenance.purger"):
        purger.order([FilePurge("default", FILE)])
        purger.run_pending()
    assert kv(caplog, "purged file") == [{"shard": "default", "file": FILE, "chunks": 3, "ms": 0}]


def test_a_bug_in_a_purge_is_logged_and_the_worker_goes_on(
    shards: list[ServedShard], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store(shards[0], 1, file=OTHER_FILE)
    purger = Purger(shards, poll_interval=0.01)

    def broken(file_id: str) -> int:
        raise KeyError("surprise")

    monkeypatch.setattr(shards[1].backend, "delete_file", broken)
    purger.order([FilePurge("archive", FILE), FilePurge("default", OTHER_FILE)])
    stop = threading.Event()
    worker = threading.Thread(target=purger.run, args=(stop,))
    with caplog.at_level(logging.ERROR, logger="coffer.fileserver.maintenance.purger"):
        worker.start()
        _wait_until(lambda: len(purger) == 0)
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert purger.take() == [FilePurge("default", OTHER_FILE)]
    assert sum(bool(r.exc_info) for r in caplog.records) == 1


def test_the_worker_thread_carries_out_orders_as_they_arrive_and_stops_when_told(shards: list[ServedShard]) -> None:
    store(shards[0], 2)
    purger = Purger(shards, poll_interval=0.01)
    stop = threading.Event()
    worker = threading.Thread(target=purger.run, args=(stop,))
    worker.start()
    purger.order([FilePurge("default", FILE)])
    _wait_until(lambda: bool(purger.take()))
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert list(shards[0].backend.list_file(FILE)) == []


def _wait_until(done: object, timeout: float = 5.0) -> None:
    assert callable(done)
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
