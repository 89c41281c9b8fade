"""A chunk on local disk goes out through the WSGI server's file wrapper (``sendfile``), counted and logged once."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import falcon.testing
import pytest
from gunicorn.http.wsgi import FileWrapper

from coffer.fileserver.counters import SharedCounters, SlotCounters
from coffer.fileserver.data.chunks import TransferFile
from coffer.fileserver.data.middleware import TransferRecord
from coffer.fileserver.storage import BLOCK_SIZE
from coffer.fileserver.storage.local import serve_range
from tests.fileserver.fs_helpers import TicketMaker, auth, chunk_of

Client = falcon.testing.TestClient


def _get(client: Client, tickets_: TicketMaker, data: bytes, chunk: str, **headers: str) -> falcon.testing.Result:
    url = f"/api/chunks/default/{tickets_.file}/{chunk}"
    client.simulate_put(url, body=data, headers=auth(tickets_.put()))
    wrapper = {"wsgi.file_wrapper": FileWrapper}
    return client.simulate_get(url, headers=auth(tickets_.get(chunk)) | headers, extras=wrapper)


def test_a_local_chunk_is_handed_to_the_file_wrapper_and_still_counted_and_logged_once(
    client: Client, tickets_: TicketMaker, counters: SlotCounters, caplog: pytest.LogCaptureFixture
) -> None:
    data, chunk = chunk_of((2 << 20) + 5)
    with caplog.at_level(logging.INFO):
        result = _get(client, tickets_, data, chunk)
    assert result.status_code == 200 and result.content == data
    totals = counters._table.totals()
    assert totals.active == 0 and totals.bytes == 2 * len(data)
    lines = [r.kv for r in caplog.records if r.getMessage() == "transfer"]  # type: ignore[attr-defined]
    assert [(kv["method"], kv["status"], kv["bytes"]) for kv in lines] == [
        ("PUT", 201, len(data)),
        ("GET", 200, len(data)),
    ]


def test_a_range_through_the_file_wrapper_is_exactly_the_bytes_asked_for(client: Client, tickets_: TicketMaker) -> None:
    data, chunk = chunk_of(3000)
    result = _get(client, tickets_, data, chunk, Range="bytes=100-1099")
    assert result.status_code == 206 and result.content == data[100:1100]


def _transfer_file(tmp_path: Path, data: bytes, start: int, length: int) -> tuple[TransferFile, TransferRecord]:
    path = tmp_path / "chunk"
    path.write_bytes(data)
    stream = serve_range(open(path, "rb", buffering=0), start, length)
    file = stream.local_file()
    assert file is not None
    record = TransferRecord("GET")
    counters = SharedCounters(slots=1).slot(0)
    return TransferFile(stream, file, counters, record, 206), record


def _send_as_gunicorn_does(sender: socket.socket, body: TransferFile, length: int) -> None:
    """What gunicorn's ``Response.sendfile`` does with a file wrapper's file."""
    offset = os.lseek(body.fileno(), 0, os.SEEK_CUR)
    sender.sendfile(body, offset=offset, count=length)
    os.lseek(body.fileno(), offset, os.SEEK_SET)


def test_sendfile_sends_the_range_and_counts_every_byte_it_sent(tmp_path: Path) -> None:
    data = os.urandom(3 * BLOCK_SIZE + 17)
    start, length = 1000, 2 * BLOCK_SIZE + 3
    body, record = _transfer_file(tmp_path, data, start, length)
    sender, receiver = socket.socketpair()
    got = bytearray()

    def receive() -> None:
        while piece := receiver.recv(1 << 16):
            got.extend(piece)

    reader = threading.Thread(target=receive)
    reader.start()
    try:
        _send_as_gunicorn_does(sender, body, length)
    finally:
        sender.close()
        reader.join()
        receiver.close()
        body.close()
    assert bytes(got) == data[start : start + length]
    assert record.bytes == length


def test_sendfile_broken_off_counts_only_what_went_out(tmp_path: Path) -> None:
    """The reader takes 64 KiB and hangs up: the count covers what went out, not the 8 MiB the range holds."""
    data = os.urandom(8 * BLOCK_SIZE)
    body, record = _transfer_file(tmp_path, data, 0, len(data))
    sender, receiver = socket.socketpair()
    failed: list[BaseException] = []

    def send() -> None:
        try:
            _send_as_gunicorn_does(sender, body, len(data))
        except OSError as exc:
            failed.append(exc)

    writer = threading.Thread(target=send)
    writer.start()
    first = receiver.recv(1 << 16, socket.MSG_WAITALL)
    receiver.close()
    writer.join()
    sender.close()
    body.close()
    assert len(first) == 1 << 16 and failed
    assert 1 << 16 <= record.bytes < len(data)


def test_without_sendfile_the_file_wrapper_reads_whole_blocks(tmp_path: Path) -> None:
    """A server that serves TLS, or has sendfile off, iterates the wrapper: 1 MiB blocks, not 8 KiB ones."""
    data = os.urandom(2 * BLOCK_SIZE + 1)
    body, record = _transfer_file(tmp_path, data, 0, len(data))
    blocks = list(FileWrapper(body, BLOCK_SIZE))
    body.close()
    assert [len(b) for b in blocks] == [BLOCK_SIZE, BLOCK_SIZE, 1]
    assert b"".join(blocks) == data and record.bytes == len(data)
