"""A program that is not the client moves a chunk between real fileservers with coffer.transfer alone.

Fileservers will copy chunks to each other (replication, sync) with the client's
transfer engine. Here a test plays that program: it reads a chunk from the live
fileserver that holds it and stores it on another, stepping past a dead fileserver
on each side, with nothing of the client but the server session the integration
tests always use to get tickets (:mod:`coffer.devnet.raw_chunks`).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from coffer.devnet.raw_chunks import finalize, get_tickets, new_file, put_chunk, put_ticket
from coffer.transfer.balancer import Balancer, FileserverInfo
from coffer.transfer.failover import Failover, Wording
from coffer.transfer.http import ChunkClient

from .network import Network, start_network

pytestmark = pytest.mark.slow

COPY = Wording("copy", "copied", "Check the fileservers.", "copy it later")


class Tickets:
    """Tickets from a function that asks the server for them; the engine calls it again to renew."""

    def __init__(self, fetch: Callable[[], dict[str, str]]):
        self._fetch = fetch
        self._lock = threading.Lock()
        self.tickets = fetch()
        self.generation = 1

    def ticket_for(self, chunk_hash: str) -> str:
        return self.tickets.get(chunk_hash, "")

    def renew(self, seen: int) -> None:
        with self._lock:
            if seen == self.generation:
                self.tickets, self.generation = self._fetch(), self.generation + 1

    def refresh_servers(self) -> None:
        pass


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = start_network(tmp_path_factory.mktemp("engine-net"), fileservers=3)
    try:
        yield net
    finally:
        net.stop()


def test_a_chunk_is_copied_from_one_fileserver_to_another_past_a_dead_one(network: Network) -> None:
    api = network.admin
    assert api is not None
    info = {fs.name: FileserverInfo(network.fileserver_id(fs), fs.url) for fs in network.fileservers}
    holder, spare, dead = info["fs1"], info["fs2"], info["fs3"]
    data = os.urandom(300_000)
    name = hashlib.sha256(data).hexdigest()

    # File A's chunk on fs1 and fs3; then fs3 dies, and the copier still has it on its list.
    source = new_file(api, [data])
    ticket, _ = put_ticket(api, source["id"])
    stored = [put_chunk(fs.url, source["id"], data, ticket) for fs in (holder, dead)]
    assert all(answer.status_code == 201 for answer in stored), [answer.text for answer in stored]
    finalize(api, source["id"], [data], [[answer.json()["receipt"] for answer in stored]])
    network.fileservers[2].proc.kill(signal.SIGKILL)

    target = new_file(api, [data])
    with ChunkClient() as chunks:

        def side(file_id: str, tickets: Tickets) -> Failover:
            return Failover(
                chunks,
                Balancer(info.values(), rng=random.Random(5)),
                tickets,
                shard="default",
                file_id=file_id,
                max_attempts=4,
                stop=threading.Event(),
                rng=random.Random(5),
                wording=COPY,
            )

        reader = side(source["id"], Tickets(lambda: get_tickets(api, source["id"])))
        writer = side(target["id"], Tickets(lambda: {name: put_ticket(api, target["id"])[0]}))

        read = reader.chunk(0, name, prefer={dead.id})
        buffer = bytearray(len(data))
        got = read.fetch_into(memoryview(buffer))
        assert got is not None and got.fileserver == holder and bytes(buffer[: got.result]) == data
        assert read.failures == 1, "the dead holder was tried first, then the live one (fs2 lacks the chunk)"

        write = writer.chunk(0, name, prefer={dead.id})
        write.exclude.add(holder.id)
        copied = write.store(memoryview(buffer)[: got.result])
        assert copied is not None and copied.fileserver == spare
        assert write.failures == 1, "the dead fileserver was tried first, then the other"

        # The copy is real: the server takes fs2's receipt for file B, and fs2 serves its bytes.
        done = finalize(api, target["id"], [data], [[copied.result.receipt]])
        assert done["state"] == "complete" and done["chunks"][0]["fileservers"] == [spare.id]
        check = bytearray(len(data))
        n = chunks.get_into(
            spare.url, "default", target["id"], name, get_tickets(api, target["id"])[name], memoryview(check)
        )
        assert bytes(check[:n]) == data
