"""``/api/chunks/{shard}/{file_id}/{chunk_hash}``: store, serve and look up one chunk.

Every request is checked in the same order: the ids in the path (so nothing odd
ever reaches a backend), the ticket (genuine, current, not revoked), its scope
(operation, shard, file, chunk), then the shard and its read/write flag, and
for an upload that the file stays within the chunk count and bytes its ticket
says it declared, counted from what this fileserver holds of it. Uploads
stream through a hashing reader into the backend and are answered with a signed
receipt; downloads stream out and are not hashed here (clients verify every chunk
they download): a chunk in a local file goes out with ``sendfile`` through the WSGI
server's ``wsgi.file_wrapper`` (:class:`TransferFile`), anything else in 1 MiB blocks.
The backend keeps the chunk under its file, ``chunk_name(file_id, chunk_hash)``, so
the same bytes uploaded for two files are two objects and deleting one file never
touches the other's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import falcon

from coffer.protocol import receipts, wire
from coffer.protocol.ids import check_chunk_hash, check_id, check_name, chunk_name, split_chunk_name
from coffer.protocol.tickets import Op, Ticket, UploadExceedsDeclared

from ..counters import SlotCounters
from ..errors import ChunkNotFound, ChunkTooLarge, FileserverBusy, LengthRequired
from ..identity import Identity
from ..shards import ServedShard, Shards
from ..storage import BLOCK_SIZE, ChunkStream, LocalFile, Readable, filler
from .auth import TicketGate
from .body import SocketBody, request_body
from .middleware import TransferRecord, record_of
from .ranges import content_range, parse_range


class _CountingBody:
    """The request body, counted into the transfer counters as it is read."""

    def __init__(self, stream: Readable, counters: SlotCounters, record: TransferRecord):
        self._stream = stream
        self._counters = counters
        self._record = record
        self._fill = filler(stream)

    def read(self, size: int, /) -> bytes:
        data = self._stream.read(size)
        self._count(len(data))
        return data

    def readinto(self, buffer: memoryview, /) -> int:
        got = self._fill(buffer)
        self._count(got)
        return got

    def _count(self, moved: int) -> None:
        self._counters.moved(moved)
        self._record.bytes += moved


class TransferStream(ChunkStream):
    """A download in progress: counts its bytes, and logs the transfer when the server closes it."""

    def __init__(self, inner: ChunkStream, counters: SlotCounters, record: TransferRecord, status: int):
        self._inner = inner
        self._counters = counters
        self._record = record
        self._status = status
        self._open = True
        record.logged_on_close = True
        counters.begin()

    def __next__(self) -> bytes:
        block = next(self._inner)
        self._count(len(block))
        return block

    def _count(self, moved: int) -> None:
        self._counters.moved(moved)
        self._record.bytes += moved

    def close(self) -> None:
        if self._open:
            self._open = False
            self._inner.close()
            self._counters.end()
            self._record.log(self._status)


class TransferFile(TransferStream):
    """A download from a local file, as the file-like object ``wsgi.file_wrapper`` takes: it goes out by ``sendfile``.

    gunicorn sends a file wrapper's file with ``socket.sendfile`` (page cache to socket in
    the kernel: no read into Python, no 1 MiB ``bytes`` per block, the GIL free) unless
    it serves TLS or runs with sendfile off; then it calls :meth:`read` with
    :data:`BLOCK_SIZE`. The bytes are counted either way: ``socket.sendfile`` ends, sent or
    broken off, by seeking the file to its start plus what it sent, which :meth:`seek` counts.
    """

    def __init__(
        self, inner: ChunkStream, file: LocalFile, counters: SlotCounters, record: TransferRecord, status: int
    ):
        super().__init__(inner, counters, record, status)
        self._file = file
        self._at = os.lseek(file.fileno(), 0, os.SEEK_CUR)
        """The file position up to which bytes were counted."""

    def fileno(self) -> int:
        return self._file.fileno()

    def read(self, size: int = BLOCK_SIZE, /) -> bytes:
        block = self._file.read(BLOCK_SIZE if size < 0 else size)
        self._at += len(block)
        self._count(len(block))
        return block

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        position = os.lseek(self._file.fileno(), offset, whence)
        if position > self._at:
            self._count(position - self._at)
            self._at = position
        return position


def download_body(
    req: falcon.Request, stream: ChunkStream, counters: SlotCounters, record: TransferRecord, status: int
) -> Any:
    """Return what ``resp.stream`` gets for *stream*: the WSGI server's file wrapper where it can ``sendfile``."""
    file = stream.local_file()
    wrapper = req.env.get("wsgi.file_wrapper")
    if file is None or wrapper is None:
        return TransferStream(stream, counters, record, status)
    return wrapper(TransferFile(stream, file, counters, record, status), BLOCK_SIZE)


