"""What the programs answer before a request reaches the application: gunicorn's own refusals and the edge limits'.

Every such answer is ``{"error": code, "message": text}`` like every other error, not an
HTML page, and closes the connection. Messages name the rule broken, never quote the
request: its bytes are the sender's own.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from dataclasses import dataclass

from gunicorn import util
from gunicorn.http import errors as http_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EdgeAnswer:
    """What gunicorn's own refusal of a request is answered with."""

    status: int
    reason: str
    code: str
    message: str

    def render(self) -> bytes:
        body = json.dumps({"error": self.code, "message": self.message}).encode()
        head = (
            f"HTTP/1.1 {self.status} {self.reason}\r\n"
            "Connection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body


_MALFORMED = "the request is not valid HTTP/1.1"
HEADERS_TOO_LARGE = EdgeAnswer(
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    "the request has too many or too large headers: send only the standard ones",
)
_EDGES: list[tuple[type[BaseException], EdgeAnswer]] = [
    (
        http_errors.InvalidResponseHeader,  # the application's fault, not the client's: before InvalidHeader
        EdgeAnswer(500, "Internal Server Error", "internal", "the server failed; the error is logged"),
    ),
    (
        http_errors.InvalidResponseHeaderName,
        EdgeAnswer(500, "Internal Server Error", "internal", "the server failed; the error is logged"),
    ),
    (
        http_errors.LimitRequestLine,
        EdgeAnswer(414, "URI Too Long", "uri_too_long", "the request line is too long: shorten the URL"),
    ),
    (http_errors.LimitRequestHeaders, HEADERS_TOO_LARGE),
    (
        http_errors.UnsupportedTransferCoding,
        EdgeAnswer(
            501,
            "Not Implemented",
            "unsupported_transfer_coding",
            "the Transfer-Encoding is not supported: send the body with a Content-Length, or chunked",
        ),
    ),
    (
        http_errors.ExpectationFailed,
        EdgeAnswer(417, "Expectation Failed", "expectation_failed", "only 'Expect: 100-continue' is supported"),
    ),
    (
        http_errors.ForbiddenProxyRequest,
        EdgeAnswer(403, "Forbidden", "forbidden", "this address may not send a PROXY protocol header"),
    ),
    (
        ssl.SSLError,
        EdgeAnswer(403, "Forbidden", "tls_failed", "the TLS handshake or record failed: check the client's TLS setup"),
    ),
    (
        http_errors.ConfigurationProblem,
        EdgeAnswer(500, "Internal Server Error", "internal", "the server is misconfigured; the error is logged"),
    ),
]


def edge_answer(exc: BaseException) -> EdgeAnswer:
    """Return the JSON answer to an error gunicorn met outside the application.

    Messages name the header or rule broken, never quote the request: its bytes are the sender's own.
    """
    for kind, answer in _EDGES:
        if isinstance(exc, kind):
            return answer
    if isinstance(exc, http_errors.InvalidHeader) and str(getattr(exc, "hdr", "")).upper() == "CONTENT-LENGTH":
        return EdgeAnswer(
            400,
            "Bad Request",
            "invalid_content_length",
            "the Content-Length header must be one whole number of bytes, 0 or more, and must not come with "
            "Transfer-Encoding: fix the client's framing of the body",
        )
    if isinstance(exc, http_errors.InvalidHeader | http_errors.InvalidHeaderName | http_errors.ObsoleteFolding):
        return EdgeAnswer(400, "Bad Request", "invalid_header", f"{_MALFORMED}: a header is malformed")
    if isinstance(
        exc, http_errors.InvalidChunkSize | http_errors.ChunkMissingTerminator | http_errors.InvalidChunkExtension
    ):
        return EdgeAnswer(400, "Bad Request", "invalid_chunk", f"{_MALFORMED}: the chunked body is malformed")
    if isinstance(exc, http_errors.ParseException):
        return EdgeAnswer(400, "Bad Request", "bad_request", f"{_MALFORMED} ({type(exc).__name__})")
    return EdgeAnswer(500, "Internal Server Error", "internal", "the server failed; the error is logged")


TOO_MANY_CONNECTIONS = EdgeAnswer(
    503,
    "Service Unavailable",
    "too_many_connections",
    "this address holds too many open connections: close idle ones, or ask the admin to raise "
    "connections_per_address (many users behind one NAT address need more)",
)


def busy_address(seconds: float) -> EdgeAnswer:
    return EdgeAnswer(
        503,
        "Service Unavailable",
        "address_busy",
        f"this address already has as many requests in progress as it may, and this one waited {seconds:g} s "
        "for its turn: retry later; many users behind one NAT address need the admin to raise or lift "
        "connections_per_address",
    )


def head_timeout(seconds: float) -> EdgeAnswer:
    return EdgeAnswer(
        408,
        "Request Timeout",
        "header_timeout",
        f"the request headers did not arrive within {seconds:g} s: check the network, then retry",
    )


def refuse(sock: socket.socket, answer: EdgeAnswer, *, close: bool = True) -> None:
    """Send *answer* without blocking (a full send buffer drops it), then close the socket if asked."""
    try:
        util.write_nonblock(sock, answer.render())
    except OSError:
        log.debug("the refused client was gone before its answer")
    if close:
        util.close(sock)
