"""Reads stay in the client's site: the order in which a chunk's candidates are tried, as pure logic."""

from __future__ import annotations

import math
import random
import threading
import uuid

import httpx

from coffer.protocol.api.tickets import LiveFileserver
from coffer.transfer.balancer import Balancer, FileserverInfo
from coffer.transfer.failover import Failover, Wording
from coffer.transfer.http import ChunkClient
from coffer.transfer.sites import SiteChoice, nearest

A = [FileserverInfo(f"a{n}", f"http://10.0.1.{n}:9000", cluster="office-a") for n in range(2)]
B = [FileserverInfo(f"b{n}", f"http://10.0.2.{n}:9000", cluster="office-b") for n in range(2)]
EVERYONE = A + B


def probe_from(times: dict[str, float | None]) -> tuple[list[str], SiteChoice]:
    """A site choice whose probe answers *times* by URL host, and the URLs it probed."""
    probed: list[str] = []

    def probe(url: str) -> float | None:
        probed.append(url)
        return times[httpx.URL(url).host]

    return probed, SiteChoice(probe=probe)


def test_with_a_configured_site_its_holders_come_first_then_the_other_holders() -> None:
    site = SiteChoice("office-b")
    assert site.tiers({"a0", "b1"}, EVERYONE) == [{"b1"}, {"a0", "b1"}]


def test_a_chunk_the_site_does_not_hold_yet_goes_to_the_other_holders() -> None:
    assert SiteChoice("office-b").tiers({"a0", "a1"}, EVERYONE) == [{"a0", "a1"}]


def test_without_holders_to_prefer_the_site_comes_first() -> None:
    """An upload's first copy: the site's writers; with no site at all, no preference (anyone)."""
    assert SiteChoice("office-a").tiers(None, EVERYONE) == [{"a0", "a1"}]
    assert SiteChoice().tiers(None, EVERYONE) == []
    assert SiteChoice().tiers({"a0"}, EVERYONE) == [{"a0"}]


def test_the_site_is_learned_once_from_the_clearly_fastest_connects() -> None:
    probed, site = probe_from({"10.0.1.0": 0.020, "10.0.1.1": 0.030, "10.0.2.0": 0.0004, "10.0.2.1": None})
    assert site.site(EVERYONE) == "office-b"
    assert site.connect == {"office-a": 0.020, "office-b": 0.0004}, "the fastest of each cluster's connects"
    assert site.tiers({"a1", "b0"}, EVERYONE) == [{"b0"}, {"a1", "b0"}]
    assert len(probed) == 4, "probed once per process, not per chunk"


def test_no_site_is_learned_when_no_cluster_stands_out_or_one_cluster_is_listed() -> None:
    _, even = probe_from({"10.0.1.0": 0.001, "10.0.1.1": 0.001, "10.0.2.0": 0.0008, "10.0.2.1": 0.0009})
    assert even.site(EVERYONE) is None and even.tiers({"a0"}, EVERYONE) == [{"a0"}]
    probed, alone = probe_from({})
    assert alone.site(A) is None and probed == [], "one cluster listed: nothing to choose, nothing probed"
    assert nearest({"office-a": 0.001}, 2.0) is None
    assert nearest({"office-a": math.inf, "office-b": math.inf}, 2.0) is None, "nothing answered: no site"


def test_a_configured_site_is_never_probed_over() -> None:
    probed, _ = probe_from({})
    site = SiteChoice("office-a", probe=probed.append)
    assert site.site(EVERYONE) == "office-a" and probed == []


def test_a_server_older_than_sites_lists_no_cluster_and_nothing_changes() -> None:
    old = LiveFileserver.parse({"id": "x", "url": "http://10.0.3.1:9000"})
    assert old.cluster is None and "cluster" not in old.to_json()
    info = FileserverInfo.of(old)
    assert SiteChoice("office-a").tiers({"x"}, [info]) == [{"x"}]
    assert FileserverInfo.of(LiveFileserver.parse(old.to_json() | {"cluster": "office-a"})).cluster == "office-a"


class Tickets:
    generation = 1

    def ticket_for(self, chunk_hash: str) -> str:
        return "ticket"

    def renew(self, seen: int) -> None: ...

    def refresh_servers(self) -> None: ...


def test_the_engine_reads_from_the_site_and_fails_over_to_a_remote_holder() -> None:
    """Both offices hold the chunk: office B's client reads B's copy; with B's holder down, A's copy."""
    got: list[str] = []
    down: set[str] = set()
    chunk = b"sealed"

    def serve(request: httpx.Request) -> httpx.Response:
        got.append(request.url.host)
        if request.url.host in down:
            return httpx.Response(503, json={"error": "storage_unavailable", "message": "down"})
        return httpx.Response(200, content=chunk)

    servers = [A[0], B[0]]
    with ChunkClient(transport=httpx.MockTransport(serve), site=SiteChoice("office-b")) as chunks:
        for _ in range(5):
            balancer = Balancer(servers, clock=lambda: 0.0, rng=random.Random())
            failover = Failover(
                chunks,
                balancer,
                Tickets(),
                shard="shared",
                file_id=str(uuid.uuid4()),
                max_attempts=4,
                stop=threading.Event(),
                rng=random.Random(1),
                wording=Wording("download", "fetched", "again", "later"),
            )
            into = memoryview(bytearray(len(chunk)))
            moved = failover.chunk(0, "00" * 32, prefer={"a0", "b0"}).fetch_into(into)
            assert moved is not None and moved.fileserver.id == "b0"
        assert set(got) == {"10.0.2.0"}
        down.add("10.0.2.0")
        moved = failover.chunk(0, "00" * 32, prefer={"a0", "b0"}).fetch_into(into)
        assert moved is not None and moved.fileserver.id == "a0", "a failing local holder hands over: failover stays"


def test_the_probes_run_at_once_so_an_unreachable_office_costs_one_timeout() -> None:
    """Every probe waits for all the others: run one after another, they could not all arrive."""
    barrier = threading.Barrier(len(EVERYONE))

    def probe(url: str) -> float | None:
        barrier.wait(timeout=5)
        return 0.0001 if "10.0.2." in url else None

    assert SiteChoice(probe=probe).site(EVERYONE) == "office-b", "the office that answers is the site"
