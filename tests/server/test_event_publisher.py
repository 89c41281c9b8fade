"""The publishing job against the real NATS JetStream: order, fields, outages, restarts, one publisher at a time.

Each test has a stream of its own (tests/nats_server.py), deleted at the end. The
clock is the harness's, so backoff after an outage passes without sleeping.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from coffer.server.jobs.events import Publisher
from coffer.server.store.db import Database
from tests import nats_server

from .conftest import FakeFileserver, Harness
from .test_lifecycle import _complete_file


@pytest.fixture
def stream() -> Iterator[nats_server.NatsStream]:
    with nats_server.nats_stream() as s:
        yield s


def _harness(database_url: str, stream: nats_server.NatsStream, url: str | None = None) -> Harness:
    return Harness(
        database_url,
        events_url=url or stream.url,
        events_stream=stream.stream,
        events_subject_prefix=stream.prefix,
    )


@pytest.fixture
def harness(database_url: str, stream: nats_server.NatsStream) -> Iterator[Harness]:
    h = _harness(database_url, stream)
    yield h
    h.db.close()


def _outbox_ids(db: Database) -> list[str]:
    with db.transaction(readonly=True) as tx:
        return [r["id"] for r in tx.all("SELECT id FROM event_outbox ORDER BY seq")]


def test_events_arrive_in_order_with_their_fields(
    harness: Harness, fs: FakeFileserver, stream: nats_server.NatsStream
) -> None:
    alice = harness.make_user("alice")
    file_id = _complete_file(harness, alice, fs)
    assert harness.call("DELETE", f"/api/files/{file_id}", token=alice).status_code == 204
    written = _outbox_ids(harness.db)
    publisher = Publisher(harness.db, harness.settings, harness.clock)
    try:
        assert publisher.drain() == len(written) == 6
    finally:
        publisher.stop()
    assert _outbox_ids(harness.db) == []
    got = nats_server.stream_messages(stream.stream)
    assert [msg_id for _, msg_id, _ in got] == written
    bodies = [json.loads(data) for _, _, data in got]
    assert [b["type"] for b in bodies] == [
        "user.created",
        "fileserver.up",
        "user.created",
        "file.created",
        "file.completed",
        "file.deleted",
    ]
    assert [subject for subject, _, _ in got] == [f"{stream.prefix}.{b['type']}" for b in bodies]
    assert [b["id"] for b in bodies] == written
    assert bodies[3]["file"] == file_id and bodies[3]["user"] == "alice" and bodies[3]["size"] == 1024


def test_nats_away_then_back_loses_nothing_and_logs_the_outage_once(
    database_url: str, stream: nats_server.NatsStream, caplog: pytest.LogCaptureFixture
) -> None:
    gate = nats_server.Gate()
    h = _harness(database_url, stream, gate.url)
    publisher = Publisher(h.db, h.settings, h.clock)
    try:
        admin = h.make_user("root", "admin")
        h.apply(admin)
        fs = h.fileserver(admin)
        h.register(fs)
        with caplog.at_level(logging.INFO, logger="coffer.server.jobs.events"):
            assert publisher.run_once() == 0  # NATS away: the attempt fails, backoff starts
            assert publisher.run_once() == 0  # in backoff: no attempt
            h.clock.now += 60
            assert publisher.run_once() == 0  # still away: a second attempt, not a second warning
            _complete_file(h, h.make_user("alice"), fs)
            written = _outbox_ids(h.db)
            assert len(written) == 5  # two accounts, the registration, the file created and completed
            gate.open()
            h.clock.now += 60
            assert publisher.drain() == 5
        messages = [r.getMessage() for r in caplog.records]
        assert messages.count("event publishing paused: NATS unreachable, events wait in the outbox") == 1
        assert messages.count("event publishing resumed") == 1
        assert [msg_id for _, msg_id, _ in nats_server.stream_messages(stream.stream)] == written
    finally:
        publisher.stop()
        gate.close()
        h.db.close()


def test_a_republished_event_is_dropped_by_its_message_id(
    harness: Harness, fs: FakeFileserver, stream: nats_server.NatsStream
) -> None:
    _complete_file(harness, harness.make_user("alice"), fs)
    with harness.db.transaction(readonly=True) as tx:
        rows = tx.all("SELECT id, type, at, body FROM event_outbox ORDER BY seq")
    publisher = Publisher(harness.db, harness.settings, harness.clock)
    try:
        assert publisher.drain() == 5
        # As if the process died after JetStream's acks and before the rows were deleted.
        with harness.db.transaction() as tx:
            for r in rows:
                tx.execute("INSERT INTO event_outbox (id, type, at, body) VALUES (?, ?, ?, ?)", tuple(r.values()))
        assert publisher.drain() == 5
    finally:
        publisher.stop()
    ids = [msg_id for _, msg_id, _ in nats_server.stream_messages(stream.stream)]
    assert ids == [r["id"] for r in rows]


def test_events_written_before_a_restart_are_published_by_the_next_process(
    database_url: str, stream: nats_server.NatsStream
) -> None:
    h = _harness(database_url, stream, "nats://127.0.0.1:1")
    try:
        admin = h.make_user("root", "admin")
        h.apply(admin)
        fs = h.fileserver(admin)
        h.register(fs)
        _complete_file(h, h.make_user("alice"), fs)
        written = _outbox_ids(h.db)
    finally:
        h.db.close()
    again = Database(database_url, outbox=True)
    publisher = Publisher(again, replace(h.settings, events_url=stream.url), h.clock)
    try:
        assert publisher.drain() == len(written) == 5
    finally:
        publisher.stop()
        again.close()
    assert [msg_id for _, msg_id, _ in nats_server.stream_messages(stream.stream)] == written


def test_only_the_lease_holder_publishes(harness: Harness, fs: FakeFileserver) -> None:
    first = Publisher(harness.db, harness.settings, harness.clock)
    second = Publisher(harness.db, harness.settings, harness.clock)
    try:
        assert first.run_once() == 2  # root's account and the fileserver's registration
        _complete_file(harness, harness.make_user("alice"), fs)
        assert second.run_once() == 0
        assert first.drain() == 3
    finally:
        first.stop()
        second.stop()


WORKER = """
import sys, time
from coffer.server.domain import events
from coffer.server.run import make_app, prepare
from coffer.server.settings import ServerSettings

settings = ServerSettings(
    database_url=sys.argv[1], events_url=sys.argv[2], events_stream=sys.argv[3],
    events_subject_prefix=sys.argv[4], lifecycle_interval=0,
)
db = prepare(settings)
db.outbox = True
with db.transaction() as tx:
    events.record(tx, "fileserver.down", time.time(), fileserver="fs-1", reason="lease lapsed")
make_app(settings)
deadline = time.time() + 10
while time.time() < deadline:
    with db.transaction(readonly=True) as tx:
        if tx.one("SELECT COUNT(*) AS n FROM event_outbox")["n"] == 0:
            sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
"""


def test_a_server_worker_with_events_on_publishes_by_itself(tmp_path: Path, stream: nats_server.NatsStream) -> None:
    url = f"sqlite:///{tmp_path / 'coffer.db'}"
    done = subprocess.run(
        [sys.executable, "-c", WORKER, url, stream.url, stream.stream, stream.prefix],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
    )
    assert done.returncode == 0
    [(subject, _, data)] = nats_server.stream_messages(stream.stream)
    assert subject == f"{stream.prefix}.fileserver.down" and json.loads(data)["fileserver"] == "fs-1"
