"""A fileserver whose clock is off the server's, its process run under libfaketime.

An hour off either way, the server refuses its registration with a message naming
the offset and what to do, so it is never handed to clients; a ticket shown to it
anyway is refused with a message that points at the clocks. A few seconds off (within
the tolerances) it is live and judges tickets correctly: an upload through it works.
libfaketime comes from Debian (``make test`` installs it); without it the tests
skip, and fail under CI.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client.coffer import Coffer
from coffer.devnet.procs import wait_until
from coffer.devnet.raw_chunks import finalize, new_file, put_chunk, put_ticket

from ..services import unavailable
from .network import Fileserver, Network, start_network

USER, PASSWORD = "cleo", "cleo-integration-pw"

pytestmark = pytest.mark.slow


def faketime(offset: str) -> dict[str, str]:
    """The environment that runs a process with its clock moved by *offset* (libfaketime's ``+1h``, ``-20s``)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        unavailable("libfaketime is not installed", "CI needs it: `make test` installs the Debian package")
    return {"LD_PRELOAD": found[0], "FAKETIME": offset}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    network = start_network(tmp_path_factory.mktemp("clock-off"), fileservers=1)
    try:
        network.create_user(USER, PASSWORD)
        yield network
    finally:
        network.stop()


@pytest.fixture
def coffer(net: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(net.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def off_by(net: Network, offset: str, *, live: bool) -> Fileserver:
    return net.add_fileserver(env=faketime(offset), live=live)


def refusal_logged(fs: Fileserver, words: str) -> bool:
    return any("refused this fileserver" in line and words in line for line in fs.proc.tail(10**6).splitlines())


@pytest.mark.parametrize(("offset", "way"), [("+1h", "ahead of"), ("-1h", "behind")])
def test_a_fileserver_an_hour_off_is_refused_by_the_server_and_says_why(
    net: Network, coffer: Coffer, offset: str, way: str
) -> None:
    fs = off_by(net, offset, live=False)
    try:
        wait_until(lambda: refusal_logged(fs, f"s {way} the server's"), 15, "the refusal in the fileserver's log")
        [line] = [x for x in fs.proc.tail(10**6).splitlines() if "refused this fileserver" in x]
        assert "request_stale" in line and "NTP" in line and ("3599 s" in line or "3600 s" in line or "3601 s" in line)
        assert all(s["url"] != fs.url for s in net.listing()), "never registered, so never handed to a client"
        assert fs.url not in {s.url for s in coffer.api.shard_fileservers("default", "write")}
    finally:
        fs.proc.stop()


@pytest.mark.parametrize(
    ("offset", "code", "words"), [("+1h", "ticket_expired", "ahead"), ("-1h", "ticket_invalid", "behind")]
)
def test_a_ticket_shown_to_a_fileserver_an_hour_off_is_refused_pointing_at_the_clocks(
    net: Network, coffer: Coffer, offset: str, code: str, words: str
) -> None:
    fs = off_by(net, offset, live=False)
    try:
        chunk = os.urandom(1000)
        file = new_file(coffer.api, [chunk])
        ticket, _ = put_ticket(coffer.api, file["id"])
        answer = put_chunk(fs.url, file["id"], chunk, ticket)
        assert answer.status_code == 401
        body = answer.json()
        assert body["error"] == code
        assert "clock" in body["message"] and words in body["message"] and "NTP" in body["message"]
    finally:
        fs.proc.stop()


def test_a_fileserver_seconds_off_is_live_and_judges_tickets_correctly(net: Network, coffer: Coffer) -> None:
    fs = off_by(net, "-20s", live=True)
    try:
        chunk = os.urandom(1000)
        file = new_file(coffer.api, [chunk])
        ticket, _ = put_ticket(coffer.api, file["id"])
        stored = put_chunk(fs.url, file["id"], chunk, ticket)
        assert stored.status_code == 201, stored.text
        assert finalize(coffer.api, file["id"], [chunk], [[stored.json()["receipt"]]])["state"] == "complete"
    finally:
        fs.proc.stop()
