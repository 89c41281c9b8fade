"""Move one chunk to or from one fileserver over HTTP, and say plainly how it went.

Each call either returns what was asked for or raises one of:

- :class:`~coffer.transfer.errors.FileserverUnavailable`: no answer, a timeout, a 5xx,
  507 (full), 429 (busy), or a fileserver that no longer takes the shard; the caller
  moves the chunk to another fileserver;
- :class:`~coffer.transfer.errors.TicketRejected`: 401 ``ticket_expired``/``ticket_revoked``;
  the caller fetches a fresh ticket;
- :class:`~coffer.transfer.errors.ChunkAbsent`: 404 on a read, the chunk is not there;
- :class:`~coffer.transfer.errors.FileserverRefused`: any other refusal, which a retry
  would not change.

Chunk requests are idempotent, so one that meets a connection the fileserver
closed while idle ("Server disconnected without sending a response") is sent once
more at once. The keep-alive expiry stays below gunicorn's 2 s for the same reason.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, cast

import httpx

from coffer.protocol import receipts, requestids, routes
from coffer.protocol.errors import ProtocolError, parse_error_body
from coffer.protocol.wire import TICKET_SCHEME

from . import errors
from .connections import ClientTransport
from .sites import SiteChoice

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
KEEPALIVE_EXPIRY = 1.5
RETRY_ELSEWHERE = {
    "shard_not_served",
    "shard_read_only",
    "shard_write_only",
    "size_mismatch",
    "hash_mismatch",
    "upload_exceeds_declared",
}
TICKET_CODES = {"ticket_expired", "ticket_revoked"}
PROBE_TIMEOUT = 1.0
"""Seconds one connect of a site probe may take: a line slower than that is no office's own."""
SEND_PIECE = 1 << 20
"""Bytes of an upload body handed to httpx at a time: h11 copies each piece it sends, so this bounds the copy."""


def stamp_request_id(request: httpx.Request) -> None:
    """Send the command's request id (``X-Request-Id``) with every request, so the programs log it."""
    requestids.stamp(request.headers)


@dataclass(frozen=True)
class Stored:
    """A fileserver's answer to a chunk PUT."""

    receipt: str
    created: bool


def connect_seconds(url: str) -> float | None:
    """Return how long one TCP connect to the fileserver at *url* took (one round trip), or None if it failed."""
    parts = httpx.URL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    began = time.perf_counter()
    try:
        with socket.create_connection((parts.host, port), timeout=PROBE_TIMEOUT):
            return time.perf_counter() - began
    except OSError:
        return None


