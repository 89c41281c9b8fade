"""How the chunk client reads a fileserver's answers that are not the chunk: a 429 is busy, with its wait."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from coffer.transfer import errors
from coffer.transfer.http import ChunkClient, retry_after

NOW = 1_800_000_000.0


def test_retry_after_is_read_as_seconds_or_a_date_or_from_the_body() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    date = formatdate(NOW + 10, usegmt=True)
    assert retry_after({"Retry-After": date}, now=NOW) == 10.0
    assert retry_after({"Retry-After": date}, now=NOW + 100) == 0.0, "a date in the past means now"
    assert retry_after({}, {"retry_after": 5}) == 5.0
    assert retry_after({"Retry-After": "soon"}, {"retry_after": True}) is None
    assert retry_after({}) is None


def test_a_429_from_a_fileserver_is_busy_with_its_retry_after() -> None:
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "fileserver_busy", "message": "full"}, headers={"Retry-After": "3"})

    with ChunkClient(transport=httpx.MockTransport(busy)) as chunks, pytest.raises(errors.FileserverBusy) as caught:
        chunks.head("http://fs.test", "default", "f", "c" * 64, "ticket")
    assert caught.value.retry_after == 3.0 and caught.value.code == "fileserver_busy"
    assert isinstance(caught.value, errors.FileserverUnavailable), "every engine path that moves a chunk on still does"


def test_a_fileserver_that_holds_all_a_file_declared_sends_the_chunk_to_another() -> None:
    """A resumed upload may have left unrecorded chunks on one fileserver; the rest fit on the others."""

    def full(request: httpx.Request) -> httpx.Response:
        return httpx.Response(413, json={"error": "upload_exceeds_declared", "message": "the file is full here"})

    with (
        ChunkClient(transport=httpx.MockTransport(full)) as chunks,
        pytest.raises(errors.FileserverUnavailable) as caught,
    ):
        chunks.put("http://fs.test", "fs-1", "default", "f", "c" * 64, b"sealed chunk", "ticket")
    assert (caught.value.code, caught.value.status) == ("upload_exceeds_declared", 413)
