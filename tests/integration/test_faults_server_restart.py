"""The central server SIGKILLed and started again while a transfer runs, and an answer to finalize lost.

Chunks travel between the client and the fileservers with tickets in hand, so a
transfer carries on while the server is down and completes once it is back. The
finalize answer lost on its way (the server committed, then the connection died)
must not fail the upload nor leave a second copy: the client looks at the record
before giving up. One network per module: a server on SQLite, two fileservers.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffer.client import resume
from coffer.client.coffer import Coffer
from coffer.client.errors import ConnectionFailed
from coffer.devnet.procs import http_ok
from coffer.protocol import routes

from .network import Network, start_network
from .proxy import LosingProxy

USER, PASSWORD = "ria", "ria-integration-pw"
MiB = 1024 * 1024

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = start_network(tmp_path_factory.mktemp("server-restart-net"), fileservers=2)
    try:
        net.create_user(USER, PASSWORD)
        yield net
    finally:
        net.stop()


@pytest.fixture
def coffer(network: Network, tmp_path: Path) -> Iterator[Coffer]:
    with Coffer.login(network.url, USER, PASSWORD, config_dir=tmp_path / "config") as c:
        yield c


def random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ServerOutage:
    """A progress callback: SIGKILL the server at *down* of the bytes, start it again at *up* (blocking until ready).

    In between the transfer goes on without a server; ``moved_while_down`` counts the bytes it moved then.
    """

    def __init__(self, network: Network, down: float, up: float):
        self.network, self.down, self.up = network, down, up
        self.killed_at: int | None = None
        self.moved_while_down = 0

    def __call__(self, done: int, total: int) -> None:
        server = self.network.server
        assert server is not None
        if self.killed_at is None and done >= total * self.down:
            server.kill(signal.SIGKILL)
            self.killed_at = done
        elif self.killed_at is not None and not server.alive() and done >= total * self.up:
            assert not http_ok(self.network.url + routes.HEALTH)
            self.moved_while_down = done - self.killed_at
            server.restart().wait_ready(lambda: http_ok(self.network.url + routes.HEALTH))


def test_an_upload_carries_on_while_the_server_restarts_and_completes(
    network: Network, coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "up.bin"
    digest = random_file(source, 64 * MiB)
    outage = ServerOutage(network, down=0.2, up=0.7)
    result = coffer.upload(source, chunk_size=MiB, on_progress=outage)
    assert network.server is not None and network.server.alive()
    assert outage.moved_while_down >= 16 * MiB, "chunks kept flowing to fileservers while the server was down"
    assert result.chunks_sent == 64
    assert coffer.api.get_file(result.file_id).state == "complete"
    for fs in network.fileservers:  # their leases may have lapsed while the server was away: the download needs them
        network.wait_fileserver(fs)
    assert sha256_of(coffer.download(result.file_id, tmp_path / "copy.bin")) == digest


def test_a_download_carries_on_while_the_server_restarts_and_completes(
    network: Network, coffer: Coffer, tmp_path: Path
) -> None:
    source = tmp_path / "down.bin"
    digest = random_file(source, 96 * MiB)
    result = coffer.upload(source, chunk_size=MiB)
    outage = ServerOutage(network, down=0.1, up=0.7)
    down = coffer.download_result(result.file_id, tmp_path / "copy.bin", on_progress=outage)
    assert network.server is not None and network.server.alive()
    assert outage.moved_while_down >= 48 * MiB, "chunks kept coming from fileservers while the server was down"
    assert sha256_of(down.path) == digest


def test_an_upload_whose_finalize_answer_is_lost_completes_once(network: Network, tmp_path: Path) -> None:
    assert network.server is not None
    proxy = LosingProxy(network.port, lose_answer_to=b"/finalize ")
    source = tmp_path / "lost.bin"
    digest = random_file(source, 5 * MiB)
    try:
        with Coffer.login(proxy.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
            before = {f.id for f in coffer.list()}
            result = coffer.upload(source, chunk_size=MiB)
            assert proxy.lost == 1, "the server's answer to finalize never reached the client"
            assert coffer.api.get_file(result.file_id).state == "complete"
            assert {f.id for f in coffer.list()} - before == {result.file_id}, "one file, not a second upload"
            assert sha256_of(coffer.download(result.file_id, tmp_path / "copy.bin")) == digest
    finally:
        proxy.close()


def test_an_upload_run_again_after_its_finalize_answer_was_lost_keeps_the_finished_file(
    network: Network, tmp_path: Path
) -> None:
    """The server went away right after finalizing: that run fails; the next finds the file complete, sends nothing."""
    proxy = LosingProxy(network.port, lose_answer_to=b"/finalize ", down_after_loss=True)
    source = tmp_path / "lost-twice.bin"
    digest = random_file(source, 5 * MiB)
    try:
        with Coffer.login(proxy.url, USER, PASSWORD, config_dir=tmp_path / "config") as coffer:
            before = {f.id for f in coffer.list()}
            with pytest.raises(ConnectionFailed):
                coffer.upload(source, chunk_size=MiB)
            assert proxy.lost == 1
            [state_path] = (tmp_path / "config" / resume.UPLOADS).glob("*.json")
            state = resume.load_upload(state_path)
            assert state is not None
            proxy.down_after_loss = False

            again = coffer.upload(source, chunk_size=MiB)
            assert again.resumed and again.file_id == state.file_id
            assert (again.chunks_sent, again.chunks_skipped) == (0, 5)
            assert not state_path.exists()
            assert {f.id for f in coffer.list()} - before == {state.file_id}, "the finished file kept, none made anew"
            assert sha256_of(coffer.download(state.file_id, tmp_path / "copy.bin")) == digest
    finally:
        proxy.close()
