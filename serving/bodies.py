"""An idle limit on request bodies, and how to tell whether a request carries one.

gunicorn reads bodies with a blocking socket and no timeout, so a client that declares
1,000 bytes and sends 10 holds a worker thread for as long as it keeps the connection
open. While a request with a body is handled, :class:`IdleBodyTimeout` gives its socket
a timeout; a read that waits longer raises :class:`TimeoutError` in whatever is reading
the body, which answers 408 ``body_timeout``. gunicorn marks the body failed and closes
the connection after the answer.
"""

from __future__ import annotations

import socket

import falcon


class IdleBodyTimeout:
    """Falcon middleware: give the socket of a request with a body a read timeout while it is handled.

    The timeout bounds each wait for the next bytes, not the whole body, so a slow
    upload that keeps moving is never cut. Requests not served by gunicorn (the
    test client) and requests without a body are left alone.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        sock = req.env.get("gunicorn.socket")
        if not isinstance(sock, socket.socket) or not has_body(req):
            return
        req.context.idle_socket = (sock, sock.gettimeout())
        sock.settimeout(self.seconds)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool) -> None:
        held: tuple[socket.socket, float | None] | None = req.context.get("idle_socket")
        if held is None:
            return
        sock, previous = held
        try:
            sock.settimeout(previous)
        except OSError:
            pass  # the connection is already closed: gunicorn will find it so and drop it


def has_body(req: falcon.Request) -> bool:
    """Return whether the request carries a body: a Content-Length above 0, or a chunked one."""
    return bool(req.content_length) or is_chunked(req)


def is_chunked(req: falcon.Request) -> bool:
    """Return whether the body comes with ``Transfer-Encoding: chunked`` (its length unknown until it ends)."""
    coding = req.get_header("Transfer-Encoding") or ""
    return coding.split(",")[-1].strip().lower() == "chunked"
