"""The body of a chunk upload, read straight from the connection's socket when gunicorn serves it.

gunicorn hands a WSGI application its request body through a chain of buffers:
each ``recv`` makes a new ``bytes``, which its reader writes into one ``BytesIO``,
slices, and its ``Body`` writes into another and slices again. For 8 MiB chunk
bodies that was about a third of a fileserver's CPU on upload (bench/), more than
the SHA-256 every byte must pass through anyway. :func:`request_body` instead
returns a :class:`SocketBody` that ``recv_into`` s the caller's reusable buffer,
one copy with the GIL released, as the client does for downloads.

It takes over a body only when everything is as expected: a gunicorn request
whose body is framed by Content-Length (``LengthReader`` over a ``SocketUnreader``
on the request's own socket) and not yet read. Anything else (falcon's test
client, another WSGI server, a chunked body) gets falcon's ``bounded_stream``.

gunicorn's bookkeeping stays true at every step, so the connection stays usable:
the bytes gunicorn had already read past the headers are taken from its buffer
(any beyond the body are put back for the next request), and its reader's
``length`` is lowered by every byte read here. If a put stops with part of the
body unread, gunicorn reads and discards the rest before the next request, as it
does after its own reader; the one case it cannot, bytes taken from its buffer and
then not used, is marked with its ``Body.failed`` flag, which makes gunicorn
close the connection instead of reading a request from the middle of a body.
"""

from __future__ import annotations

import socket
from typing import Any

import falcon
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from ..storage import Readable


class SocketBody:
    """A Content-Length body that gunicorn has parsed the headers of, read from its socket."""

    def __init__(self, sock: socket.socket, body: Body, reader: LengthReader):
        self._sock = sock
        self._body = body
        self._reader = reader
        held = reader.unreader.take_buffered()
        take = min(len(held), reader.length)
        if len(held) > take:
            reader.unreader.unread(held[take:])  # the start of a pipelined next request
        reader.length -= take
        self._held = memoryview(held)[:take]

    def readinto(self, buffer: memoryview, /) -> int:
        """Fill the start of *buffer* with the next bytes of the body; return how many (0 at its end)."""
        if self._held:
            got = min(buffer.nbytes, self._held.nbytes)
            buffer[:got] = self._held[:got]
            self._held = self._held[got:]
            return got
        want = min(buffer.nbytes, self._reader.length)
        if want == 0:
            return 0
        try:
            got = self._sock.recv_into(buffer[:want])
        except OSError:
            self._body.failed = True
            raise
        if got == 0:
            self._body.failed = True  # the client closed mid-body: nothing follows on this connection
        self._reader.length -= got
        return got

    def read(self, size: int, /) -> bytes:
        """Return up to *size* next bytes of the body (b"" at its end), for callers that pull ``bytes``."""
        piece = bytearray(min(size, self._held.nbytes + self._reader.length))
        got = self.readinto(memoryview(piece)) if piece else 0
        return bytes(piece[:got])

    def close(self) -> None:
        """End this body's use of the connection: if taken bytes were left unread, gunicorn must close it."""
        if self._held:
            self._body.failed = True  # SECURITY: else the next "request" would be parsed from inside this body
            self._held = memoryview(b"")


def request_body(req: falcon.Request) -> Readable:
    """Return the request's body as a :class:`SocketBody` where it safely can be, else falcon's bounded stream.

    Call it once, before anything else read the body; close a :class:`SocketBody` when done.
    """
    taken = _socket_body(req.env)
    return taken if taken is not None else req.bounded_stream


def _socket_body(env: dict[str, Any]) -> SocketBody | None:
    body, sock = env.get("wsgi.input"), env.get("gunicorn.socket")
    if not isinstance(body, Body) or not isinstance(sock, socket.socket):
        return None
    reader = body.reader
    if not isinstance(reader, LengthReader) or not isinstance(reader.unreader, SocketUnreader):
        return None
    if reader.unreader.sock is not sock or body.buf.tell() != 0:
        return None
    return SocketBody(sock, body, reader)
