"""Orphan reconciliation: chunks of files the server no longer knows go, once they are older than the grace."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from coffer.fileserver.agent.heartbeats import ServerRefused, make_client
from coffer.fileserver.agent.reconcile import RECONCILE_PATH, Reconciler, server_asker
from coffer.fileserver.identity import Identity
from coffer.fileserver.settings import Settings
from coffer.fileserver.shards import ServedShard, Shards
from coffer.fileserver.storage.local import LocalBackend
from coffer.protocol import cluster
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import new_id
from coffer.protocol.messages import MAX_RECONCILE_FILES, ReconcileAnswer, ReconcileQuery, parse_reconcile_query
from coffer.protocol.signing import SigningKey
from tests.fileserver.fs_helpers import FILE, NOW, OTHER_FILE, stored_chunk

GRACE = 3600.0
OLD = 2 * GRACE


@pytest.fixture
def shards(settings: Settings) -> list[ServedShard]:
    """default (read-write), archive (read-only) and inbox (write-only), all on local disk."""
    return list(Shards.open(settings))


@dataclass
class FakeServer:
    """Knows some files; answers which of a query's files it does not know, and records every query."""

    known: set[str] = field(default_factory=set)
    grace: float = GRACE
    queries: list[ReconcileQuery] = field(default_factory=list)
    also_unknown: list[str] = field(default_factory=list)
    """Ids to add to every answer that did not ask about them (a confused or hostile server)."""

    def __call__(self, query: ReconcileQuery) -> ReconcileAnswer:
        self.queries.append(query)
        unknown = [f for f in query.files if f not in self.known]
        return ReconcileAnswer(unknown + [f for f in self.also_unknown if f not in query.files], self.grace)


def store(shard: ServedShard, file: str, count: int = 2, age: float = OLD, seed: int = 0) -> list[str]:
    """Store *count* chunks of *file* whose modification time is *age* seconds ago."""
    backend = shard.backend
    assert isinstance(backend, LocalBackend)
    names = []
    for i in range(count):
        data, name = stored_chunk(100, seed + i, file=file)
        backend.put(name, io.BytesIO(data), len(data))
        set_age(backend, name, age)
        names.append(name)
    return names


def set_age(backend: LocalBackend, name: str, age: float) -> None:
    file_id, chunk_hash = name.split("/")
    when = time.time() - age
    os.utime(backend.root / file_id[:2] / file_id / chunk_hash, (when, when))


def reconciler(shards: list[ServedShard], server: FakeServer, **kw: object) -> Reconciler:
    options: dict[str, object] = {"interval": 3600.0, "first_delay": 0.0} | kw
    return Reconciler(shards, server, **options)  # type: ignore[arg-type]


def files_in(shard: ServedShard) -> set[str]:
    return {name.split("/")[0] for name in shard.backend.list()}


def test_orphan_older_than_grace_is_deleted_and_known_files_stay(shards: list[ServedShard]) -> None:
    store(shards[0], FILE)
    store(shards[0], OTHER_FILE, seed=10)
    server = FakeServer(known={FILE})
    [result] = reconciler(shards[:1], server).reconcile_all(threading.Event())
    assert files_in(shards[0]) == {FILE}
    assert (result.files, result.orphans, result.deleted, result.chunks, result.too_young) == (2, 1, 1, 2, 0)
    assert [(q.shard, sorted(q.files)) for q in server.queries] == [("default", sorted([FILE, OTHER_FILE]))]


def test_orphan_younger_than_grace_is_kept(shards: list[ServedShard]) -> None:
    names = store(shards[0], OTHER_FILE)
    backend = shards[0].backend
    assert isinstance(backend, LocalBackend)
    set_age(backend, names[1], GRACE / 2)  # one chunk is recent: the whole file waits
    [result] = reconciler(shards[:1], FakeServer()).reconcile_all(threading.Event())
    assert files_in(shards[0]) == {OTHER_FILE}
    assert (result.orphans, result.deleted, result.too_young) == (1, 0, 1)


def test_the_grace_is_the_one_the_server_answers_with(shards: list[ServedShard]) -> None:
    store(shards[0], OTHER_FILE, age=60)
    reconciler(shards[:1], FakeServer(grace=30)).reconcile_all(threading.Event())
    assert files_in(shards[0]) == set()