class ChunkResource:
    def __init__(
        self,
        *,
        shards: Shards,
        gate: TicketGate,
        identity: Identity,
        counters: SlotCounters,
        max_chunk_size: int,
        clock: Callable[[], float],
    ):
        self._shards = shards
        self._gate = gate
        self._identity = identity
        self._counters = counters
        self._max_chunk_size = max_chunk_size
        self._clock = clock

    def _admit(self, req: falcon.Request, shard: str, file_id: str, chunk_hash: str) -> Ticket:
        """Check the path ids, then the ticket, then that a transfer slot is free; note the ids for the log.

        A PUT or GET over ``max_transfers`` is refused with 429 and ``Retry-After``
        before it touches a backend, so the client moves the chunk to another
        fileserver instead of queueing here; HEAD moves no bytes and is always served.
        """
        check_name(shard, "shard")
        check_id(file_id, "file_id")
        check_chunk_hash(chunk_hash)
        record = record_of(req)
        record.shard, record.file, record.chunk = shard, file_id, chunk_hash
        ticket = self._gate.admit(req.get_header("Authorization"))  # SECURITY
        if req.method != "HEAD" and self._counters.full():
            raise FileserverBusy("this fileserver is at its limit of concurrent transfers: try another one, or retry")
        return ticket

    def on_put(self, req: falcon.Request, resp: falcon.Response, shard: str, file_id: str, chunk_hash: str) -> None:
        ticket = self._admit(req, shard, file_id, chunk_hash)
        ticket.require("put", shard, file_id)  # SECURITY: a put ticket for this shard and file
        served = self._shards.for_put(shard)
        size = self._declared_size(req, ticket)
        name = chunk_name(file_id, chunk_hash)
        _check_room(served, ticket, name, size)  # SECURITY: never more than the file declared
        stream = request_body(req)
        self._counters.begin()
        try:
            body = _CountingBody(stream, self._counters, record_of(req))
            created = served.backend.put(name, body, size)
        finally:
            self._counters.end()
            if isinstance(stream, SocketBody):
                stream.close()
        if created:
            _recheck_room(served, ticket, name)  # SECURITY: puts racing in other workers
            self._counters.created()
        receipt = receipts.Receipt(
            fs=self._identity.fileserver_id,
            shard=shard,
            file=file_id,
            chunk=chunk_hash,
            size=size,
            iat=int(self._clock()),
        )
        resp.status = 201 if created else 200
        resp.media = {
            "chunk": chunk_hash,
            "size": size,
            "receipt": receipts.sign(self._identity.key, receipt),  # SECURITY: only after hash, fsync, rename
            "created": created,
        }

    def _declared_size(self, req: falcon.Request, ticket: Ticket) -> int:
        """Return the body size the client declared, if the ticket and this fileserver accept it."""
        if req.get_header("Transfer-Encoding") is not None or req.content_length is None:
            raise LengthRequired(
                "send the chunk with a Content-Length header: chunked or unsized bodies are not accepted"
            )
        size = req.content_length
        limit = min(ticket.max_bytes, self._max_chunk_size)
        if size > limit:
            whose = "the ticket" if ticket.max_bytes <= self._max_chunk_size else "this fileserver"
            raise ChunkTooLarge(f"the chunk is {size} bytes but {whose} allows at most {limit}: nothing was stored")
        return size

    def on_get(self, req: falcon.Request, resp: falcon.Response, shard: str, file_id: str, chunk_hash: str) -> None:
        ticket = self._admit(req, shard, file_id, chunk_hash)
        ticket.require("get", shard, file_id, chunk_hash)  # SECURITY: a get ticket naming this chunk
        served = self._shards.for_read(shard)
        name = chunk_name(file_id, chunk_hash)
        size = served.backend.stat(name).size
        wanted = parse_range(req.get_header("Range"), size)
        start, length = wanted if wanted is not None else (0, size)
        status = 200 if wanted is None else 206
        if wanted is not None:
            resp.set_header("Content-Range", content_range(start, length, size))
        _describe(resp, chunk_hash, length)
        resp.status = status
        # Last, so nothing can fail between opening the chunk and handing it to the server, which closes it.
        stream = served.backend.open(name, start, length)
        resp.stream = download_body(req, stream, self._counters, record_of(req), status)

    def on_head(self, req: falcon.Request, resp: falcon.Response, shard: str, file_id: str, chunk_hash: str) -> None:
        ticket = self._admit(req, shard, file_id, chunk_hash)
        served = self._head_shard(ticket, shard, file_id, chunk_hash)
        _describe(resp, chunk_hash, served.backend.stat(chunk_name(file_id, chunk_hash)).size)

    def _head_shard(self, ticket: Ticket, shard: str, file_id: str, chunk_hash: str) -> ServedShard:
        """A get ticket naming the chunk may ask; so may a put ticket for the file, to resume an upload."""
        op: Op = "put" if ticket.op == "put" else "get"
        ticket.require(op, shard, file_id, chunk_hash)  # SECURITY
        return self._shards.for_write(shard) if op == "put" else self._shards.for_read(shard)


def _check_room(served: ServedShard, ticket: Ticket, name: str, size: int) -> None:
    """Refuse a new chunk that would take its file past the chunk count or bytes its put ticket declares.

    The count is taken from what the backend holds of the file, so it holds across
    gunicorn workers and restarts; a chunk already stored is a retry and always
    answered, so sending a chunk again never trips the bound.
    """
    stored = served.backend.file_sizes(split_chunk_name(name)[0])
    if name not in stored:
        ticket.require_room(len(stored), sum(stored.values()), size)


def _recheck_room(served: ServedShard, ticket: Ticket, name: str) -> None:
    """Take back a chunk just created if puts racing in other workers took the file past its declaration.

    :func:`_check_room` runs before the body arrives, so concurrent puts of one
    file can each pass it; counting again once stored and withdrawing the chunk
    that went over keeps the bound exact (each racing chunk may be refused, none
    is kept past it).
    """
    stored = served.backend.file_sizes(split_chunk_name(name)[0])
    others = {n: s for n, s in stored.items() if n != name}
    try:
        ticket.require_room(len(others), sum(others.values()), stored.get(name, 0))
    except UploadExceedsDeclared:
        try:
            served.backend.delete(name)
        except ChunkNotFound:
            pass  # a racing put withdrew the same chunk: it is gone either way
        raise


def _describe(resp: falcon.Response, chunk_hash: str, length: int) -> None:
    resp.content_type = wire.OCTETS
    resp.content_length = length
    resp.set_header("Accept-Ranges", "bytes")
    resp.set_header("ETag", f'"{chunk_hash}"')
    resp.set_header("Cache-Control", "no-store")
