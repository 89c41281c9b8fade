"""``ChunkClient.get_into``: a chunk's body read into the caller's buffer, and never more than it holds.

Over plain HTTP/1.1 the body is read from the socket with ``recv_into``; these tests run
a small HTTP server on 127.0.0.1 for that path, and ``httpx.MockTransport`` for the path
through httpx that a TLS or mocked connection takes.
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from coffer.transfer import errors
from coffer.transfer import http as chunk_http
from coffer.transfer.http import ChunkClient

BODY = os.urandom(3 * 1024 * 1024 + 17)
NAME = "ab" * 32


@dataclass
class Served:
    """What the test server sends for every GET: a body, perhaps announced as longer than it is."""

    body: bytes = BODY
    announce: int | None = None
    stall: threading.Event | None = None
    """If set, send half the body, then wait for it before sending the rest."""
    connections: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def handler_for(served: Served) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with served.lock:
                served.connections += 1

        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            with served.lock:
                served.requests += 1
            length = served.announce if served.announce is not None else len(served.body)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            try:
                if served.stall is not None:
                    self.wfile.write(served.body[: len(served.body) // 2])
                    self.wfile.flush()
                    served.stall.wait()
                self.wfile.write(served.body)
            except ConnectionError:  # a client refusing the body hangs up before reading it
                self.close_connection = True
                return
            if length != len(served.body):
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def served() -> Iterator[tuple[Served, str]]:
    served = Served()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(served))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def spy_on_recv(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the bodies read straight from a socket."""
    calls: list[int] = []
    real = chunk_http._recv_body_into

    def counted(*args: object, **kwargs: object) -> int:
        n = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(n)
        return n

    monkeypatch.setattr(chunk_http, "_recv_body_into", counted)
    return calls


def test_a_plain_http_body_is_read_from_the_socket_into_the_buffer(
    served: tuple[Served, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, base = served
    calls = spy_on_recv(monkeypatch)
    buffer = bytearray(b"\xaa" * (len(BODY) + 100))
    with ChunkClient() as chunks:
        n = chunks.get_into(base, "default", "f", NAME, "t", memoryview(buffer))
    assert n == len(BODY) and calls == [len(BODY)]
    assert buffer[:n] == BODY and buffer[n:] == b"\xaa" * 100


def test_a_connection_whose_body_was_read_directly_is_not_used_again(served: tuple[Served, str]) -> None:
    state, base = served
    buffer = bytearray(len(BODY))
    with ChunkClient() as chunks:
        for _ in range(3):
            buffer[:] = bytes(len(BODY))
            assert chunks.get_into(base, "default", "f", NAME, "t", memoryview(buffer)) == len(BODY)
            assert buffer == BODY
    assert state.requests == 3 and state.connections == 3


def test_a_body_announced_longer_than_the_buffer_is_refused_before_it_is_read(served: tuple[Served, str]) -> None:
    _, base = served
    buffer = bytearray(len(BODY) - 1)
    with ChunkClient() as chunks, pytest.raises(errors.FileserverUnavailable, match="sent more bytes"):
        chunks.get_into(base, "default", "f", NAME, "t", memoryview(buffer))


def test_a_body_cut_short_is_a_fileserver_failure(served: tuple[Served, str]) -> None:
    state, base = served
    state.announce = len(BODY) + 1000
    buffer = bytearray(len(BODY) + 1000)
    with ChunkClient() as chunks, pytest.raises(errors.FileserverUnavailable, match=f"{base} closed the connection"):
        chunks.get_into(base, "default", "f", NAME, "t", memoryview(buffer))


def test_a_body_that_stalls_midway_fails_after_the_read_timeout_instead_of_hanging(
    served: tuple[Served, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body is read with the socket blocking (``MSG_WAITALL``): its receive timeout still ends a stalled read."""
    state, base = served
    state.stall = threading.Event()
    monkeypatch.setattr(chunk_http, "TIMEOUT", httpx.Timeout(0.5, connect=5.0))
    buffer = bytearray(len(BODY))
    try:
        with ChunkClient() as chunks, pytest.raises(errors.FileserverUnavailable, match="broke off"):
            chunks.get_into(base, "default", "f", NAME, "t", memoryview(buffer))
    finally:
        state.stall.set()


def test_through_httpx_a_body_longer_than_the_buffer_is_refused_as_it_streams() -> None:
    """No Content-Length (a chunked body): the pieces are counted as they come."""
    pieces = [BODY[i : i + 65536] for i in range(0, len(BODY), 65536)]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=iter(pieces)))
    buffer = bytearray(len(BODY) - 1)
    with ChunkClient(transport=transport) as chunks:
        with pytest.raises(errors.FileserverUnavailable, match="sent more bytes"):
            chunks.get_into("http://fs.test", "default", "f", NAME, "t", memoryview(buffer))
        buffer = bytearray(len(BODY))
        assert chunks.get_into("http://fs.test", "default", "f", NAME, "t", memoryview(buffer)) == len(BODY)
        assert buffer == BODY


def test_an_error_answer_raises_the_error_it_maps_to() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(404, json={"error": "chunk_not_found", "message": "no such chunk"})
    )
    with ChunkClient(transport=transport) as chunks, pytest.raises(errors.ChunkAbsent):
        chunks.get_into("http://fs.test", "default", "f", NAME, "t", memoryview(bytearray(10)))
