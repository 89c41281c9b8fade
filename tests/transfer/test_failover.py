"""The failover engine, one chunk at a time, against fileservers behind an ``httpx.MockTransport``."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from coffer.protocol import receipts
from coffer.protocol.signing import SigningKey
from coffer.transfer.balancer import Balancer, FileserverInfo
from coffer.transfer.errors import Stopped, TicketRejected, TransferFailed
from coffer.transfer.failover import MAX_BUSY, Failover, Wording
from coffer.transfer.http import ChunkClient

SHARD = "default"
FILE_ID = str(uuid.uuid4())
BLOB = b"sealed chunk bytes"
NAME = hashlib.sha256(BLOB).hexdigest()
WORDING = Wording("copy", "copied", "Check the peers.", "copy it later")
Answer = Callable[[httpx.Request], httpx.Response]


def error(status: int, code: str) -> Answer:
    return lambda request: httpx.Response(status, json={"error": code, "message": code.replace("_", " ")})


@dataclass
class Peer:
    """One fake fileserver: stores what it is sent, serves what it holds, unless told to answer otherwise."""

    info: FileserverInfo
    key: SigningKey = field(default_factory=SigningKey.generate)
    chunks: dict[str, bytes] = field(default_factory=dict)
    answer: Answer | None = None
    seen: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.headers['Authorization']}")
        if self.answer is not None:
            return self.answer(request)
        name = request.url.path.rsplit("/", 1)[1]
        if request.method == "PUT":
            self.chunks[name] = request.read()
            receipt = receipts.Receipt(self.info.id, SHARD, FILE_ID, name, len(self.chunks[name]), 0)
            body = {"receipt": receipts.sign(self.key, receipt), "chunk": name, "size": len(self.chunks[name])}
            return httpx.Response(201, json=body)
        if name not in self.chunks:
            return error(404, "chunk_not_found")(request)
        return httpx.Response(200, content=self.chunks[name])


class Tickets:
    """A ticket source that hands out numbered tickets and counts what the engine asked of it."""

    def __init__(self) -> None:
        self.generation = 1
        self.refreshed = 0

    def ticket_for(self, chunk_hash: str) -> str:
        return f"ticket-{self.generation}"

    def renew(self, seen: int) -> None:
        if seen == self.generation:
            self.generation += 1

    def refresh_servers(self) -> None:
        self.refreshed += 1


class Stop(threading.Event):
    """A stop event whose waits return at once and are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return False


@dataclass
class Net:
    peers: list[Peer]
    tickets: Tickets
    stop: Stop
    balancer: Balancer
    chunks: ChunkClient

    def failover(self, max_attempts: int = 8) -> Failover:
        return Failover(
            self.chunks,
            self.balancer,
            self.tickets,
            shard=SHARD,
            file_id=FILE_ID,
            max_attempts=max_attempts,
            stop=self.stop,
            rng=random.Random(1),
            wording=WORDING,
        )


@pytest.fixture
def net() -> Iterator[Net]:
    peers = [Peer(FileserverInfo(str(uuid.uuid4()), f"http://peer{n}.test")) for n in range(3)]
    by_host = {httpx.URL(p.info.url).host: p for p in peers}
    transport = httpx.MockTransport(lambda request: by_host[request.url.host](request))
    balancer = Balancer([p.info for p in peers], clock=lambda: 1000.0, rng=random.Random(2))
    with ChunkClient(transport=transport) as chunks:
        yield Net(peers, Tickets(), Stop(), balancer, chunks)


def test_a_chunk_goes_to_another_fileserver_at_once_when_one_fails(net: Net) -> None:
    for peer in net.peers[:2]:
        peer.answer = error(503, "storage_unavailable")
    moved = net.failover().chunk(0, NAME).store(BLOB)
    assert moved is not None and moved.fileserver == net.peers[2].info
    assert net.peers[2].chunks == {NAME: BLOB}
    assert receipts.fileserver_of(moved.result.receipt) == net.peers[2].info.id
    assert net.stop.waits == [] and net.tickets.refreshed == 0, "a healthy fileserver was left: no pause"


