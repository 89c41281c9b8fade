"""gunicorn's edges, as both programs serve them: refusals answered as JSON, and stalled bodies timed out."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import falcon
import falcon.testing
import pytest
from gunicorn.http import errors as http_errors

from coffer.serving.bodies import IdleBodyTimeout, has_body
from coffer.serving.edges import edge_answer


def _parse(raw: bytes) -> tuple[str, dict[str, str], dict[str, str]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert int(headers["content-length"]) == len(body)
    return lines[0], headers, json.loads(body)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (http_errors.InvalidHeader("CONTENT-LENGTH"), 400, "invalid_content_length"),
        (http_errors.InvalidHeader("X-THING"), 400, "invalid_header"),
        (http_errors.InvalidRequestLine("x" * 5000), 400, "bad_request"),
        (http_errors.LimitRequestLine(9000, 8190), 414, "uri_too_long"),
        (http_errors.LimitRequestHeaders("too many"), 431, "headers_too_large"),
        (http_errors.UnsupportedTransferCoding("gzip"), 501, "unsupported_transfer_coding"),
        (http_errors.InvalidChunkSize(b"zz"), 400, "invalid_chunk"),
        (http_errors.InvalidResponseHeader("X-Bad"), 500, "internal"),
        (RuntimeError("a bug"), 500, "internal"),
    ],
)
def test_gunicorns_refusals_are_answered_as_json_error_bodies(error: Exception, status: int, code: str) -> None:
    status_line, headers, body = _parse(edge_answer(error).render())
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert body["error"] == code and body["message"]
    assert "xxxxx" not in body["message"], "the request's own bytes are never quoted back"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def _request(sock: socket.socket, **headers: str) -> falcon.Request:
    env = falcon.testing.create_environ(method="PUT", headers=headers) | {"gunicorn.socket": sock}
    return falcon.Request(env)


def test_a_body_read_waits_at_most_the_idle_timeout_and_the_socket_is_restored_after(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    _, server = pair
    middleware = IdleBodyTimeout(0.2)
    req, resp = _request(server, content_length="1000"), falcon.Response()
    middleware.process_request(req, resp)
    with pytest.raises(TimeoutError):
        server.recv(1000)  # the client sent nothing
    middleware.process_response(req, resp, None, False)
    assert server.gettimeout() is None


def test_requests_without_a_body_keep_their_blocking_socket(pair: tuple[socket.socket, socket.socket]) -> None:
    _, server = pair
    req = _request(server)
    IdleBodyTimeout(0.2).process_request(req, falcon.Response())
    assert not has_body(req) and server.gettimeout() is None


def test_a_chunked_request_has_a_body() -> None:
    env = falcon.testing.create_environ(method="POST", headers={"Transfer-Encoding": "gzip, chunked"})
    assert has_body(falcon.Request(env))
