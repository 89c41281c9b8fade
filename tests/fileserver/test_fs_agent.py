"""The agent: backoff schedule, message building, and its conversation with a fake server."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from coffer.fileserver import reports
from coffer.fileserver.agent.copier import Copier
from coffer.fileserver.agent.heartbeats import Agent, make_client
from coffer.fileserver.counters import SharedCounters, Totals
from coffer.fileserver.identity import Identity
from coffer.fileserver.maintenance.purger import Purger
from coffer.fileserver.reports import ChunkCensus, CorruptReports, RateMeter
from coffer.fileserver.revocations import RevocationList
from coffer.fileserver.settings import Settings
from coffer.fileserver.shards import ServedShard, Shards
from coffer.fileserver.storage.backoff import Backoff
from coffer.protocol import cluster
from coffer.protocol.copies import CopyFailure
from coffer.protocol.ids import new_id
from coffer.protocol.messages import (
    MAX_PURGES,
    FilePurge,
    Revocation,
    RevocationPage,
    parse_heartbeat,
    parse_registration,
)
from coffer.protocol.signing import SigningKey
from coffer.protocol.tickets import Ticket
from coffer.transfer.http import ChunkClient
from tests.fileserver.fs_helpers import FILE, NOW, OTHER_FILE, stored_chunk

# -- backoff ---------------------------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_and_stops_at_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=10.0)
    assert [backoff.ceiling(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert backoff.ceiling(10_000) == 10.0


@pytest.mark.parametrize("failures", [1, 3, 50])
def test_backoff_jitter_stays_between_half_and_all_of_the_ceiling(failures: int) -> None:
    backoff = Backoff(cap=10.0)
    ceiling = backoff.ceiling(failures)
    assert backoff.delay(failures, 0.0) == ceiling / 2
    assert ceiling / 2 < backoff.delay(failures, 0.5) < ceiling
    assert backoff.delay(failures, 0.999999) <= ceiling


# -- figures ---------------------------------------------------------------------------------------------


def test_rate_meter_reports_bytes_per_second_since_the_last_reading() -> None:
    meter = RateMeter()
    assert meter.update(1000, 10.0) == 0
    assert meter.update(21_000, 12.0) == 10_000
    assert meter.update(21_000, 12.0) == 0  # no time passed: no rate rather than a division by zero


def now_(work: Callable[[], None]) -> None:
    work()


def test_census_lists_rarely_and_adds_what_the_workers_created(shards: list[ServedShard]) -> None:
    _store(shards[0], 3)
    census = ChunkCensus(shards, interval=300, spawn=now_)
    assert census.count(created_total=10, now=0.0) == 3
    assert census.count(created_total=12, now=100.0) == 5  # two created since the listing
    _store(shards[0], 2, seed=100)
    assert census.count(created_total=12, now=301.0) == 5  # listed again


def test_census_lists_in_the_background_so_a_heartbeat_never_waits(shards: list[ServedShard]) -> None:
    _store(shards[0], 3)
    pending: list[Callable[[], None]] = []
    census = ChunkCensus(shards, interval=300, spawn=pending.append)
    assert census.count(created_total=0, now=0.0) == 0  # the listing has not run yet
    assert census.count(created_total=0, now=1.0) == 0 and len(pending) == 1  # no second listing meanwhile
    pending.pop()()
    assert census.count(created_total=0, now=2.0) == 3


def test_free_bytes_counts_each_disk_once(shards: list[ServedShard]) -> None:
    writable = [s for s in shards if s.write]
    assert len(writable) == 2
    one_disk, total = writable[0].backend.free_bytes(), reports.total_free_bytes(shards)
    assert one_disk is not None and total is not None
    # Other processes write to the same disk between the two readings: a few pages either way,
    # while counting the disk twice would double the figure.
    assert abs(total - one_disk) <= one_disk // 100


def test_corrupt_reports_wait_until_a_heartbeat_delivers_them() -> None:
    queue = CorruptReports()
    queue.add("default", FILE, "a" * 64)
    queue.add("default", FILE, "a" * 64)
    queue.add("default", FILE, "b" * 64)
    taken = queue.take(limit=1)
    assert taken == [("default", FILE, "a" * 64)] and len(queue) == 1
    queue.put_back(taken)
    assert queue.take() == [("default", FILE, "a" * 64), ("default", FILE, "b" * 64)]


def test_the_same_chunk_hash_corrupt_in_two_files_is_two_reports() -> None:
    queue = CorruptReports()
    queue.add("default", FILE, "a" * 64)
    queue.add("default", OTHER_FILE, "a" * 64)
    assert len(queue) == 2


def test_registration_body_is_what_the_server_parses(
    settings: Settings, identity: Identity, shards: list[ServedShard]
) -> None:
    parsed = parse_registration(reports.registration_body(settings, identity, shards))
    assert parsed.url == settings.public_url and parsed.public_key == identity.key.public_key
    assert [(s.name, s.read, s.write, s.backend) for s in parsed.shards] == [
        ("default", True, True, "local"),
        ("archive", True, False, "local"),
        ("inbox", False, True, "local"),
    ]


def test_heartbeat_body_is_what_the_server_parses(shards: list[ServedShard]) -> None:
    body = reports.heartbeat_body(
        shards,
        active_transfers=3,
        bytes_per_s=1000,
        chunk_count=7,
        corrupt=[("default", FILE, "c" * 64)],
        purged=[FilePurge("default", OTHER_FILE)],
    )
    beat = parse_heartbeat(body)
    assert (beat.active_transfers, beat.bytes_per_s, beat.chunk_count) == (3, 1000, 7)
    assert beat.corrupt == [("default", FILE, "c" * 64)] and beat.free_bytes
    assert beat.purged == [FilePurge("default", OTHER_FILE)]
    assert all(s.free_bytes for s in beat.shards)


def test_requests_are_signed_with_the_cluster_credential_and_proven_with_the_identity_key(
    settings: Settings, identity: Identity, cluster_key: SigningKey
) -> None:
    body = reports.signed(settings, identity, "heartbeat", {"x": 1}, NOW)
    request = cluster.open_request(body, cluster_key.public_key, "heartbeat", NOW)
    cluster.check_proof(body, identity.key.public_key)
    assert (request.fs, request.cluster, request.gen, request.body) == (
        identity.fileserver_id,
        settings.cluster.id,
        1,
        {"x": 1},
    )


# -- the conversation, against a fake server -------------------------------------------------------------


class FakeServer:
    """Checks each signed request like the real server, and answers as told."""

    def __init__(self, cluster_key: SigningKey):
        self.cluster_key = cluster_key
        self.known: set[str] = set()
        self.beats: list[dict[str, Any]] = []
        self.registrations = 0
        self.down = False
        self.refuse: tuple[int, str] | None = None
        self.revoked: list[Revocation] = []
        """Revocation number i + 1 is revoked[i], as the server numbers them."""
        self.revocation_page = 3
        self.revocations_from = 0
        """The numbering starts over after this (a replaced database)."""
        self.orders: list[dict[str, str]] = []
        """Purge orders, repeated in every answer until a heartbeat confirms them (as the server does)."""
        self.confirmed: list[dict[str, str]] = []
        self.extra: dict[str, Any] = {}
        self.largest_report: int | None = None
        """Refuse a beat whose report is longer than this as malformed, as a server with a smaller cap would."""
        self.refused_reports = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.refuse:
            status, code = self.refuse
            return httpx.Response(status, json={"error": code, "message": f"refused: {code}"})
        action: cluster.Action = "register" if request.url.path.endswith("/register") else "heartbeat"
        signed = cluster.open_request(json.loads(request.content), self.cluster_key.public_key, action, NOW)
        if action == "register":
            parse_registration(signed.body)
            self.known.add(signed.fs)
            self.registrations += 1
            return httpx.Response(200, json={"fileserver_id": signed.fs, "lease_seconds": 30, "heartbeat_interval": 5})
        if signed.fs not in self.known:
            return httpx.Response(404, json={"error": "fileserver_unknown", "message": "register first"})
        report = len(signed.body.get("purged", [])) + len(signed.body.get("corrupt", []))
        if self.largest_report is not None and report > self.largest_report:
            self.refused_reports += 1
            return httpx.Response(400, json={"error": "malformed_token", "message": "the token is too long"})
        self.beats.append(signed.body)
        purged = parse_heartbeat(signed.body).purged
        self.confirmed += [p.to_json() for p in purged]
        self.orders = [o for o in self.orders if o not in self.confirmed]
        orders = self.orders[:MAX_PURGES]  # as the server pages them
        after = parse_heartbeat(signed.body).revocations_after
        after = after if after <= len(self.revoked) else self.revocations_from
        entries = self.revoked[after : after + self.revocation_page]
        page = RevocationPage(after, after + len(entries), after + len(entries) < len(self.revoked), entries)
        answer = {"lease_seconds": 30, "server_time": NOW, "revocations": page.to_json(), "purge": orders}
        return httpx.Response(200, json=answer | self.extra)


@pytest.fixture
def shards(settings: Settings) -> list[ServedShard]:
    return list(Shards.open(settings))


@pytest.fixture
def fake(cluster_key: SigningKey) -> FakeServer:
    return FakeServer(cluster_key)


@pytest.fixture
def table() -> SharedCounters:
    return SharedCounters(slots=4)


@pytest.fixture
def corrupt() -> CorruptReports:
    return CorruptReports()


@pytest.fixture
def purger(shards: list[ServedShard]) -> Purger:
    return Purger(shards)


@pytest.fixture
def agent(
    settings: Settings,
    identity: Identity,
    shards: list[ServedShard],
    fake: FakeServer,
    table: SharedCounters,
    corrupt: CorruptReports,
    purger: Purger,
) -> Agent:
    client = make_client(settings, transport=httpx.MockTransport(fake.handle))
    return Agent(
        settings,
        identity,
        shards,
        client=client,
        totals=table.totals,
        corrupt=corrupt,
        purger=purger,
        clock=lambda: NOW,
        rand=lambda: 0.0,
        census=ChunkCensus(shards, spawn=now_),
    )


def _store(shard: ServedShard, count: int, seed: int = 0, file: str = FILE) -> None:
    import io

    for i in range(count):
        data, name = stored_chunk(100, seed=seed + i, file=file)
        shard.backend.put(name, io.BytesIO(data), len(data))


def test_agent_registers_then_heartbeats_with_the_load(
    agent: Agent, fake: FakeServer, table: SharedCounters, shards: list[ServedShard]
) -> None:
    _store(shards[0], 2)
    worker = table.slot(1)
    worker.claim(1234)
    worker.begin()
    assert agent.step() == 1.0  # the configured interval (1 s) is shorter than the server's (5 s)
    assert fake.registrations == 1 and len(fake.beats) == 1
    beat = parse_heartbeat(fake.beats[0])
    assert beat.active_transfers == 1 and beat.chunk_count == 2
    worker.moved(5000)
    agent.step()
    assert fake.registrations == 1 and len(fake.beats) == 2


def test_agent_registers_again_when_the_server_forgot_it(agent: Agent, fake: FakeServer) -> None:
    agent.step()
    fake.known.clear()  # e.g. the server lost its database
    delay = agent.step()
    assert 0 < delay <= 0.5 and not agent.registered
    agent.step()
    assert fake.registrations == 2 and agent.registered and len(fake.beats) == 2


def test_agent_backs_off_while_the_server_is_down_and_logs_each_change_once(
    agent: Agent, fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.down = True
    with caplog.at_level(logging.INFO, logger="coffer.fileserver.agent.heartbeats"):
        delays = [agent.step() for _ in range(8)]
        fake.down = False
        assert agent.step() == 1.0
        agent.step()
    assert delays == [0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # rand=0: half the ceiling, capped at the interval
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unreachable" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1
    assert agent.failures == 0


def test_agent_reports_a_refusal_with_the_servers_reason(
    agent: Agent, fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.refuse = (403, "shard_not_allowed")
    with caplog.at_level(logging.ERROR, logger="coffer.fileserver.agent.heartbeats"):
        agent.step()
        agent.step()
    [record] = caplog.records
    assert record.kv["problem"] == "refused: 403 shard_not_allowed"  # type: ignore[attr-defined]
    assert record.kv["detail"] == "refused: shard_not_allowed"  # type: ignore[attr-defined]


def test_a_refusal_for_a_mismatched_identity_key_says_which_file_to_restore_and_what_an_admin_can_do(
    agent: Agent, fake: FakeServer, settings: Settings, identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    fake.refuse = (409, "fileserver_key_mismatch")
    with caplog.at_level(logging.ERROR, logger="coffer.fileserver.agent.heartbeats"):
        agent.step()
    [record] = caplog.records
    assert "restore the identity file" in record.getMessage()
    kv = record.kv  # type: ignore[attr-defined]
    assert kv["identity_file"] == settings.data_dir / "identity.json"
    assert kv["forget"] == f"coffer admin fileserver forget {identity.fileserver_id}"


def _ticket(holder: str, file: str = FILE, iat: int = int(NOW) - 5) -> Ticket:
    return Ticket("get", file, "default", holder, iat, int(NOW) + 60, new_id())


def test_heartbeat_answer_revocations_reach_the_workers(agent: Agent, fake: FakeServer, settings: Settings) -> None:
    holder = new_id()
    fake.revoked = [Revocation(int(NOW), int(NOW) + 60, holder=holder, file=FILE)]
    agent.step()
    workers_view = RevocationList(settings.data_dir / "revoked.json")
    assert workers_view.is_revoked(_ticket(holder))
    assert not workers_view.is_revoked(_ticket(holder, file=OTHER_FILE))
    assert fake.beats[-1]["revocations_after"] == 0
    agent.step()
    assert fake.beats[-1]["revocations_after"] == 1  # only what is new is sent again


def test_a_long_revocation_list_is_fetched_a_page_a_beat_at_once_and_survives_a_restart(
    agent: Agent, fake: FakeServer, settings: Settings, identity: Identity, shards: list[ServedShard]
) -> None:
    holders = [new_id() for _ in range(7)]
    fake.revoked = [Revocation(int(NOW), int(NOW) + 60, holder=h) for h in holders]
    agent.step()
    assert agent._backlog  # more pages: the next beat comes at once
    agent.step()
    agent.step()
    assert not agent._backlog
    assert [b["revocations_after"] for b in fake.beats] == [0, 3, 6]
    workers_view = RevocationList(settings.data_dir / "revoked.json")
    assert all(workers_view.is_revoked(_ticket(h)) for h in holders)
    restarted = Agent(
        settings,
        identity,
        shards,
        client=make_client(settings, transport=httpx.MockTransport(fake.handle)),
        totals=lambda: Totals(0, 0, 0),
        corrupt=CorruptReports(),
        purger=Purger(shards),
        clock=lambda: NOW,
        census=ChunkCensus(shards, spawn=now_),
    )
    restarted.step()
    assert fake.beats[-1]["revocations_after"] == 7


def test_a_server_that_starts_its_numbering_over_replaces_what_the_fileserver_holds(
    agent: Agent, fake: FakeServer, settings: Settings
) -> None:
    old, new = new_id(), new_id()
    fake.revoked = [Revocation(int(NOW), int(NOW) + 60, holder=old)] * 2
    agent.step()
    fake.revoked = [Revocation(int(NOW), int(NOW) + 60, holder=new)]  # a new database: our cursor 2 is ahead of it
    agent.step()
    workers_view = RevocationList(settings.data_dir / "revoked.json")
    assert workers_view.is_revoked(_ticket(new)) and not workers_view.is_revoked(_ticket(old))


def test_a_revocation_file_of_the_older_format_is_replaced_at_the_first_answer(
    settings: Settings, fake: FakeServer, identity: Identity, shards: list[ServedShard]
) -> None:
    path = settings.data_dir / "revoked.json"
    path.write_text(json.dumps([{"jti": new_id(), "exp": NOW + 60}]))
    agent = Agent(
        settings,
        identity,
        shards,
        client=make_client(settings, transport=httpx.MockTransport(fake.handle)),
        totals=lambda: Totals(0, 0, 0),
        corrupt=CorruptReports(),
        purger=Purger(shards),
        clock=lambda: NOW,
        census=ChunkCensus(shards, spawn=now_),
    )
    agent.step()
    assert fake.beats[-1]["revocations_after"] == 0
    assert json.loads(path.read_text()) == {"v": 2, "cursor": 0, "entries": []}


def test_expired_revocations_are_dropped(agent: Agent, fake: FakeServer, settings: Settings) -> None:
    fake.revoked = [Revocation(int(NOW), int(NOW) - 1, holder=new_id()), Revocation(int(NOW), int(NOW) + 9, file=FILE)]
    agent.step()
    assert [e["exp"] for e in json.loads((settings.data_dir / "revoked.json").read_text())["entries"]] == [NOW + 9]


def test_corrupt_chunks_are_reported_once_delivered(agent: Agent, fake: FakeServer, corrupt: CorruptReports) -> None:
    corrupt.add("default", FILE, "d" * 64)
    fake.down = True
    agent.step()
    assert len(corrupt) == 1  # the failed beat put it back
    fake.down = False
    agent.step()
    assert fake.beats[-1]["corrupt"] == [{"shard": "default", "file": FILE, "chunk": "d" * 64}]
    agent.step()
    assert fake.beats[-1]["corrupt"] == []


def test_agent_warns_once_when_the_clocks_disagree(
    settings: Settings,
    identity: Identity,
    shards: list[ServedShard],
    fake: FakeServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(settings, transport=httpx.MockTransport(fake.handle))
    skewed = Agent(
        settings,
        identity,
        shards,
        client=client,
        totals=lambda: Totals(0, 0, 0),
        corrupt=CorruptReports(),
        purger=Purger(shards),
        clock=lambda: NOW + 30.0,  # the server answers server_time = NOW
    )
    with caplog.at_level(logging.WARNING, logger="coffer.fileserver.agent.heartbeats"):
        skewed.step()
        skewed.step()
    assert sum("clock" in r.getMessage() for r in caplog.records) == 1


def test_a_failing_disk_does_not_stop_the_heartbeats(
    agent: Agent, fake: FakeServer, shards: list[ServedShard], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unmounted(self: object) -> int:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(type(shards[0].backend), "free_bytes", unmounted)
    assert agent.step() == 1.0
    assert parse_heartbeat(fake.beats[-1]).free_bytes is None


def test_a_bug_in_a_round_is_logged_and_retried_not_fatal(
    agent: Agent, fake: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def broken(*args: object, **kwargs: object) -> dict[str, Any]:
        calls.append(1)
        raise KeyError("surprise")

    monkeypatch.setattr(reports, "heartbeat_body", broken)
    with caplog.at_level(logging.ERROR, logger="coffer.fileserver.agent.heartbeats"):
        assert agent.step() > 0
        agent.step()
    assert len(calls) == 2
    assert sum(bool(r.exc_info) for r in caplog.records) == 1  # the trace once, not on every retry


def test_agent_client_drops_idle_connections_before_the_server_does(settings: Settings) -> None:
    with make_client(settings) as client:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry < 2.0


# -- purge orders, through the heartbeat ------------------------------------------------------------------


def _order(shard: str = "default", file: str = FILE) -> dict[str, str]:
    return {"shard": shard, "file": file}


def test_purge_orders_are_queued_by_the_heartbeat_not_carried_out_in_it(
    agent: Agent, fake: FakeServer, purger: Purger, shards: list[ServedShard]
) -> None:
    _store(shards[0], 2)
    fake.orders = [_order()]
    assert agent.step() == 1.0
    assert len(list(shards[0].backend.list_file(FILE))) == 2  # nothing deleted while beating
    assert len(purger) == 1


def test_purge_is_confirmed_only_after_the_chunks_are_gone(
    agent: Agent, fake: FakeServer, purger: Purger, shards: list[ServedShard]
) -> None:
    _store(shards[0], 3)
    _store(shards[0], 1, file=OTHER_FILE)
    fake.orders = [_order()]
    agent.step()
    agent.step()
    assert fake.beats[-1]["purged"] == [] and fake.orders == [_order()]  # not carried out yet: not confirmed
    assert purger.run_pending() == 1
    assert list(shards[0].backend.list_file(FILE)) == []
    agent.step()
    assert fake.beats[-1]["purged"] == [_order()]
    assert fake.orders == []  # the server forgets the order on the confirmation
    agent.step()
    assert fake.beats[-1]["purged"] == [] and len(purger) == 0
    assert len(list(shards[0].backend.list_file(OTHER_FILE))) == 1


def test_an_order_repeated_before_it_is_carried_out_is_queued_once(
    agent: Agent, fake: FakeServer, purger: Purger
) -> None:
    fake.orders = [_order()]
    for _ in range(3):
        agent.step()
    assert len(purger) == 1 and purger.run_pending() == 1


def test_a_purge_confirmation_survives_a_failed_heartbeat(
    agent: Agent, fake: FakeServer, purger: Purger, shards: list[ServedShard]
) -> None:
    _store(shards[0], 1)
    fake.orders = [_order()]
    agent.step()
    purger.run_pending()
    fake.down = True
    agent.step()
    fake.down = False
    agent.step()  # the order is repeated in this answer too, but is awaiting confirmation: not queued again
    assert fake.beats[-1]["purged"] == [_order()] and fake.orders == []
    assert len(purger) == 0 and purger.take() == []


def test_a_malformed_purge_order_is_a_bad_answer_and_queues_nothing(
    agent: Agent, fake: FakeServer, purger: Purger, caplog: pytest.LogCaptureFixture
) -> None:
    fake.extra = {"purge": [{"shard": "default", "file": "../../etc"}]}
    with caplog.at_level(logging.ERROR, logger="coffer.fileserver.agent.heartbeats"):
        assert agent.step() > 0 and agent.failures == 1
    [record] = caplog.records
    assert record.kv["problem"] == "bad answer" and "breaks the protocol" in record.getMessage()  # type: ignore[attr-defined]
    assert len(purger) == 0


def test_confirmations_a_server_received_are_not_sent_again_even_if_its_answer_is_bad(
    agent: Agent, fake: FakeServer, purger: Purger, shards: list[ServedShard]
) -> None:
    fake.orders = [_order()]
    agent.step()
    purger.run_pending()
    fake.extra = {"revocations": "not an object"}
    agent.step()
    assert fake.beats[-1]["purged"] == [_order()]
    fake.extra = {}
    agent.step()
    assert fake.beats[-1]["purged"] == []


def test_an_answer_without_purge_orders_is_fine(agent: Agent, fake: FakeServer, purger: Purger) -> None:
    fake.extra = {"purge": []}
    assert agent.step() == 1.0 and len(purger) == 0


def _files(count: int) -> list[str]:
    return sorted(new_id() for _ in range(count))


def test_a_backlog_of_confirmations_goes_a_page_a_beat_and_says_it_is_ready_for_the_next(
    agent: Agent, fake: FakeServer, purger: Purger
) -> None:
    orders = [_order("elsewhere", f) for f in _files(MAX_PURGES * 2 + 100)]  # a shard not served: confirmed at once
    purger.order(FilePurge(**o) for o in orders)
    assert purger.run_pending() == len(orders)
    pages = []
    for _ in range(4):
        agent.step()
        pages.append(len(fake.beats[-1]["purged"]))
    assert pages == [MAX_PURGES, MAX_PURGES, 100, 0]
    assert sorted(fake.confirmed, key=lambda o: o["file"]) == orders


def test_the_purger_is_ready_for_a_beat_when_a_page_is_full_or_its_orders_are_done(purger: Purger) -> None:
    purger.order([FilePurge("elsewhere", f) for f in _files(3)])
    assert not purger.wait_ready(0)
    purger.execute(purger._next(0))  # type: ignore[arg-type]
    assert not purger.wait_ready(0)  # two orders still to carry out: no beat for one confirmation
    purger.run_pending()
    assert purger.wait_ready(0)
    purger.take()
    assert not purger.wait_ready(0)


def test_a_report_the_server_refuses_costs_no_lease_and_is_offered_again_in_smaller_pages(
    agent: Agent, fake: FakeServer, purger: Purger, caplog: pytest.LogCaptureFixture
) -> None:
    agent.step()
    orders = [_order("elsewhere", f) for f in _files(300)]
    purger.order(FilePurge(**o) for o in orders)
    purger.run_pending()
    fake.largest_report = 100  # e.g. an older server whose token cap holds fewer entries
    with caplog.at_level(logging.INFO, logger="coffer.fileserver.agent.heartbeats"):
        for _ in range(12):
            assert agent.step() == agent.interval  # every round keeps the lease: no failure, no backoff
            assert agent.failures == 0
    assert fake.refused_reports == 2  # 300 then 150 refused; pages of 75 pass from then on
    assert [len(b["purged"]) for b in fake.beats[1:7]] == [0, 0, 75, 75, 75, 75]  # plain beats kept the lease
    assert sorted(fake.confirmed, key=lambda o: o["file"]) == orders
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("lease is kept" in w.getMessage() for w in warnings)
    assert [w.kv["error"] for w in warnings] == ["malformed_token"] * 2  # type: ignore[attr-defined]


def test_a_refusal_of_a_plain_beat_is_still_a_failure(agent: Agent, fake: FakeServer) -> None:
    agent.step()
    fake.refuse = (400, "invalid_shard")
    assert agent.step() < agent.interval and agent.failures == 1


def test_the_agent_beats_again_at_once_when_the_purger_finishes_a_batch(
    make_settings: Callable[..., Settings],
    identity: Identity,
    fake: FakeServer,
    table: SharedCounters,
    corrupt: CorruptReports,
) -> None:
    """With a 5 s interval, 1,200 deletions are confirmed in about a second, not three intervals."""
    settings = make_settings(heartbeat_interval=30.0)
    shards = list(Shards.open(settings))
    purger = Purger(shards)
    client = make_client(settings, transport=httpx.MockTransport(fake.handle))
    agent = Agent(
        settings,
        identity,
        shards,
        client=client,
        totals=table.totals,
        corrupt=corrupt,
        purger=purger,
        clock=lambda: NOW,
        census=ChunkCensus(shards, spawn=now_),
    )
    fake.orders = [_order("elsewhere", f) for f in _files(MAX_PURGES * 2 + 200)]
    stop = threading.Event()
    threads = [threading.Thread(target=job, args=(stop,)) for job in (agent.run, purger.run)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 4.0
        while fake.orders and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert agent.interval == 5.0
    assert fake.orders == [] and len(fake.confirmed) == MAX_PURGES * 2 + 200


def test_a_report_refused_even_one_at_a_time_is_warned_about_once_and_the_lease_still_kept(
    agent: Agent, fake: FakeServer, purger: Purger, caplog: pytest.LogCaptureFixture
) -> None:
    agent.step()
    purger.order([FilePurge("elsewhere", f) for f in _files(4)])
    purger.run_pending()
    fake.largest_report = 0
    with caplog.at_level(logging.WARNING, logger="coffer.fileserver.agent.heartbeats"):
        for _ in range(6):
            assert agent.step() == agent.interval and agent.failures == 0
    assert agent.report_limit == 1 and fake.refused_reports == 6
    assert [r.kv["next_page"] for r in caplog.records] == [2, 1]  # type: ignore[attr-defined]


def test_the_agent_beats_again_at_once_when_the_copier_has_carried_out_its_orders(
    make_settings: Callable[..., Settings],
    identity: Identity,
    fake: FakeServer,
    table: SharedCounters,
    corrupt: CorruptReports,
) -> None:
    """A copy's receipt goes with the next beat at once, not after the interval: the copy counts, and the next
    orders come, within a fraction of a second (a site catching up is bounded by copying, not by heartbeats)."""
    settings = make_settings(heartbeat_interval=30.0)
    shards = list(Shards.open(settings))
    copier = Copier(shards, identity, ChunkClient(transport=httpx.MockTransport(lambda r: httpx.Response(404))))
    agent = Agent(
        settings,
        identity,
        shards,
        client=make_client(settings, transport=httpx.MockTransport(fake.handle)),
        totals=table.totals,
        corrupt=corrupt,
        purger=Purger(shards),
        copier=copier,
        clock=lambda: NOW,
        census=ChunkCensus(shards, spawn=now_),
    )
    stop = threading.Event()
    copier.put_back([], [CopyFailure(new_id(), "ab" * 32, new_id(), "unreachable")])  # a carried-out order's report
    started = time.monotonic()
    assert agent._wait(stop, 30.0) is False
    assert time.monotonic() - started < 5.0, "the beat waited for the interval with a report ready"
