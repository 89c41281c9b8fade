"""Reading an upload body straight from gunicorn's socket keeps gunicorn's own view of the connection true.

These drive gunicorn's real request parser over a socket pair, so what is pinned
is what a gunicorn worker does next on the connection: parse the following
request, drain an unread rest, or close.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import falcon
import falcon.testing
import pytest
from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

from coffer.fileserver.data.body import SocketBody, request_body

Pair = tuple[socket.socket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    client, server = socket.socketpair()
    server.settimeout(5)  # a read that waits for bytes that never come fails the test instead of hanging it
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def put(body: bytes, path: str = "/a") -> bytes:
    return f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def parse(sock: socket.socket) -> tuple[RequestParser, Any]:
    parser = RequestParser(Config(), sock, ("127.0.0.1", 1))
    return parser, next(parser)


def env_of(message: Any, sock: socket.socket) -> dict[str, Any]:
    return falcon.testing.create_environ(method="PUT") | {"wsgi.input": message.body, "gunicorn.socket": sock}


def taken(message: Any, sock: socket.socket) -> SocketBody:
    body = request_body(falcon.Request(env_of(message, sock)))
    assert isinstance(body, SocketBody)
    return body


def read_all(body: SocketBody, block: int = 7) -> bytes:
    buffer = memoryview(bytearray(block))
    out = bytearray()
    while got := body.readinto(buffer):
        out += buffer[:got]
    return bytes(out)


def test_the_body_comes_from_gunicorns_read_ahead_then_from_the_socket(pair: Pair) -> None:
    client, server = pair
    body = bytes(range(256)) * 40
    client.sendall(put(body)[:-6000])  # gunicorn's first read holds the headers and part of the body
    parser, message = parse(server)
    client.sendall(put(body)[-6000:])
    stream = taken(message, server)
    assert read_all(stream, block=1000) == body
    assert message.body.read(10) == b"", "gunicorn sees the body consumed"


def test_a_pipelined_request_behind_the_body_is_parsed_intact(pair: Pair) -> None:
    client, server = pair
    client.sendall(put(b"first body") + put(b"second", path="/b"))
    parser, message = parse(server)
    stream = taken(message, server)
    assert read_all(stream) == b"first body"
    stream.close()
    following = next(parser)
    assert following.path == "/b" and following.body.read(100) == b"second"


def test_a_body_left_half_read_in_the_socket_is_drained_before_the_next_request(pair: Pair) -> None:
    client, server = pair
    body = b"x" * 50_000
    client.sendall(put(body)[:200])
    parser, message = parse(server)
    stream = taken(message, server)
    client.sendall(put(body)[200:] + put(b"next", path="/c"))
    buffer = memoryview(bytearray(20_000))
    read = 0
    while read < 30_000:  # past gunicorn's read-ahead, into the socket: what is left there gunicorn can drain
        read += stream.readinto(buffer)
    stream.close()
    following = next(parser)
    assert following.path == "/c" and following.body.read(100) == b"next"


def test_read_ahead_taken_but_left_unread_makes_gunicorn_close_the_connection(pair: Pair) -> None:
    client, server = pair
    client.sendall(put(b"0123456789") + put(b"smuggled?", path="/d"))
    parser, message = parse(server)
    stream = taken(message, server)
    assert stream.readinto(memoryview(bytearray(4))) == 4
    stream.close()
    with pytest.raises(StopIteration):
        next(parser)


def test_a_client_that_closes_mid_body_makes_gunicorn_close_the_connection(pair: Pair) -> None:
    client, server = pair
    client.sendall(put(b"y" * 40_000)[:20_000])
    client.shutdown(socket.SHUT_WR)
    parser, message = parse(server)
    stream = taken(message, server)
    data = read_all(stream, block=65536)
    assert 0 < len(data) < 40_000
    stream.close()
    with pytest.raises(StopIteration):
        next(parser)


def test_read_returns_bytes_for_callers_that_pull(pair: Pair) -> None:
    client, server = pair
    client.sendall(put(b"abcdefghij"))
    _, message = parse(server)
    stream = taken(message, server)
    assert (stream.read(4), stream.read(100), stream.read(5)) == (b"abcd", b"efghij", b"")


def test_a_chunked_body_is_left_to_falcon(pair: Pair) -> None:
    client, server = pair
    client.sendall(b"PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    _, message = parse(server)
    assert not isinstance(request_body(falcon.Request(env_of(message, server))), SocketBody)


def test_a_body_gunicorn_already_read_from_is_left_to_falcon(pair: Pair) -> None:
    client, server = pair
    client.sendall(put(b"abcdefghij"))
    _, message = parse(server)
    assert message.body.read(3) == b"abc"
    assert not isinstance(request_body(falcon.Request(env_of(message, server))), SocketBody)


def test_a_request_from_another_server_is_left_to_falcon() -> None:
    env = falcon.testing.create_environ(method="PUT", body=b"abc")
    assert not isinstance(request_body(falcon.Request(env)), SocketBody)
