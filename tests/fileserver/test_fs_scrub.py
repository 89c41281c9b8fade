"""The background scrub: damaged chunks are found, taken out of service and reported; pace is kept."""

from __future__ import annotations

import io
import json
import stat
import threading
from pathlib import Path

import pytest

from coffer.fileserver.maintenance.scrub import Pacer, Scrubber
from coffer.fileserver.reports import CorruptReports
from coffer.fileserver.settings import Settings
from coffer.fileserver.shards import ServedShard, Shards
from coffer.fileserver.storage.local import LocalBackend
from tests.fileserver.fs_helpers import FILE, stored_chunk


@pytest.fixture
def shards(settings: Settings) -> list[ServedShard]:
    return list(Shards.open(settings))


def store(shard: ServedShard, count: int, size: int = 1000) -> list[str]:
    names = []
    for i in range(count):
        data, name = stored_chunk(size, seed=i)
        shard.backend.put(name, io.BytesIO(data), len(data))
        names.append(name)
    return names


def rot(shard: ServedShard, name: str) -> None:
    backend = shard.backend
    assert isinstance(backend, LocalBackend)
    file_id, chunk_hash = name.split("/")
    path = backend.root / file_id[:2] / file_id / chunk_hash
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def scrubber(shards: list[ServedShard], reports: CorruptReports, data_dir: Path, rate: int = 10**12) -> Scrubber:
    return Scrubber(shards, reports, rate=rate, interval=3600, data_dir=data_dir, first_delay=0.0)


def test_scrub_quarantines_a_damaged_chunk_and_queues_a_report(shards: list[ServedShard], settings: Settings) -> None:
    names = store(shards[0], 5)
    rot(shards[0], names[2])
    reports = CorruptReports()
    result = scrubber(shards, reports, settings.data_dir).scrub_pass(threading.Event())
    assert (result.checked, result.corrupt, result.bytes, result.complete) == (5, 1, 5000, True)
    assert not shards[0].backend.exists(names[2])
    assert sorted(shards[0].backend.list()) == sorted(names[:2] + names[3:])
    assert reports.take() == [("default", FILE, names[2].split("/")[1])]


def test_scrub_leaves_intact_chunks_alone(shards: list[ServedShard], settings: Settings) -> None:
    names = store(shards[0], 3)
    reports = CorruptReports()
    result = scrubber(shards, reports, settings.data_dir).scrub_pass(threading.Event())
    assert result.corrupt == 0 and len(reports) == 0
    assert sorted(shards[0].backend.list()) == sorted(names)


def test_scrub_stops_promptly_when_asked(shards: list[ServedShard], settings: Settings) -> None:
    store(shards[0], 3)
    stop = threading.Event()
    stop.set()
    result = scrubber(shards, CorruptReports(), settings.data_dir).scrub_pass(stop)
    assert not result.complete and result.checked == 0


def test_scrub_run_records_its_pass_and_waits_for_the_interval(shards: list[ServedShard], settings: Settings) -> None:
    store(shards[0], 1)
    scrub = scrubber(shards, CorruptReports(), settings.data_dir)
    assert scrub.due_in() == 0.0  # never scrubbed: first_delay
    stop = threading.Event()
    thread = threading.Thread(target=scrub.run, args=(stop,))
    thread.start()
    for _ in range(200):
        if (settings.data_dir / "scrub.json").exists():
            break
        stop.wait(0.01)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert json.loads((settings.data_dir / "scrub.json").read_text())["last_pass"] > 0
    assert stat.S_IMODE((settings.data_dir / "scrub.json").stat().st_mode) == 0o600, "state is the fileserver's alone"
    assert 3500 < scrub.due_in() <= 3600


def test_scrub_with_rate_zero_does_nothing(shards: list[ServedShard], settings: Settings) -> None:
    scrub = scrubber(shards, CorruptReports(), settings.data_dir, rate=0)
    scrub.run(threading.Event())  # returns at once
    assert not (settings.data_dir / "scrub.json").exists()


def test_pacer_holds_the_rate() -> None:
    pacer = Pacer(rate=1000, now=0.0)
    assert pacer.pause_after(500, now=0.0) == 0.5
    assert pacer.pause_after(500, now=0.5) == 0.5
    assert pacer.pause_after(1000, now=4.0) == 0.0  # 2 s behind (a slow disk): no burst, the schedule moves
    assert pacer.pause_after(1000, now=4.0) == 1.0


def test_scrub_hashes_at_the_configured_pace(shards: list[ServedShard], settings: Settings) -> None:
    store(shards[0], 1, size=200_000)
    ticks = iter(range(1000))
    scrub = Scrubber(
        shards, CorruptReports(), rate=100_000, interval=1, data_dir=settings.data_dir, monotonic=lambda: 0.0
    )
    waits: list[float] = []

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            next(ticks)
            return False

    scrub.scrub_pass(Recorder())
    assert sum(waits) == pytest.approx(2.0)  # 200 kB at 100 kB/s
