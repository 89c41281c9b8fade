"""The edges of HTTP on real gunicorn processes: malformed framing, stalled bodies, chunked JSON, HEAD probes.

Each is spoken over a raw socket, since an HTTP client library would refuse to
send most of them, and each answer must still be the JSON error body.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from coffer.devnet.raw_chunks import chunk_url, new_file, put_ticket
from coffer.protocol import routes

from .network import Network

IDLE = 2.0
"""The body_idle_timeout both programs run with here: low, so a stall is seen quickly."""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    root: Path = tmp_path_factory.mktemp("edges")
    network = Network.launch(
        root,
        1,
        server_extra={"COFFER_BODY_IDLE_TIMEOUT": str(IDLE)},
        fileserver_extra={"COFFER_FS_BODY_IDLE_TIMEOUT": str(IDLE)},
    )
    try:
        yield network
    finally:
        network.stop()


def _exchange(url: str, request: bytes, *, then: Sequence[tuple[float, bytes]] = (), limit: float = 30) -> bytes:
    """Send *request* (then each piece of *then* after its pause); return every byte until the server closes."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=limit) as sock:
        sock.sendall(request)
        for pause, piece in then:
            time.sleep(pause)
            sock.sendall(piece)
        received = b""
        while more := sock.recv(65536):
            received += more
    return received


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _whole(data: bytes) -> bool:
    """Return whether *data* holds a whole answer framed by its Content-Length."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(sep and lengths) and len(body) >= int(lengths[0].split(b":", 1)[1])


def _json_error(raw: bytes) -> tuple[int, str, str]:
    status, headers, body = _answer(raw)
    assert headers["content-type"].startswith("application/json"), raw[:300]
    parsed = json.loads(body)
    assert set(parsed) >= {"error", "message"}
    return status, parsed["error"], parsed["message"]


def _head(method: str, path: str, *headers: str) -> bytes:
    """Return a request's head; it asks the server to close after answering, so every exchange ends."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.slow
def test_a_negative_content_length_is_answered_as_json_by_both_programs(net: Network) -> None:
    for url in (net.url, net.fileservers[0].url):
        raw = _exchange(url, _head("POST", routes.LOGIN, "Content-Length: -1"))
        status, code, message = _json_error(raw)
        assert (status, code) == (400, "invalid_content_length"), url
        assert "Content-Length" in message


@pytest.mark.slow
def test_a_malformed_request_line_is_answered_as_json(net: Network) -> None:
    raw = _exchange(net.url, b"NOT AN HTTP REQUEST\r\n\r\n")
    status, code, _ = _json_error(raw)
    assert (status, code) == (400, "bad_request")


@pytest.mark.slow
def test_head_health_answers_200_without_a_body_on_both_programs(net: Network) -> None:
    for url in (net.url, net.fileservers[0].url):
        answer = httpx.head(url + routes.HEALTH)
        assert answer.status_code == 200, url
        assert answer.content == b""


@pytest.mark.slow
def test_a_chunked_json_body_is_read_not_refused(net: Network) -> None:
    body = json.dumps({"username": "nobody"}).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = _head("POST", routes.PRELOGIN, "Content-Type: application/json", "Transfer-Encoding: chunked")
    status, _, answer = _answer(_exchange(net.url, request + chunked))
    assert status == 200, answer
    assert "salt" in json.loads(answer)


@pytest.mark.slow
def test_a_chunked_json_body_over_the_limit_is_refused_with_413(net: Network) -> None:
    piece = b" " * (1024 * 1024)
    chunked = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") * 2 + b"0\r\n\r\n"
    request = _head("POST", routes.PRELOGIN, "Content-Type: application/json", "Transfer-Encoding: chunked")
    status, code, _ = _json_error(_exchange(net.url, request + chunked))
    assert (status, code) == (413, "body_too_large")


@pytest.mark.slow
def test_a_stalled_json_body_is_answered_408_and_closed_within_the_idle_timeout(net: Network) -> None:
    request = _head("POST", routes.PRELOGIN, "Content-Type: application/json", "Content-Length: 1000")
    started = time.monotonic()
    raw = _exchange(net.url, request + b'{"username"')
    took = time.monotonic() - started
    assert _json_error(raw)[:2] == (408, "body_timeout")
    assert IDLE <= took < IDLE + 5, f"the stalled request was held {took:.1f} s"


def _chunk_put(net: Network, data: bytes) -> tuple[str, bytes, Path]:
    assert net.admin is not None
    record = new_file(net.admin, [data])
    ticket, _ = put_ticket(net.admin, record["id"])
    fs = net.fileservers[0]
    url = chunk_url(fs.url, "default", record["id"], data)
    request = _head("PUT", urlsplit(url).path, f"Authorization: Ticket {ticket}", f"Content-Length: {len(data)}")
    return url, request, fs.data_dir


def _stored(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and p.suffix != ".json"}


@pytest.mark.slow
def test_a_stalled_chunk_upload_is_answered_408_closed_in_time_and_stores_nothing(net: Network) -> None:
    data = os.urandom(1000)
    url, request, data_dir = _chunk_put(net, data)
    before = _stored(data_dir)
    started = time.monotonic()
    raw = _exchange(url, request + data[:10])
    took = time.monotonic() - started
    assert _json_error(raw)[:2] == (408, "body_timeout")
    assert IDLE <= took < IDLE + 5, f"the stalled upload was held {took:.1f} s"
    assert _stored(data_dir) == before, "nothing of a stalled chunk may remain"


@pytest.mark.slow
@pytest.mark.parametrize("program", ["server", "fileserver"])
def test_after_a_stalled_body_the_connection_serves_no_further_request(net: Network, program: str) -> None:
    """The rest of a timed-out body, arriving late, must never be read as a request of its own."""
    if program == "server":
        url, request, rest = net.url, _head("POST", routes.PRELOGIN, "Content-Length: 1000"), b"x" * 990
    else:
        data = os.urandom(1000)
        url, request, _ = _chunk_put(net, data)
        rest = data[10:]
    request = request.replace(b"Connection: close\r\n", b"")
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=IDLE + 10) as sock:
        sock.sendall(request + b"0123456789")
        answer = sock.recv(65536)
        while not _whole(answer):
            answer += sock.recv(65536)
        assert _answer(answer)[0] == 408
        try:
            sock.sendall(rest + _head("GET", routes.HEALTH))
            late = sock.recv(65536)
        except ConnectionResetError:
            late = b""
    assert late == b"", f"the connection answered again: {late[:80]!r}"


@pytest.mark.slow
def test_a_slow_upload_that_keeps_moving_is_not_cut(net: Network) -> None:
    data = os.urandom(1000)
    url, request, _ = _chunk_put(net, data)
    pieces = [(IDLE / 2, data[i : i + 100]) for i in range(100, 1000, 100)]  # 4.5 s in all, never 2 s silent
    status, _, body = _answer(_exchange(url, request + data[:100], then=pieces))
    assert status == 201, body
