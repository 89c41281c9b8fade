"""Repair copies on a fileserver: a source serves a copy ticket's one chunk; a target stores only verified bytes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import falcon.testing
import httpx
import pytest

from coffer.fileserver.agent.bandwidth import Buckets
from coffer.fileserver.agent.copier import Copier
from coffer.fileserver.identity import Identity
from coffer.fileserver.shards import ServedShard
from coffer.fileserver.storage.local import LocalBackend
from coffer.protocol import copies, receipts
from coffer.protocol.ids import chunk_name, new_id
from coffer.protocol.signing import SigningKey
from coffer.transfer.http import ChunkClient

from .fs_helpers import NOW, TicketMaker, auth, chunk_of

SOURCE = new_id()


def copy_ticket(key: SigningKey, *, source: str, file: str, chunk: str, size: int) -> str:
    ticket = copies.CopyTicket(new_id(), source, "default", file, chunk, size, NOW - 10, NOW + 300, new_id())
    return copies.issue(key, ticket)


def test_a_copy_ticket_reads_its_one_chunk_at_the_source_it_names_and_nothing_else(
    client: falcon.testing.TestClient, identity: Identity, server_key: SigningKey, tickets_: TicketMaker
) -> None:
    data, chunk = chunk_of(5000)
    other, other_chunk = chunk_of(3000, seed=1)
    for blob, h in ((data, chunk), (other, other_chunk)):
        stored = client.simulate_put(
            f"/api/chunks/default/{tickets_.file}/{h}", body=blob, headers=auth(tickets_.put())
        )
        assert stored.status_code == 201
    url = f"/api/chunks/default/{tickets_.file}/{chunk}"
    mine = copy_ticket(server_key, source=identity.fileserver_id, file=tickets_.file, chunk=chunk, size=5000)
    assert client.simulate_get(url, headers=auth(mine)).content == data
    assert client.simulate_head(url, headers=auth(mine)).status_code == 200
    elsewhere = copy_ticket(server_key, source=new_id(), file=tickets_.file, chunk=chunk, size=5000)
    refused = client.simulate_get(url, headers=auth(elsewhere))
    assert (refused.status_code, refused.json["error"]) == (403, "ticket_scope")
    other_url = f"/api/chunks/default/{tickets_.file}/{other_chunk}"
    assert client.simulate_get(other_url, headers=auth(mine)).status_code == 403
    put = client.simulate_put(url, body=data, headers=auth(mine))
    assert (put.status_code, put.json["error"]) == (403, "ticket_scope")
    forged = copy_ticket(SigningKey.generate(), source=identity.fileserver_id, file=tickets_.file, chunk=chunk, size=1)
    assert client.simulate_get(url, headers=auth(forged)).status_code == 401


def copier_for(tmp_path: Path, serve: httpx.MockTransport, *, write: bool = True) -> tuple[Copier, LocalBackend]:
    backend = LocalBackend(tmp_path / "chunks")
    shard = ServedShard("default", True, write, backend)
    identity = Identity(new_id(), SigningKey.generate())
    return Copier([shard], identity, ChunkClient(transport=serve)), backend


def order_for(chunk: str, size: int, file: str) -> copies.CopyOrder:
    return copies.CopyOrder("default", file, chunk, size, SOURCE, "http://source.test", "copy-ticket")


def serving(body: bytes, status: int = 200, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if status != 200:
            return httpx.Response(status, json={"error": "storage_unavailable", "message": "down"})
        return httpx.Response(200, content=body, headers={"Content-Length": str(len(body))})

    return httpx.MockTransport(handle)


def test_a_copied_chunk_is_stored_verified_and_reported_with_a_receipt_of_this_fileserver(tmp_path: Path) -> None:
    data, chunk = chunk_of(7000)
    file = new_id()
    seen: list[httpx.Request] = []
    copier, backend = copier_for(tmp_path, serving(data, seen=seen))
    copier.copy(order_for(chunk, len(data), file))
    assert seen[0].headers["Authorization"] == "Ticket copy-ticket"
    assert seen[0].url.path == f"/api/chunks/default/{file}/{chunk}"
    with backend.open(chunk_name(file, chunk)) as blocks:
        assert hashlib.sha256(b"".join(blocks)).hexdigest() == chunk
    copied, failed = copier.take(10)
    assert failed == []
    receipt = receipts.verify(copied[0], copier._identity.key.public_key)
    assert (receipt.fs, receipt.file, receipt.chunk, receipt.size) == (
        copier._identity.fileserver_id,
        file,
        chunk,
        7000,
    )


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [(b"\0" * 7000, 200, "corrupt"), (b"x" * 6999, 200, "corrupt"), (b"", 503, "unreachable")],
)
def test_a_source_with_bad_bytes_or_no_answer_is_reported_and_nothing_is_stored(
    tmp_path: Path, body: bytes, status: int, reason: str
) -> None:
    _, chunk = chunk_of(7000)
    file = new_id()
    copier, backend = copier_for(tmp_path, serving(body, status))
    copier.copy(order_for(chunk, 7000, file))
    assert list(backend.list()) == []
    assert copier.take(10) == ([], [copies.CopyFailure(file, chunk, SOURCE, reason)])  # type: ignore[arg-type]


def test_an_order_for_a_shard_this_fileserver_only_reads_is_stored_and_one_it_does_not_serve_is_ignored(
    tmp_path: Path,
) -> None:
    data, chunk = chunk_of(100)
    seen: list[httpx.Request] = []
    copier, backend = copier_for(tmp_path, serving(data, seen=seen), write=False)
    file = new_id()
    copier.copy(order_for(chunk, 100, file))  # a site that reads the shard keeps its chunks too
    assert backend.stat(chunk_name(file, chunk)).size == 100
    assert len(copier.take(10)[0]) == 1
    elsewhere = copies.CopyOrder("other", file, chunk, 100, SOURCE, "http://source.test", "copy-ticket")
    copier.copy(elsewhere)
    assert (len(seen), copier.take(10)) == (1, ([], []))


def test_a_copy_of_a_shard_whose_link_has_a_bandwidth_cap_waits_for_its_bucket(tmp_path: Path) -> None:
    data, chunk = chunk_of(4000)
    slept: list[float] = []
    clock = [0.0]
    backend = LocalBackend(tmp_path / "chunks")
    copier = Copier(
        [ServedShard("default", True, True, backend)],
        Identity(new_id(), SigningKey.generate()),
        ChunkClient(transport=serving(data)),
        buckets=Buckets(clock=lambda: clock[0], sleep=slept.append),
    )
    capped = copies.CopyOrder("default", new_id(), chunk, 4000, SOURCE, "http://source.test", "t", bandwidth=1000)
    copier.copy(capped)  # a burst of one second's bytes, then 3,000 bytes of debt at 1,000 B/s
    assert slept == [3.0]
    copier.copy(replace(capped, file=new_id(), bandwidth=0))  # no cap: no wait
    assert slept == [3.0] and len(copier.take(10)[0]) == 2


def test_an_order_sent_again_before_it_ran_is_queued_once_and_reports_put_back_come_first(tmp_path: Path) -> None:
    data, chunk = chunk_of(100)
    copier, _ = copier_for(tmp_path, serving(data))
    order = order_for(chunk, 100, new_id())
    copier.order([order, order])
    copier.order([order])
    assert len(copier._queue) == 1
    copier.copy(copier._queue.popleft())
    copied, _ = copier.take(10)
    copier.put_back(copied, [])
    assert copier.pending() == 1 and copier.take(10)[0] == copied


def test_the_copier_is_drained_once_every_order_is_carried_out_and_its_reports_wait(tmp_path: Path) -> None:
    data, chunk = chunk_of(100)
    copier, _ = copier_for(tmp_path, serving(data))
    assert not copier.drained(), "nothing to report yet"
    copier.order([order_for(chunk, 100, new_id()), order_for(chunk, 100, new_id())])
    first = copier._queue.popleft()
    copier.copy(first)
    copier._queued.discard((first.file, first.chunk))
    assert not copier.drained(), "one order still to carry out: no beat for one receipt"
    second = copier._queue.popleft()
    copier.copy(second)
    copier._queued.discard((second.file, second.chunk))
    assert copier.drained()
    copier.take(10)
    assert not copier.drained(), "the reports went with a beat"
