"""Repair on the server: copy orders in heartbeat answers, copy receipts as locations, failures and give-ups."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from coffer.protocol import copies, receipts
from coffer.protocol.copies import CopyFailure
from coffer.protocol.messages import ShardAnnouncement
from coffer.protocol.settings import SettingsError
from coffer.server.settings import ServerSettings

from .conftest import FakeFileserver, Harness
from .test_copies import TWO_COPIES, finalize, new_file

CHUNK = 1024
GRACE = 600.0


@pytest.fixture
def net(harness: Harness) -> tuple[str, str, list[FakeFileserver]]:
    """Shard ``default`` at two copies, three live fileservers a, b, c, and a user's session."""
    admin = harness.make_user("root", "admin")
    assert harness.apply(admin, TWO_COPIES).status_code == 200
    servers = []
    for port in (8101, 8102, 8103):
        fs = harness.fileserver(admin)
        fs.url = f"http://127.0.0.1:{port}"
        assert harness.register(fs).status_code == 200
        servers.append(fs)
    return admin, harness.make_user("alice"), servers


def stored(harness: Harness, user: str, on: list[FakeFileserver], chunks: int = 2) -> tuple[str, list[bytes]]:
    """A complete file of *chunks* chunks, each on every fileserver in *on*."""
    file_id = new_file(harness, user, chunks)
    blobs = [os.urandom(CHUNK) for _ in range(chunks)]
    assert finalize(harness, user, file_id, blobs, [on] * chunks).status_code == 200
    return file_id, blobs


def beat(harness: Harness, fs: FakeFileserver, **fields: Any) -> dict[str, Any]:
    answer = harness.beat(fs, **fields)
    assert answer.status_code == 200, answer.json
    return dict(answer.json)


def orders(harness: Harness, fs: FakeFileserver, **fields: Any) -> list[copies.CopyOrder]:
    return copies.parse_orders(beat(harness, fs, **fields)["copy"])


def lose(harness: Harness, gone: FakeFileserver, live: list[FakeFileserver]) -> None:
    """Let *gone* fall silent for longer than the grace while *live* keep beating."""
    harness.clock.now += GRACE + 1
    for fs in live:
        beat(harness, fs)


def receipt_of(fs: FakeFileserver, order: copies.CopyOrder, now: float) -> str:
    body = receipts.Receipt(fs.id, order.shard, order.file, order.chunk, order.size, int(now))
    return receipts.sign(fs.key, body)


def health(harness: Harness, admin: str) -> tuple[int, int]:
    shard = next(s for s in harness.call("GET", "/api/admin/shards", token=admin).json if s["name"] == "default")
    return shard["below_copies"], shard["unrepairable"]


def locations(harness: Harness, user: str, file_id: str) -> list[set[str]]:
    return [set(c["fileservers"]) for c in harness.call("GET", f"/api/files/{file_id}", token=user).json["chunks"]]


def test_no_copy_is_ordered_while_every_holder_is_within_the_grace_nor_to_a_read_only_fileserver(
    harness: Harness, net: tuple[str, str, list[FakeFileserver]]
) -> None:
    admin, user, (a, b, c) = net
    stored(harness, user, [a, b])
    harness.clock.now += GRACE - 1  # b is silent, but not for long enough: a restart, not a loss
    beat(harness, a)
    assert orders(harness, c) == []
    assert health(harness, admin) == (0, 0)
    harness.clock.now += 2
    beat(harness, a)
    read_only = [ShardAnnouncement("default", True, False).to_json()]
    assert orders(harness, c, shards=read_only) == []  # a fileserver that may not write the shard copies nothing
    assert len(orders(harness, c)) == 2