def test_a_straggler_uploaded_after_its_file_was_purged_is_collected(shards: list[ServedShard]) -> None:
    """The purge ran, then an upload still in flight landed: the server no longer knows the file."""
    store(shards[0], FILE)
    assert shards[0].backend.delete_file(FILE) == 2
    store(shards[0], FILE, count=1)
    [result] = reconciler(shards[:1], FakeServer()).reconcile_all(threading.Event())
    assert files_in(shards[0]) == set() and result.deleted == 1


def test_files_are_asked_about_in_batches(shards: list[ServedShard]) -> None:
    files = [new_id() for _ in range(5)]
    for i, file in enumerate(files):
        store(shards[0], file, count=1, seed=i)
    server = FakeServer(known=set(files))
    [result] = reconciler(shards[:1], server, batch=2).reconcile_all(threading.Event())
    assert [len(q.files) for q in server.queries] == [2, 2, 1]
    assert sorted(f for q in server.queries for f in q.files) == sorted(files) and result.files == 5


def test_a_batch_never_exceeds_the_protocols_limit() -> None:
    assert reconciler([], FakeServer(), batch=10 * MAX_RECONCILE_FILES)._batch == MAX_RECONCILE_FILES


def test_only_files_this_fileserver_asked_about_are_deleted(shards: list[ServedShard]) -> None:
    """A server answer naming ids it was not asked about (a bug, a confused proxy) deletes none of them."""
    store(shards[0], FILE)
    store(shards[0], OTHER_FILE, seed=10)
    server = FakeServer(known={OTHER_FILE}, also_unknown=[OTHER_FILE])
    [result] = reconciler(shards[:1], server, batch=1).reconcile_all(threading.Event())
    assert len(server.queries) == 2  # one file a batch: each answer names the other file too
    assert files_in(shards[0]) == {OTHER_FILE}
    assert result.orphans == 1 and result.deleted == 1


def test_every_served_shard_is_reconciled_read_only_ones_too(shards: list[ServedShard]) -> None:
    for shard in shards:
        store(shard, OTHER_FILE)
    server = FakeServer()
    results = reconciler(shards, server).reconcile_all(threading.Event())
    assert [r.shard for r in results] == ["default", "archive", "inbox"]
    assert all(files_in(shard) == set() for shard in shards)
    assert [q.shard for q in server.queries] == ["default", "archive", "inbox"]


def test_a_shard_the_server_refuses_is_skipped_and_the_next_goes_on(
    shards: list[ServedShard], caplog: pytest.LogCaptureFixture
) -> None:
    for shard in shards[:2]:
        store(shard, OTHER_FILE)
    server = FakeServer()

    def ask(query: ReconcileQuery) -> ReconcileAnswer:
        if query.shard == "default":
            raise ServerRefused(403, "shard_not_allowed", "this cluster does not serve shard 'default'")
        return server(query)

    with caplog.at_level(logging.WARNING, logger="coffer.fileserver.agent.reconcile"):
        first, second = Reconciler(shards[:2], ask, interval=1, first_delay=0).reconcile_all(threading.Event())
    assert not first.complete and second.complete
    assert files_in(shards[0]) == {OTHER_FILE} and files_in(shards[1]) == set()
    assert "403 shard_not_allowed" in caplog.records[0].kv["reason"]  # type: ignore[attr-defined]


def test_a_malformed_answer_deletes_nothing(shards: list[ServedShard], identity: Identity, settings: Settings) -> None:
    store(shards[0], OTHER_FILE)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"unknown": "all", "grace_seconds": 0}))
    with make_client(settings, transport=transport) as client:
        ask = server_asker(client, settings, identity, lambda: NOW)
        [result] = Reconciler(shards[:1], ask, interval=1, first_delay=0).reconcile_all(threading.Event())
    assert not result.complete and files_in(shards[0]) == {OTHER_FILE}


def test_a_failing_delete_is_counted_and_the_other_orphans_still_go(
    shards: list[ServedShard], monkeypatch: pytest.MonkeyPatch
) -> None:
    store(shards[0], FILE)
    store(shards[0], OTHER_FILE, seed=10)
    backend = shards[0].backend
    real = backend.delete_file

    def delete_file(file_id: str) -> int:
        if file_id == FILE:
            raise OSError(5, "Input/output error")
        return real(file_id)

    monkeypatch.setattr(backend, "delete_file", delete_file)
    [result] = reconciler(shards[:1], FakeServer()).reconcile_all(threading.Event())
    assert (result.orphans, result.deleted, result.failed) == (2, 1, 1) and result.complete
    assert files_in(shards[0]) == {FILE}


