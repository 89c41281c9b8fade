"""Sites on the server: every cluster linked with read keeps each chunk, one way or two, and nothing else moves."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from coffer.protocol import copies, receipts
from coffer.protocol.copies import CopyFailure
from coffer.protocol.messages import ShardAnnouncement
from coffer.server.domain.repair import ORDER_TIMEOUT

from .conftest import FakeFileserver, Harness

CHUNK = 1024
SITES = {
    "shards": [{"name": "shared"}, {"name": "owned"}, {"name": "onprem"}, {"name": "spread", "copies": 2}],
    "clusters": [
        {
            "name": "a",
            "shards": [
                {"name": "shared", "read": True, "write": True, "bandwidth": "40 Mbit/s"},
                {"name": "owned", "read": True, "write": True},
                {"name": "onprem", "read": True, "write": True},
                {"name": "spread", "read": True, "write": True},
            ],
        },
        {
            "name": "b",
            "shards": [
                {"name": "shared", "read": True, "write": True},
                {"name": "owned", "read": True, "write": False},
            ],
        },
        {"name": "w", "shards": [{"name": "spread", "read": False, "write": True}]},
    ],
}
ANNOUNCED = {
    "a": [ShardAnnouncement(s, True, True) for s in ("shared", "owned", "onprem", "spread")],
    "b": [ShardAnnouncement("shared", True, True), ShardAnnouncement("owned", True, False)],
    "w": [ShardAnnouncement("spread", False, True)],
}


class Net:
    def __init__(self, harness: Harness):
        self.h = harness
        self.admin = harness.make_user("root", "admin")
        assert harness.apply(self.admin, SITES).status_code == 200, harness.apply(self.admin, SITES).json
        self.user = harness.make_user("alice")
        self.ports = iter(range(8101, 8200))

    def fileserver(self, cluster: str) -> FakeFileserver:
        fs = self.h.fileserver(self.admin, cluster)
        fs.url = f"http://127.0.0.1:{next(self.ports)}"
        fs.cluster = cluster  # type: ignore[attr-defined]
        assert self.h.register(fs, shards=ANNOUNCED[cluster]).status_code == 200
        return fs

    def beat(self, fs: FakeFileserver, **fields: Any) -> dict[str, Any]:
        shards = [s.to_json() for s in ANNOUNCED[fs.cluster]]  # type: ignore[attr-defined]
        answer = self.h.beat(fs, **({"shards": shards} | fields))
        assert answer.status_code == 200, answer.json
        return dict(answer.json)

    def orders(self, fs: FakeFileserver, **fields: Any) -> list[copies.CopyOrder]:
        return copies.parse_orders(self.beat(fs, **fields)["copy"])

    def upload(self, shard: str, on: list[FakeFileserver], chunks: int = 2) -> str:
        body = {"shard": shard, "size": CHUNK * chunks, "chunk_count": chunks, "chunk_size": CHUNK, "metadata": "AA"}
        answer = self.h.call("POST", "/api/files", body, self.user)
        assert answer.status_code == 201, answer.json
        file_id = str(answer.json["id"])
        now = self.h.clock()
        blobs = [os.urandom(CHUNK) for _ in range(chunks)]
        listed = []
        for i, blob in enumerate(blobs):
            h = hashlib.sha256(blob).hexdigest()
            signed = [receipts.sign(fs.key, receipts.Receipt(fs.id, shard, file_id, h, CHUNK, int(now))) for fs in on]
            listed.append({"index": i, "hash": h, "size": CHUNK, "receipts": signed})
        done = self.h.call("POST", f"/api/files/{file_id}/finalize", {"chunks": listed}, self.user)
        assert done.status_code == 200, done.json
        return file_id

    def copied(self, fs: FakeFileserver, given: list[copies.CopyOrder]) -> None:
        now = int(self.h.clock())
        signed = [receipts.sign(fs.key, receipts.Receipt(fs.id, o.shard, o.file, o.chunk, o.size, now)) for o in given]
        self.beat(fs, copied=signed)

    def holders(self, file_id: str) -> list[set[str]]:
        chunks = self.h.call("GET", f"/api/files/{file_id}", token=self.user).json["chunks"]
        return [set(c["fileservers"]) for c in chunks]


@pytest.fixture
def net(harness: Harness) -> Net:
    return Net(harness)


def test_a_two_way_shard_is_copied_once_to_the_other_site_and_never_back(net: Net) -> None:
    a1, a2, b1, b2 = (net.fileserver(c) for c in "aabb")
    file_id = net.upload("shared", [a1])
    assert net.orders(a2) == []  # a already keeps the chunks: no copy inside the site
    given = net.orders(b1)
    assert len(given) == 2 and {(o.source, o.file, o.bandwidth) for o in given} == {(a1.id, file_id, 0)}
    assert net.orders(b2) == []  # one open order per chunk and site
    net.copied(b1, given)
    assert net.holders(file_id) == [{a1.id, b1.id}] * 2
    assert (net.orders(a2), net.orders(b2), net.orders(a1)) == ([], [], [])  # nothing goes back where it came from
    other = net.upload("shared", [b2])  # the other way round
    back = net.orders(a2)
    assert {(o.source, o.file, o.bandwidth) for o in back} == {(b2.id, other, 5_000_000)}  # a's link: 40 Mbit/s


def test_a_read_only_site_pulls_the_writers_chunks_and_its_own_shards_never_reach_the_other_site(net: Net) -> None:
    a1, b1 = net.fileserver("a"), net.fileserver("b")
    owned = net.upload("owned", [a1])
    onprem = net.upload("onprem", [a1])
    given = net.orders(b1)
    assert {o.file for o in given} == {owned}  # the on-premises shard never leaves a
    net.copied(b1, given)  # a fileserver that only reads the shard may keep its copies
    assert net.holders(owned) == [{a1.id, b1.id}] * 2
    assert net.holders(onprem) == [{a1.id}] * 2
    assert net.orders(a1) == []
    forged = receipts.sign(b1.key, receipts.Receipt(b1.id, "onprem", onprem, "e" * 64, CHUNK, int(net.h.clock())))
    net.beat(b1, copied=[forged])
    assert net.holders(onprem) == [{a1.id}] * 2


def test_an_order_unanswered_for_two_minutes_goes_to_another_fileserver_of_the_site(net: Net) -> None:
    a1, b1, b2 = net.fileserver("a"), net.fileserver("b"), net.fileserver("b")
    net.upload("shared", [a1], chunks=1)
    assert len(net.orders(b1)) == 1
    net.h.clock.now += ORDER_TIMEOUT + 1  # b1 died mid-copy
    net.beat(a1)
    assert [o.source for o in net.orders(b2)] == [a1.id]


def test_a_corrupt_source_is_never_used_again_and_three_failures_give_the_site_copy_up_for_an_hour(net: Net) -> None:
    a1, a2, b1 = net.fileserver("a"), net.fileserver("a"), net.fileserver("b")
    net.upload("shared", [a1, a2], chunks=1)
    (first,) = net.orders(b1)
    corrupt = CopyFailure(first.file, first.chunk, first.source, "corrupt").to_json()
    (second,) = net.orders(b1, copy_failed=[corrupt])
    assert second.source != first.source
    unreachable = CopyFailure(second.file, second.chunk, second.source, "unreachable").to_json()
    (third,) = net.orders(b1, copy_failed=[unreachable])
    assert third.source == second.source  # an unreachable source may answer now
    again = CopyFailure(third.file, third.chunk, third.source, "unreachable").to_json()
    assert net.orders(b1, copy_failed=[again]) == []  # three failures: given up
    net.h.clock.now += 600
    net.beat(a1)
    net.beat(a2)
    assert net.orders(b1) == []
    net.h.clock.now += 3600
    net.beat(a1)
    net.beat(a2)
    assert [o.source for o in net.orders(b1)] == [second.source]  # an hour later; still never the corrupt one


def test_repair_puts_the_second_copy_in_another_cluster_when_one_lacks_it(net: Net) -> None:
    a1, a2, a3, w1 = (net.fileserver(c) for c in "aaaw")
    file_id = net.upload("spread", [a1, a2], chunks=1)
    net.h.clock.now += 590
    for fs in (a1, a3, w1):
        assert net.orders(fs) == []  # a2 is silent, but within the grace
    net.h.clock.now += 11  # a2 is gone past the grace
    net.beat(a1)
    given = net.orders(w1)
    assert [o.source for o in given] == [a1.id]
    assert net.orders(a3) == []  # a already holds a counted copy: the second goes to w, which lacked one
    net.copied(w1, given)
    assert net.holders(file_id) == [{a1.id, a2.id, w1.id}]


@pytest.mark.parametrize(
    ("bandwidth", "bytes_per_second"),
    [("40 Mbit/s", 5_000_000), ("1.5 Gbit/s", 187_500_000), ("800 kbit/s", 100_000)],
)
def test_a_links_bandwidth_is_read_as_bits_per_second_and_kept_in_bytes(
    harness: Harness, bandwidth: str, bytes_per_second: int
) -> None:
    admin = harness.make_user("root", "admin")
    config = {"shards": [{"name": "s"}], "clusters": [{"name": "c", "shards": [{"name": "s", "read": True}]}]}
    config["clusters"][0]["shards"][0]["bandwidth"] = bandwidth  # type: ignore[index]
    changes = harness.apply(admin, config).json["changes"]
    assert [c.get("bandwidth") for c in changes if c["kind"] == "link"] == [bytes_per_second]
    assert harness.apply(admin, config).json["changes"] == []


@pytest.mark.parametrize("bandwidth", ["40", 40, "40 MB/s", "0 Mbit/s", "-1 Mbit/s", "fast", "900 Gbit/s", True])
def test_a_bandwidth_not_written_as_a_bit_rate_is_refused(harness: Harness, bandwidth: object) -> None:
    admin = harness.make_user("root", "admin")
    link = {"name": "s", "read": True, "bandwidth": bandwidth}
    answer = harness.apply(admin, {"shards": [{"name": "s"}], "clusters": [{"name": "c", "shards": [link]}]})
    assert (answer.status_code, answer.json["error"]) == (400, "invalid_config")
    assert "40 Mbit/s" in answer.json["message"]


def test_a_source_that_stopped_beating_is_an_outage_its_failures_do_not_give_the_copy_up(net: Net) -> None:
    a1, b1 = net.fileserver("a"), net.fileserver("b")
    net.upload("shared", [a1], chunks=1)
    (order,) = net.orders(b1)
    net.h.clock.now += net.h.settings.lease_seconds + 1  # the line to a is cut: a beats no more, b's fetches fail
    cut = CopyFailure(order.file, order.chunk, a1.id, "unreachable").to_json()
    for _ in range(5):
        assert net.orders(b1, copy_failed=[cut]) == []  # no live source: nothing ordered, nothing given up
    net.beat(a1)  # the line is back
    assert [o.source for o in net.orders(b1)] == [a1.id]