def test_a_chunk_whose_holder_is_gone_past_the_grace_is_copied_from_a_good_one_and_its_receipt_is_a_location(
    harness: Harness, net: tuple[str, str, list[FakeFileserver]]
) -> None:
    admin, user, (a, b, c) = net
    file_id, blobs = stored(harness, user, [a, b])
    lose(harness, b, [a])
    assert health(harness, admin) == (2, 0)
    assert orders(harness, a) == []  # a holds every chunk: nothing for it to copy
    given = orders(harness, c)
    assert sorted(o.chunk for o in given) == sorted(hashlib.sha256(b).hexdigest() for b in blobs)
    assert {(o.source, o.source_url, o.file, o.size) for o in given} == {(a.id, a.url, file_id, CHUNK)}
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    ticket = copies.verify(given[0].ticket, keys, harness.clock())
    assert (ticket.target, ticket.source, ticket.chunk) == (c.id, a.id, given[0].chunk)
    assert orders(harness, c) == []  # an open order is not handed out twice
    now = harness.clock()
    forged = receipts.sign(a.key, receipts.Receipt(c.id, "default", file_id, given[0].chunk, CHUNK, int(now)))
    unknown = receipts.sign(c.key, receipts.Receipt(c.id, "default", file_id, "e" * 64, CHUNK, int(now)))
    beat(harness, c, copied=[forged, unknown, receipt_of(a, given[0], now)])  # none is c's word for a chunk here
    assert locations(harness, user, file_id) == [{a.id, b.id}] * 2
    beat(harness, c, copied=[receipt_of(c, o, now) for o in given])
    assert locations(harness, user, file_id) == [{a.id, b.id, c.id}] * 2
    assert health(harness, admin) == (0, 0)
    assert harness.call("DELETE", f"/api/files/{file_id}", token=user).status_code == 204
    assert {p["file"] for p in beat(harness, c)["purge"]} == {file_id}  # deletion reaches the repaired copy


def test_a_fileserver_holds_at_most_the_batch_of_open_copy_orders(database_url: str) -> None:
    h = Harness(database_url, repair_batch=3)
    try:
        admin = h.make_user("root", "admin")
        assert h.apply(admin, TWO_COPIES).status_code == 200
        a, b, c = (h.fileserver(admin) for _ in range(3))
        for fs in (a, b, c):
            assert h.register(fs).status_code == 200
        user = h.make_user("alice")
        stored(h, user, [a, b], chunks=5)
        lose(h, b, [a])
        first = orders(h, c)
        assert len(first) == 3
        assert orders(h, c) == []  # three are open: no more until some are reported
        now = h.clock()
        assert len(orders(h, c, copied=[receipt_of(c, first[0], now), receipt_of(c, first[1], now)])) == 2
        assert orders(h, a) == []
    finally:
        h.db.close()


def test_an_unreachable_source_is_tried_again_but_a_corrupt_one_never_and_then_the_chunk_is_given_up(
    harness: Harness, net: tuple[str, str, list[FakeFileserver]]
) -> None:
    admin, user, (a, b, c) = net
    file_id, _ = stored(harness, user, [a, b], chunks=1)
    lose(harness, b, [a])
    (order,) = orders(harness, c)
    unreachable = CopyFailure(order.file, order.chunk, a.id, "unreachable")
    again = orders(harness, c, copy_failed=[unreachable.to_json()])  # ordered again at once: a may answer now
    assert [(o.chunk, o.source) for o in again] == [(order.chunk, a.id)]
    failure = CopyFailure(order.file, order.chunk, a.id, "corrupt")
    assert orders(harness, c, copy_failed=[failure.to_json()]) == []  # a was its only live holder
    assert health(harness, admin) == (1, 1)
    harness.clock.now += 60
    beat(harness, a)
    assert orders(harness, c) == []  # given up: not retried at every beat
    assert locations(harness, user, file_id) == [{a.id, b.id}]


def test_a_chunk_with_no_live_holder_is_reported_unrepairable_and_retried_only_much_later(
    harness: Harness, net: tuple[str, str, list[FakeFileserver]]
) -> None:
    admin, user, (a, b, c) = net
    stored(harness, user, [a, b], chunks=1)
    harness.clock.now += GRACE + 1  # both holders gone
    beat(harness, c)
    assert orders(harness, c) == []
    assert health(harness, admin) == (1, 1)
    harness.register(a)  # a comes back: the chunk has a good source again, but the give-up holds for an hour
    assert orders(harness, c) == []
    harness.clock.now += 3601
    beat(harness, a)
    assert [o.source for o in orders(harness, c)] == [a.id]


@pytest.mark.parametrize("bad", [{"repair_grace": 10.0}, {"repair_batch": -1}, {"repair_batch": 33}])
def test_a_grace_shorter_than_the_lease_or_a_batch_beyond_0_to_32_is_refused_at_start(bad: dict[str, Any]) -> None:
    with pytest.raises(SettingsError, match="repair_grace must be at least lease_seconds"):
        ServerSettings(**bad)