class ChunkClient:
    """The data path: PUT, GET and HEAD of chunks on fileservers, safe to share between threads.

    ``site`` says which fileservers are this process's own site's (:mod:`.sites`): every transfer
    through this client tries them first.
    """

    def __init__(
        self,
        *,
        max_connections: int = 64,
        transport: httpx.BaseTransport | None = None,
        site: SiteChoice | None = None,
    ):
        self.site = site or SiteChoice()
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self._http = httpx.Client(
            timeout=TIMEOUT, transport=transport or ClientTransport(limits), event_hooks={"request": [stamp_request_id]}
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChunkClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def chunk_url(base: str, shard: str, file_id: str, chunk_hash: str) -> str:
        return base + routes.chunk(shard, file_id, chunk_hash)

    def put(
        self, base: str, fs_id: str, shard: str, file_id: str, chunk_hash: str, blob: bytes | memoryview, ticket: str
    ) -> Stored:
        """Store *blob* on the fileserver at *base*; return its receipt, checked to be for this chunk.

        *blob* may be a view of a buffer the caller reuses: it is read only until this
        returns (the answer comes after the whole body was sent, or instead of it).
        """
        url = self.chunk_url(base, shard, file_id, chunk_hash)
        response = self._exchange("PUT", url, ticket, content=blob, pieces=True)
        self._raise_for(response, url)
        try:
            answer = response.json()
            receipt = answer["receipt"]
            fs = receipts.fileserver_of(receipt)
            ok = answer["chunk"] == chunk_hash and answer["size"] == memoryview(blob).nbytes and fs == fs_id
        except (ValueError, KeyError, TypeError, ProtocolError) as exc:
            raise errors.FileserverUnavailable(f"{base} answered a chunk upload with a malformed body") from exc
        if not ok:
            raise errors.FileserverUnavailable(
                f"{base} answered for another chunk, size or fileserver id: is the fileserver list stale?"
            )
        return Stored(receipt, bool(answer.get("created", True)))

    def head(self, base: str, shard: str, file_id: str, chunk_hash: str, ticket: str) -> int | None:
        """Return the stored size of the chunk, or None if this fileserver does not hold it."""
        url = self.chunk_url(base, shard, file_id, chunk_hash)
        response = self._exchange("HEAD", url, ticket)
        if response.status_code == 404:
            return None
        self._raise_for(response, url)
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None

    def get_into(self, base: str, shard: str, file_id: str, chunk_hash: str, ticket: str, buffer: memoryview) -> int:
        """Read the chunk's bytes into *buffer* and return how many came; refuse a body longer than *buffer*.

        The caller reuses *buffer* from chunk to chunk, so a download allocates no
        chunk-sized memory per chunk. Over plain HTTP/1.1 the body is read straight from
        the connection's socket into *buffer* (:func:`_recv_body_into`); otherwise each
        piece httpx hands over is copied into place. What a failed attempt left in
        *buffer* is garbage, overwritten by the next. The caller checks the bytes before
        trusting any of them.
        """
        url = self.chunk_url(base, shard, file_id, chunk_hash)
        response = self._send("GET", url, ticket)
        try:
            if response.is_error:
                response.read()
                self._raise_for(response, url)
            length = _content_length(response)
            if length is not None and length > buffer.nbytes:
                raise errors.FileserverUnavailable(f"{base} sent more bytes than chunk {chunk_hash} has")
            sock = _plain_socket(response) if length is not None else None
            if length is not None and sock is not None:
                return _recv_body_into(response, sock, buffer[:length], base, chunk_hash)
            return _stream_body_into(response, buffer, base, chunk_hash)
        except (httpx.TransportError, OSError) as exc:
            raise errors.FileserverUnavailable(f"{base} broke off sending chunk {chunk_hash}: {exc}") from exc
        finally:
            response.close()

    def _exchange(
        self, method: str, url: str, ticket: str, *, content: bytes | memoryview | None = None, pieces: bool = False
    ) -> httpx.Response:
        """Send a chunk request and read the whole (small) answer."""
        response = self._send(method, url, ticket, content=content, pieces=pieces)
        try:
            response.read()
        except httpx.TransportError as exc:
            raise errors.FileserverUnavailable(f"{_origin(url)} broke off its answer: {exc}") from exc
        finally:
            response.close()
        return response

    def _send(
        self, method: str, url: str, ticket: str, *, content: bytes | memoryview | None = None, pieces: bool = False
    ) -> httpx.Response:
        """Send a chunk request and return the response unread (the caller reads or streams it).

        With *pieces*, the body is handed to httpx as a stream of copies of
        :data:`SEND_PIECE` bytes of *content* under an explicit Content-Length rather
        than as ``bytes``: httpx keeps a ``bytes`` body on the request for as long as the
        response object lives, and those were freed late, so a 1 GB upload held dozens
        of 8 MiB chunks at once (client peak 344 MiB against 107 MiB for 25 MB). *content*
        may be a view of a reused buffer: each piece is copied just before it is sent
        (h11 would copy anything but ``bytes`` anyway), so no chunk-sized copy is made,
        and each attempt gets a fresh stream over the same bytes.
        """
        headers = {"Authorization": f"{TICKET_SCHEME} {ticket}"}  # SECURITY: the ticket goes in this header only
        for attempt in (1, 2):
            try:
                body: bytes | Iterator[bytes] | None = None
                if pieces and content is not None:
                    view = memoryview(content)
                    headers["Content-Length"] = str(view.nbytes)
                    body = (bytes(view[i : i + SEND_PIECE]) for i in range(0, view.nbytes, SEND_PIECE))
                elif content is not None:
                    body = bytes(content)
                request = self._http.build_request(method, url, content=body, headers=headers)
                return self._http.send(request, stream=True)
            except httpx.RemoteProtocolError as exc:
                if attempt == 2:
                    raise errors.FileserverUnavailable(f"{_origin(url)} dropped the connection: {exc}") from exc
            except httpx.TransportError as exc:
                raise errors.FileserverUnavailable(
                    f"cannot reach the fileserver at {_origin(url)} ({type(exc).__name__})"
                ) from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _raise_for(response: httpx.Response, url: str) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            parsed = parse_error_body(response.json())
        except ValueError:
            parsed = None
        code, message = parsed or ("http_error", f"HTTP {status}")
        where = _origin(url)
        if status == 429:
            wait = retry_after(response.headers)
            raise errors.FileserverBusy(f"{where}: {message}", code=code, retry_after=wait)
        if status >= 500 or status == 408 or code in RETRY_ELSEWHERE:
            raise errors.FileserverUnavailable(f"{where}: {message}", code=code, status=status)
        if status == 401 and code in TICKET_CODES:
            raise errors.TicketRejected(f"{where}: {message}", code=code, status=status)
        if status == 404 and code == "chunk_not_found":
            raise errors.ChunkAbsent(f"{where}: {message}", code=code, status=status)
        raise errors.FileserverRefused(f"the fileserver at {where} refused: {message}", code=code, status=status)


def _content_length(response: httpx.Response) -> int | None:
    """Return the body length the response announces, or None if it is framed otherwise (or not stated)."""
    if "Transfer-Encoding" in response.headers:
        return None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _plain_socket(response: httpx.Response) -> socket.socket | None:
    """Return the socket a response's body can be read from directly, if there is one.

    That is a plain (not TLS) HTTP/1.1 connection, which httpcore exposes as the
    documented ``network_stream`` response extension, and a body sent as it is stored
    (no content coding). A ``MockTransport`` or a TLS connection has none: the body
    then comes through httpx.
    """
    if response.http_version != "HTTP/1.1" or "Content-Encoding" in response.headers:
        return None
    stream = response.extensions.get("network_stream")
    if stream is None or stream.get_extra_info("ssl_object") is not None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None


def _recv_body_into(response: httpx.Response, sock: socket.socket, into: memoryview, base: str, name: str) -> int:
    """Fill *into* (exactly the announced body) with ``recv_into`` on the connection's socket; return its length.

    Through httpx every 64 KiB piece of an 8 MiB chunk is copied four times under the
    GIL (h11's buffer, its slice, httpcore's ``bytes``, then the caller's buffer);
    ``recv_into`` copies once, with the GIL released, and makes the download about a
    quarter faster on two cores (bench/). The piece httpx already holds (read with the
    headers) comes first through httpx, then the rest from the socket. h11 never sees
    the body end, so closing the response discards the connection instead of reusing
    it: one new connection per chunk.

    The socket is made blocking and read with ``MSG_WAITALL``: the kernel fills the whole
    rest of the body in one call, where a socket with a Python timeout returns each
    piece as it lands (a hundred calls or more per chunk, each taking the GIL back among
    the other workers). The stall limit becomes the socket's own receive timeout
    (``SO_RCVTIMEO``): a read that waits that long for a byte fails, as before.
    """
    pieces = cast(Generator[bytes, None, None], response.iter_raw())
    try:
        first = next(pieces, b"")
        received = len(first)
        into[:received] = first
        _block_with_timeout(sock, TIMEOUT.read)
        while received < into.nbytes:
            n = sock.recv_into(into[received:], 0, socket.MSG_WAITALL)
            if n == 0:
                raise errors.FileserverUnavailable(
                    f"{base} closed the connection after {received} of the {into.nbytes} bytes of chunk {name}"
                )
            received += n
    finally:
        pieces.close()
    return received


def _block_with_timeout(sock: socket.socket, seconds: float | None) -> None:
    """Make *sock* blocking, a receive that waits *seconds* for data failing with a timeout (``SO_RCVTIMEO``)."""
    sock.settimeout(None)
    if seconds:
        whole = int(seconds)
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
        )


def _stream_body_into(response: httpx.Response, buffer: memoryview, base: str, name: str) -> int:
    """Copy the body into *buffer* piece by piece as httpx hands it over; refuse more than *buffer* holds."""
    received = 0
    for block in response.iter_bytes():
        end = received + len(block)
        if end > buffer.nbytes:
            raise errors.FileserverUnavailable(f"{base} sent more bytes than chunk {name} has")
        buffer[received:end] = block
        received = end
    return received


def retry_after(headers: Mapping[str, str], body: Any = None, *, now: float | None = None) -> float | None:
    """Return the seconds a 429 (or 503) asks us to wait: ``Retry-After`` in seconds or as a date, else the body's."""
    value = headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when - (time.time() if now is None else now))
    seconds = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        return float(seconds)
    return None


def _origin(url: str) -> str:
    parts = httpx.URL(url)
    return f"{parts.scheme}://{parts.host}:{parts.port}" if parts.port else f"{parts.scheme}://{parts.host}"
