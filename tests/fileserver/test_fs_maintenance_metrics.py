"""The agent's background jobs count the storage failures they meet: purge, scrub and write-back flush."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from coffer.fileserver.errors import StorageUnavailable
from coffer.fileserver.maintenance.flusher import Flusher
from coffer.fileserver.maintenance.purger import Purger
from coffer.fileserver.maintenance.scrub import Scrubber
from coffer.fileserver.reports import CorruptReports
from coffer.fileserver.settings import Settings
from coffer.fileserver.shards import ServedShard, Shards
from coffer.protocol.messages import FilePurge
from tests.fileserver.fs_helpers import FILE, stored_chunk

OUTAGE = StorageUnavailable("the storage failed (EIO); try again")


def errors(job: str, backend: str) -> float:
    labels = {"job": job, "backend": backend}
    return REGISTRY.get_sample_value("coffer_maintenance_backend_errors_total", labels) or 0.0


@pytest.fixture
def shards(settings: Settings) -> list[ServedShard]:
    return list(Shards.open(settings))


def fail(*args: object, **kwargs: object) -> None:
    raise OUTAGE


def test_a_purge_the_storage_fails_is_counted_once_per_attempt(
    shards: list[ServedShard], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shards[0].backend, "delete_file", fail)
    before = errors("purge", "local")
    purger = Purger(shards)
    for _ in range(2):  # the server repeats an unconfirmed order: each attempt that fails counts
        purger.order([FilePurge("default", FILE)])
        purger.run_pending()
    assert errors("purge", "local") == before + 2


def test_a_scrub_pass_the_storage_fails_is_counted_and_still_fails(
    shards: list[ServedShard], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, name = stored_chunk(1000)
    shards[0].backend.put(name, io.BytesIO(data), len(data))
    monkeypatch.setattr(shards[0].backend, "list", fail)
    before = errors("scrub", "local")
    scrub = Scrubber(shards, CorruptReports(), rate=10**12, interval=3600, data_dir=settings.data_dir, first_delay=0)
    with pytest.raises(StorageUnavailable):
        scrub.scrub_pass(threading.Event())
    assert errors("scrub", "local") == before + 1


class QueueOnACloudThatIsDown:
    """A write-back cache whose cloud refuses every upload: what the flusher meets in an outage."""

    write_back = True
    kind = "s3"
    inner = SimpleNamespace(kind="s3")

    def pending(self) -> list[str]:
        return ["queued"]

    def flush(self, name: str) -> int:
        raise OUTAGE


def test_a_flush_the_cloud_refuses_is_counted(tmp_path: Path) -> None:
    before = errors("flush", "s3")
    assert Flusher([QueueOnACloudThatIsDown()]).flush_all() == 0  # type: ignore[list-item]
    assert errors("flush", "s3") == before + 1