def test_each_move_of_a_chunk_counts_its_failures_and_skips_what_the_caller_excluded(net: Net) -> None:
    failing = net.peers[0]
    failing.answer = error(500, "internal")
    move = net.failover().chunk(0, NAME, prefer={failing.info.id})
    first = move.store(BLOB)
    assert first is not None and first.fileserver != failing.info
    move.exclude.add(first.fileserver.id)
    second = move.store(BLOB)
    assert second is not None and {first.fileserver.id, second.fileserver.id} == {p.info.id for p in net.peers[1:]}
    assert move.failures == 1 and move.retries == 1, "the failing fileserver was tried once, then cooled"
    move.exclude.add(second.fileserver.id)
    failing.answer = None
    third = move.store(BLOB)
    assert third is not None and third.fileserver == failing.info, "a cooling fileserver is the last resort"
    move.exclude.add(failing.info.id)
    assert move.store(BLOB) is None, "no candidate left: the caller says why"


def test_a_read_prefers_the_holders_and_steps_past_one_that_lacks_the_chunk(net: Net) -> None:
    holder, empty, other = net.peers
    holder.chunks[NAME] = other.chunks[NAME] = BLOB
    move = net.failover().chunk(0, NAME, prefer={holder.info.id, empty.info.id})
    buffer = bytearray(64)
    for _ in range(4):
        moved = move.fetch_into(memoryview(buffer))
        assert moved is not None and moved.fileserver == holder.info and buffer[: moved.result] == BLOB
    move.exclude.add(holder.info.id)
    moved = move.fetch_into(memoryview(buffer))
    assert moved is not None and moved.fileserver == other.info
    assert empty.info.id in move.exclude and move.failures == 0, "a missing chunk is no failure of the fileserver"


def test_a_refused_ticket_is_renewed_once_then_a_second_refusal_is_raised(net: Net) -> None:
    for peer in net.peers:
        peer.answer = error(401, "ticket_expired")
    with pytest.raises(TicketRejected):
        net.failover().chunk(0, NAME).store(BLOB)
    sent = [line for peer in net.peers for line in peer.seen]
    assert sorted(sent) == ["PUT Ticket ticket-1", "PUT Ticket ticket-2"]


def test_a_renewed_ticket_lets_the_chunk_through(net: Net) -> None:
    refused = net.peers[0]

    def once(request: httpx.Request) -> httpx.Response:
        refused.answer = None
        return error(401, "ticket_revoked")(request)

    for peer in net.peers:
        peer.answer = once if peer is refused else error(503, "storage_unavailable")
    moved = net.failover(max_attempts=3).chunk(0, NAME).store(BLOB)
    assert moved is not None and moved.fileserver == refused.info and net.tickets.generation == 2


def test_when_every_fileserver_fails_the_list_is_refreshed_and_the_attempts_back_off_then_give_up(net: Net) -> None:
    for peer in net.peers:
        peer.answer = error(503, "storage_unavailable")
    with pytest.raises(TransferFailed) as caught:
        net.failover(max_attempts=5).chunk(7, NAME).store(BLOB)
    assert caught.value.message.startswith("chunk 7 could not be copied after 5 attempts; last: http://peer")
    assert caught.value.message.endswith(": storage unavailable. Check the peers.")
    assert net.tickets.refreshed == 2 and len(net.stop.waits) == 2, "a pause only once all three were cooling"
    assert all(wait is not None and 0 < wait <= 5.0 for wait in net.stop.waits)


def test_busy_fileservers_are_waited_out_then_given_up_on_in_the_transfers_words(net: Net) -> None:
    for peer in net.peers:
        peer.answer = lambda request: httpx.Response(
            429, content=json.dumps({"error": "fileserver_busy", "message": "full"}), headers={"Retry-After": "2"}
        )
    move = net.failover().chunk(3, NAME)
    with pytest.raises(TransferFailed) as caught:
        move.store(BLOB)
    assert caught.value.message.startswith("chunk 3: the fileservers answered busy 100 times; last: http://peer")
    assert caught.value.message.endswith(": full. They are overloaded: copy it later")
    assert move.busy == MAX_BUSY and move.failures == 0, "busy is not failing"
    assert set(net.stop.waits) == {2.0}, "each wait lasts until the first fileserver has room"
    assert len(net.stop.waits) == MAX_BUSY - 3, "no wait while another fileserver was not yet known busy"


def test_a_stopped_transfer_makes_no_further_attempt(net: Net) -> None:
    threading.Event.set(net.stop)
    with pytest.raises(Stopped):
        net.failover().chunk(0, NAME).store(BLOB)
    assert all(peer.seen == [] for peer in net.peers)
