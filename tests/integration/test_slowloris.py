"""Slow and greedy clients on real gunicorn processes: trickled heads, idle connections, one address's many.

The attackers speak from other loopback addresses (127.0.0.2 and up) than the
probe (127.0.0.1), as they would from other hosts, so the per-address cap that
refuses them does not refuse the probe.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from coffer.protocol import routes

from .network import Network

HEADER_TIMEOUT = 3.0
PER_ADDRESS = 20
ATTACKERS = [f"127.0.0.{n}" for n in range(2, 12)]
"""Ten addresses of 20 connections each: 200 trickled heads, every one admitted by the cap."""
HEAD = b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Pad: " + b"a" * 64 + b"\r\n\r\n"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root: Path = tmp_path_factory.mktemp("slowloris")
    limits = {"HEADER_TIMEOUT": str(HEADER_TIMEOUT), "CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS)}
    network = Network.launch(
        root,
        1,
        server_extra={f"COFFER_{k}": v for k, v in limits.items()},
        fileserver_extra={f"COFFER_FS_{k}": v for k, v in limits.items()},
    )
    try:
        yield network
    finally:
        network.stop()


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _connect(url: str, source: str) -> socket.socket:
    sock = socket.create_connection(_address(url), timeout=5, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Trickler:
    """Send every socket's request head one byte per *pause* seconds, in one thread, until stopped."""

    def __init__(self, socks: list[socket.socket], pause: float = 0.25):
        self.socks = socks
        self.pause = pause
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for offset in range(len(HEAD) - 1):  # never the last byte: the head stays unfinished
            for sock in self.socks:
                try:
                    sock.send(HEAD[offset : offset + 1])
                except OSError:
                    pass  # closed by the server: that is what the test looks for
            if self.stopped.wait(self.pause):
                return

    def __enter__(self) -> Trickler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


def _probe(url: str) -> float:
    """Return the seconds a fresh client waits for the program's answer to a small GET."""
    started = time.monotonic()
    answer = httpx.get(url + routes.HEALTH, timeout=10)
    assert answer.status_code == 200
    return time.monotonic() - started


def _threads(group: int) -> int:
    """Return how many threads the processes of process group *group* (a program and its workers) have."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == group:
            total += int(fields[17])
    return total


def _readable_within(socks: list[socket.socket], seconds: float) -> list[socket.socket]:
    """Return the sockets that have something to read (an answer or a close) within *seconds*."""
    found: list[socket.socket] = []
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while len(found) < len(socks) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                found.append(ready)
                selector.unregister(ready)
    return found


def _received(sock: socket.socket) -> bytes:
    sock.settimeout(2)
    data = b""
    try:
        while more := sock.recv(65536):
            data += more
    except OSError:
        pass
    return data


@pytest.mark.slow
@pytest.mark.parametrize("program", ["server", "fileserver"])
def test_two_hundred_trickled_heads_leave_the_program_answering_at_once(net: Network, program: str) -> None:
    url = net.url if program == "server" else net.fileservers[0].url
    assert net.server is not None
    group = net.server.pid if program == "server" else net.fileservers[0].proc.pid
    _probe(url)
    idle = _threads(group)
    with ExitStack() as stack:
        socks = [stack.enter_context(_connect(url, source)) for source in ATTACKERS for _ in range(PER_ADDRESS)]
        with Trickler(socks):
            time.sleep(1.0)  # every connection has sent part of its head and holds whatever it can
            waits = [_probe(url) for _ in range(5)]
            trickling = _threads(group)
        assert trickling <= idle + 1, f"{program} went from {idle} to {trickling} threads: trickled heads took threads"
        assert max(waits) < 1.0, f"{program} answered in {waits} s while 200 heads trickled in"


@pytest.mark.slow
@pytest.mark.parametrize("program", ["server", "fileserver"])
def test_a_head_still_unfinished_at_the_header_timeout_is_answered_408_and_closed(net: Network, program: str) -> None:
    url = net.url if program == "server" else net.fileservers[0].url
    with _connect(url, "127.0.0.20") as sock, Trickler([sock], pause=0.1):
        started = time.monotonic()
        closed = _readable_within([sock], HEADER_TIMEOUT + 3)
        waited = time.monotonic() - started
        answer = _received(sock)
    assert closed, "the connection was still open long after the header timeout"
    assert HEADER_TIMEOUT - 1 <= waited <= HEADER_TIMEOUT + 2
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"header_timeout"' in answer


@pytest.mark.slow
@pytest.mark.parametrize("program", ["server", "fileserver"])
def test_connections_beyond_the_per_address_cap_are_refused_at_once_and_others_still_served(
    net: Network, program: str
) -> None:
    url = net.url if program == "server" else net.fileservers[0].url
    over = 2 * PER_ADDRESS + 10  # two workers, each with its own cap: at least 10 are beyond both
    with ExitStack() as stack:
        socks = [stack.enter_context(_connect(url, "127.0.0.30")) for _ in range(over)]
        refused = _readable_within(socks, 1.5)
        answers = [_received(sock) for sock in refused]
        assert 10 <= len(refused) <= over - PER_ADDRESS
        assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in answers), answers[:3]
        assert all(b'"too_many_connections"' in answer for answer in answers)
        assert _probe(url) < 1.0, "another address is served while one is at its cap"


@pytest.mark.slow
def test_a_kept_alive_connection_serves_requests_whose_heads_arrive_in_pieces(net: Network) -> None:
    with _connect(net.url, "127.0.0.1") as sock:
        for _ in range(2):
            request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            for piece in (request[:10], request[10:30], request[30:]):
                sock.sendall(piece)
                time.sleep(0.2)
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


class BodyTrickler(Trickler):
    """Send every socket a whole request head with a 1,000-byte body, then the body a byte per *pause* seconds."""

    def _run(self) -> None:
        head = (
            f"POST {routes.PRELOGIN} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n"
        ).encode()
        for sock in self.socks:
            sock.sendall(head)
        while not self.stopped.wait(self.pause):
            for sock in self.socks:
                try:
                    sock.send(b" ")
                except OSError:
                    pass


@pytest.mark.slow
def test_trickled_bodies_from_one_address_leave_threads_for_everyone_else(net: Network) -> None:
    """Bodies that keep moving never trip the idle timeout: one address must still not hold every thread."""
    with ExitStack() as stack:
        socks = [stack.enter_context(_connect(net.url, "127.0.0.40")) for _ in range(PER_ADDRESS)]
        with BodyTrickler(socks, pause=0.5):
            time.sleep(1.0)
            waits = [_probe(net.url) for _ in range(5)]
        assert max(waits) < 1.0, f"the server answered in {waits} s while one address trickled 20 bodies"
