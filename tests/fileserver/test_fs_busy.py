"""A fileserver caps its concurrent transfers: over the cap a chunk request gets 429 ``fileserver_busy``."""

from __future__ import annotations

from collections.abc import Callable

import falcon.testing
import pytest

from coffer.fileserver.counters import SharedCounters, private_counters
from coffer.fileserver.data.app import create_app
from coffer.fileserver.identity import Identity
from coffer.fileserver.settings import Settings
from coffer.protocol.settings import SettingsError
from tests.fileserver.fs_helpers import NOW, TicketMaker, auth, chunk_of

CAP = 2


@pytest.fixture
def table() -> SharedCounters:
    """Counters of two workers: the app under test writes slot 0, "another worker" slot 1."""
    return SharedCounters(slots=2, max_active=CAP)


@pytest.fixture
def busy_client(settings: Settings, identity: Identity, table: SharedCounters) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(settings, identity=identity, counters=table.slot(0), clock=lambda: NOW))


def chunk_url(tickets_: TicketMaker, chunk: str) -> str:
    return f"/api/chunks/default/{tickets_.file}/{chunk}"


def test_over_the_cap_puts_and_gets_get_429_busy_with_retry_after(
    busy_client: falcon.testing.TestClient, tickets_: TicketMaker, table: SharedCounters
) -> None:
    data, chunk = chunk_of(1000)
    assert (
        busy_client.simulate_put(chunk_url(tickets_, chunk), body=data, headers=auth(tickets_.put())).status_code == 201
    )
    other = table.slot(1)
    for _ in range(CAP):
        other.begin()  # transfers running in another worker
    put = busy_client.simulate_put(chunk_url(tickets_, chunk), body=data, headers=auth(tickets_.put()))
    get = busy_client.simulate_get(chunk_url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    for refused in (put, get):
        assert (refused.status_code, refused.json["error"]) == (429, "fileserver_busy")
        assert refused.headers["Retry-After"] == "1"
    head = busy_client.simulate_head(chunk_url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert head.status_code == 200, "a HEAD moves no bytes and is served even when busy"
    other.end()
    get = busy_client.simulate_get(chunk_url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert get.status_code == 200 and get.content == data
    assert table.active() == CAP - 1, "the finished download gave its slot back"


def test_a_bad_ticket_is_refused_as_such_even_when_busy(
    busy_client: falcon.testing.TestClient, tickets_: TicketMaker, table: SharedCounters
) -> None:
    for _ in range(CAP):
        table.slot(1).begin()
    _, chunk = chunk_of(10)
    result = busy_client.simulate_get(chunk_url(tickets_, chunk), headers=auth("garbage"))
    assert result.status_code == 401, "the client must renew its ticket, not wait for a slot"


def test_without_a_cap_a_fileserver_is_never_full() -> None:
    counters = private_counters()
    for _ in range(1000):
        counters.begin()
    assert not counters.full()
    capped = private_counters(max_active=3)
    for _ in range(3):
        capped.begin()
    assert capped.full()


def test_the_default_cap_keeps_a_thread_per_worker_free(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(workers=2, threads=8).fileserver.transfer_cap == 14
    assert make_settings(workers=1, threads=1).fileserver.transfer_cap == 1
    assert make_settings(max_transfers=40).fileserver.transfer_cap == 40
    assert make_settings(max_transfers=0).fileserver.transfer_cap == 0, "0 lifts the cap"
    with pytest.raises(SettingsError):
        make_settings(max_transfers=-1)
