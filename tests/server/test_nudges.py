"""Nudges from the server: whom a finalize or a copy receipt gives new copy work, and how they are told."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from coffer.protocol import nudges, routes
from coffer.server.domain import sites
from coffer.server.domain.copies import RETRY_AFTER
from coffer.server.domain.repair import ORDER_TIMEOUT
from coffer.server.jobs.nudger import FIRST_PAUSE, Nudger

from .conftest import Harness
from .test_sites import Net


class Recorder:
    """Stands in for the nudger: what the request handlers hand it."""

    def __init__(self) -> None:
        self.files: list[set[str]] = []

    def files_changed(self, file_ids: object) -> None:
        self.files.append(set(file_ids))  # type: ignore[call-overload]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def nudged(database_url: str, recorder: Recorder) -> Iterator[Net]:
    h = Harness(database_url, nudger=recorder)
    yield Net(h)
    h.db.close()


def lacking(net: Net, *file_ids: str) -> set[str]:
    now = net.h.clock()
    s = net.h.settings
    cuts = sites.Cuts(
        counted=now - s.repair_grace, live=now - s.lease_seconds, open=now - ORDER_TIMEOUT, retry=now - RETRY_AFTER
    )
    with net.h.db.transaction() as tx:
        return {r["id"] for r in sites.sites_lacking(tx, list(file_ids), cuts, 64)}


def test_the_fileservers_of_every_other_reading_site_have_work_once_a_file_is_finalized(
    nudged: Net, recorder: Recorder
) -> None:
    a1, a2, b1, b2 = (nudged.fileserver(c) for c in "aabb")
    shared = nudged.upload("shared", [a1])
    owned = nudged.upload("owned", [a1])  # b reads it only: its fileservers still receive copies
    onprem = nudged.upload("onprem", [a1])  # linked to a alone: it never leaves, nobody is nudged
    assert recorder.files == [{shared}, {owned}, {onprem}]
    assert lacking(nudged, shared) == lacking(nudged, owned) == {b1.id, b2.id}
    assert lacking(nudged, onprem) == set()
    given = nudged.orders(b1)  # b1 takes both files' copies in one beat
    assert lacking(nudged, shared, owned) == set()  # on their way to site b: no one else has work, b2 is left alone
    nudged.copied(b1, given)
    assert recorder.files[-1] == {shared, owned}  # the receipts are news too
    assert lacking(nudged, shared, owned) == set()  # and site b now holds both


def test_a_fileserver_that_stopped_beating_is_not_nudged(nudged: Net) -> None:
    a1, b1 = nudged.fileserver("a"), nudged.fileserver("b")
    nudged.h.clock.now += nudged.h.settings.lease_seconds + 1
    nudged.beat(a1)
    assert lacking(nudged, nudged.upload("shared", [a1])) == set()
    nudged.beat(b1)
    assert lacking(nudged, nudged.upload("shared", [a1])) == {b1.id}


class Fileservers:
    """The fileservers' side of the nudges: who was nudged, and who cannot be reached."""

    def __init__(self) -> None:
        self.nudged: list[str] = []
        self.down: set[str] = set()
        self.tokens: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == routes.NUDGE
        url = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        if url in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.tokens.append(nudges.parse_request(json.loads(request.content)))
        self.nudged.append(url)
        return httpx.Response(202, json={"status": "accepted"})


def test_the_nudger_signs_a_nudge_for_each_fileserver_with_work_and_pauses_one_it_cannot_reach(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    net = Net(harness)
    a1, b1, b2 = net.fileserver("a"), net.fileserver("b"), net.fileserver("b")
    fileservers = Fileservers()
    fileservers.down.add(b2.url)  # behind NAT in its office, say
    nudger = Nudger(harness.db, harness.keys.signing, harness.settings, harness.clock)
    with httpx.Client(transport=httpx.MockTransport(fileservers.handle)) as http:
        with caplog.at_level(logging.WARNING, logger="coffer.server.jobs.nudger"):
            nudger.round(http, [net.upload("shared", [a1])])
            nudger.round(http, [net.upload("shared", [a1])])  # b2 is paused: not tried again at once
        assert fileservers.nudged == [b1.url, b1.url] and nudger.sent == 2
        assert len(caplog.records) == 1 and caplog.records[0].kv["url"] == b2.url  # type: ignore[attr-defined]
        keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
        assert all(nudges.verify(t, keys, b1.cluster_id, harness.clock()) for t in fileservers.tokens)
        harness.clock.now += FIRST_PAUSE + 1
        for fs in (a1, b1, b2):
            net.beat(fs)
        fileservers.down.clear()
        with caplog.at_level(logging.INFO, logger="coffer.server.jobs.nudger"):
            nudger.round(http, [net.upload("shared", [a1])])
        assert sorted(fileservers.nudged[2:]) == sorted([b1.url, b2.url])
        assert "a fileserver takes nudges again" in caplog.text


def test_fileservers_behind_one_address_are_nudged_once_for_their_site(harness: Harness) -> None:
    """Behind a load balancer (one address, shared storage) whichever fileserver the balancer picks takes the orders."""
    net = Net(harness)
    a1, b1, b2 = net.fileserver("a"), net.fileserver("b"), net.fileserver("b")
    with harness.db.transaction() as tx:  # as if both had registered with the balancer's address
        tx.execute("UPDATE fileservers SET url = ? WHERE id = ?", (b1.url, b2.id))
    fileservers = Fileservers()
    nudger = Nudger(harness.db, harness.keys.signing, harness.settings, harness.clock)
    with httpx.Client(transport=httpx.MockTransport(fileservers.handle)) as http:
        nudger.round(http, [net.upload("shared", [a1])])
    assert fileservers.nudged == [b1.url]


def test_a_fileserver_with_no_work_is_never_nudged(harness: Harness) -> None:
    net = Net(harness)
    a1, _b1 = net.fileserver("a"), net.fileserver("b")
    fileservers = Fileservers()
    nudger = Nudger(harness.db, harness.keys.signing, harness.settings, harness.clock)
    with httpx.Client(transport=httpx.MockTransport(fileservers.handle)) as http:
        nudger.round(http, [net.upload("onprem", [a1]), "00000000-0000-4000-8000-000000000000"])
    assert fileservers.nudged == []