def test_each_shard_logs_one_summary_line(shards: list[ServedShard], caplog: pytest.LogCaptureFixture) -> None:
    store(shards[0], FILE)
    store(shards[0], OTHER_FILE, seed=10)
    young = new_id()
    store(shards[0], young, age=0, seed=20)
    with caplog.at_level(logging.INFO, logger="coffer.fileserver.agent.reconcile"):
        reconciler(shards[:1], FakeServer(known={FILE}), clock=lambda: time.time()).reconcile_all(threading.Event())
    [summary] = [r.kv for r in caplog.records if r.getMessage() == "orphan reconciliation finished"]  # type: ignore[attr-defined]
    assert {k: summary[k] for k in ("shard", "files", "orphans", "deleted", "chunks", "too_young", "failed")} == {
        "shard": "default",
        "files": 3,
        "orphans": 2,
        "deleted": 1,
        "chunks": 2,
        "too_young": 1,
        "failed": 0,
    }


def test_a_stopped_reconciliation_stops_between_batches(shards: list[ServedShard]) -> None:
    store(shards[0], OTHER_FILE)
    stop = threading.Event()
    stop.set()
    server = FakeServer()
    assert reconciler(shards, server).reconcile_all(stop) == []
    assert server.queries == [] and files_in(shards[0]) == {OTHER_FILE}


def test_reconciliation_with_interval_zero_never_runs(shards: list[ServedShard]) -> None:
    store(shards[0], OTHER_FILE)
    server = FakeServer()
    reconciler(shards, server, interval=0.0).run(threading.Event())  # returns at once
    assert server.queries == []


def test_run_reconciles_after_the_first_delay_then_waits_for_the_interval(shards: list[ServedShard]) -> None:
    store(shards[0], OTHER_FILE)
    server = FakeServer()
    stop = threading.Event()
    worker = threading.Thread(
        target=reconciler(shards[:1], server, first_delay=0.01, interval=3600.0).run, args=(stop,)
    )
    worker.start()
    deadline = time.monotonic() + 5
    while not server.queries and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(server.queries) == 1 and files_in(shards[0]) == set()


# -- the request to the server --------------------------------------------------------------------------


def test_the_server_is_asked_with_a_cluster_signed_reconcile_request(
    settings: Settings, identity: Identity, cluster_key: SigningKey
) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        signed = cluster.open_request(json.loads(request.content), cluster_key.public_key, "reconcile", NOW)
        query = parse_reconcile_query(signed.body)
        assert signed.fs == identity.fileserver_id
        return httpx.Response(200, json={"unknown": query.files[1:], "grace_seconds": 120})

    with make_client(settings, transport=httpx.MockTransport(handle)) as client:
        answer = server_asker(client, settings, identity, lambda: NOW)(ReconcileQuery("default", [FILE, OTHER_FILE]))
    assert answer == ReconcileAnswer([OTHER_FILE], 120.0)
    assert [r.url.path for r in seen] == [RECONCILE_PATH] and seen[0].method == "POST"


def test_a_signed_reconcile_request_is_not_a_heartbeat(
    settings: Settings, identity: Identity, cluster_key: SigningKey
) -> None:
    """The action is signed: a captured reconcile request cannot be replayed at another endpoint."""
    captured: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        captured.append(json.loads(request.content))
        return httpx.Response(200, json={"unknown": [], "grace_seconds": 0})

    with make_client(settings, transport=httpx.MockTransport(handle)) as client:
        server_asker(client, settings, identity, lambda: NOW)(ReconcileQuery("default", [FILE]))
    with pytest.raises(ProtocolError, match="signed 'heartbeat' request"):
        cluster.open_request(captured[0], cluster_key.public_key, "heartbeat", NOW)


def test_a_refusal_from_the_server_raises_with_its_code(settings: Settings, identity: Identity) -> None:
    refusal = {"error": "not_found", "message": "no such endpoint"}
    transport = httpx.MockTransport(lambda request: httpx.Response(404, json=refusal))
    with make_client(settings, transport=transport) as client, pytest.raises(ServerRefused) as caught:
        server_asker(client, settings, identity, lambda: NOW)(ReconcileQuery("default", [FILE]))
    assert (caught.value.status, caught.value.code) == (404, "not_found")
