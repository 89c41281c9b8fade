"""A put ticket stores no more of a file on this fileserver than the file declared: chunk count and bytes."""

from __future__ import annotations

from pathlib import Path

import falcon.testing
import pytest

from coffer.fileserver.settings import Settings
from coffer.fileserver.storage.local import LocalBackend
from coffer.protocol.ids import chunk_name
from tests.fileserver.fs_helpers import TicketMaker, auth, chunk_of, stored_files

Client = falcon.testing.TestClient
Result = falcon.testing.Result


def put(client: Client, tickets_: TicketMaker, ticket: str, size: int, seed: int) -> Result:
    data, chunk = chunk_of(size, seed)
    return client.simulate_put(f"/api/chunks/default/{tickets_.file}/{chunk}", body=data, headers=auth(ticket))


def refused(result: Result) -> bool:
    return result.status_code == 413 and result.json["error"] == "upload_exceeds_declared"


def chunk_dirs(settings: Settings) -> list[str]:
    return [name for name in stored_files(settings.data_dir) if "/tmp" not in name]


def test_a_one_byte_file_cannot_store_more_than_one_byte_whatever_its_chunk_size(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    """The confirmed attack in one fileserver: a file declared as 1 byte, then chunk after chunk with its ticket."""
    ticket = tickets_.put(max_bytes=1, max_chunks=1, max_total=1)
    assert put(client, tickets_, ticket, 1, seed=0).status_code == 201
    results = [put(client, tickets_, ticket, 1, seed=s) for s in range(1, 20)]
    assert all(refused(r) for r in results)
    assert len(chunk_dirs(settings)) == 1


def test_chunks_past_the_declared_count_are_refused_even_if_bytes_remain(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    ticket = tickets_.put(max_bytes=1000, max_chunks=2, max_total=1 << 20)
    assert [put(client, tickets_, ticket, 10, seed=s).status_code for s in range(2)] == [201, 201]
    third = put(client, tickets_, ticket, 10, seed=2)
    assert refused(third) and "declared 2" in third.json["message"]
    assert len(chunk_dirs(settings)) == 2


def test_a_chunk_that_would_pass_the_declared_bytes_is_refused_before_its_body_is_stored(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    ticket = tickets_.put(max_bytes=1000, max_chunks=10, max_total=1500)
    assert put(client, tickets_, ticket, 1000, seed=0).status_code == 201
    assert refused(put(client, tickets_, ticket, 501, seed=1))
    assert put(client, tickets_, ticket, 500, seed=2).status_code == 201
    assert refused(put(client, tickets_, ticket, 1, seed=3))
    assert len(chunk_dirs(settings)) == 2


def test_the_bound_counts_what_is_stored_so_a_fresh_ticket_does_not_reset_it(
    client: Client, tickets_: TicketMaker
) -> None:
    """Every worker and a restarted fileserver count the same: the chunks the file already has on disk."""
    assert put(client, tickets_, tickets_.put(max_chunks=1, max_total=100), 100, seed=0).status_code == 201
    assert refused(put(client, tickets_, tickets_.put(max_chunks=1, max_total=100), 1, seed=1))


def test_a_retry_of_a_stored_chunk_is_answered_even_when_the_file_is_full(
    client: Client, tickets_: TicketMaker
) -> None:
    ticket = tickets_.put(max_chunks=1, max_total=100)
    assert put(client, tickets_, ticket, 100, seed=0).status_code == 201
    again = put(client, tickets_, ticket, 100, seed=0)
    assert again.status_code == 200 and again.json["receipt"]


def test_the_bound_is_per_file_so_another_files_chunks_do_not_count(client: Client, tickets_: TicketMaker) -> None:
    ticket = tickets_.put(max_chunks=1, max_total=100)
    assert put(client, tickets_, ticket, 100, seed=0).status_code == 201
    other = TicketMaker(tickets_.key)
    assert put(client, other, other.put(max_chunks=1, max_total=100), 100, seed=0).status_code == 201


def test_a_chunk_that_a_racing_worker_pushed_past_the_bound_is_withdrawn(
    client: Client, tickets_: TicketMaker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers may both pass the check before either stores: one that finds the file over withdraws its chunk."""
    racer, racer_hash = chunk_of(80, seed=9)
    real_put = LocalBackend.put

    def put_with_a_racer(self: LocalBackend, name: str, stream: object, size: int) -> bool:
        real_put(self, chunk_name(tickets_.file, racer_hash), _Bytes(racer), len(racer))
        return real_put(self, name, stream, size)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalBackend, "put", put_with_a_racer)
    result = put(client, tickets_, tickets_.put(max_chunks=2, max_total=100), 80, seed=0)
    assert refused(result)
    assert [Path(name).name for name in chunk_dirs(settings)] == [racer_hash]


class _Bytes:
    def __init__(self, data: bytes):
        self._data = memoryview(data)

    def read(self, size: int, /) -> bytes:
        piece, self._data = self._data[:size], self._data[size:]
        return bytes(piece)
