"""gunicorn's threaded worker, answering the errors it meets before the application as JSON.

The errors gunicorn answers itself, before the application sees a request (a negative
Content-Length, a malformed request line, oversized headers), are ``{"error": code,
"message": text}`` like every other error, not an HTML page.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker

log = logging.getLogger(__name__)

WORKER_CLASS = f"{__name__}.JsonErrorWorker"
"""The ``worker_class`` both programs give gunicorn."""


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
    (
        http_errors.LimitRequestHeaders,
        EdgeAnswer(
            431,
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request has too many or too large headers: send only the standard ones",
        ),
    ),
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


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, answering its own refusals as JSON like the application does."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        answer = edge_answer(exc)
        if answer.status >= 500:
            log.error("request failed outside the application", exc_info=exc)
        else:
            log.warning("request refused", extra={"kv": {"status": answer.status, "error": answer.code}})
        try:
            util.write_nonblock(client, answer.render())
        except OSError:
            log.debug("the refused client was gone before its answer")
