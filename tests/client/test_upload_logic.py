"""The upload engine against an in-process fake network: format, spreading, failover, tickets, resume."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from coffer.client import errors, resume
from coffer.client.coffer import Coffer
from coffer.client.upload import UploadOptions, _Job
from coffer.format.chunks import open_chunk
from coffer.format.keys import key_commitment, open_file_key
from coffer.format.metadata import Metadata, open_metadata
from coffer.format.sizes import chunk_count
from coffer.protocol.encoding import b64decode
from coffer.transfer import errors as transfer_errors

from .fakenet import USER_ID, FakeNet, answer, refuse_connections

CHUNK = 1000


class Interrupt(Exception):
    pass


def source(tmp_path: Path, size: int, name: str = "data.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def reassemble(net: FakeNet, coffer: Coffer, file_id: str) -> tuple[bytes, Metadata]:
    """Open what the fake network holds with the owner's keys alone, as any client would."""
    record = net.files[file_id]
    key = open_file_key(coffer.keys, b64decode(record["sealed_key"]))
    meta = open_metadata(key, file_id, b64decode(record["metadata"]))
    rows = net.chunk_rows[file_id]
    out = b""
    for row in rows:
        blob = net.fileservers[row["fileservers"][0]].chunks[row["hash"]]
        out += open_chunk(key, file_id, row["index"], row["index"] == len(rows) - 1, blob)
    return out, meta


def state_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "config" / resume.UPLOADS).glob("*.json"))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 3])
def test_an_upload_seals_every_chunk_and_the_metadata_so_the_owner_can_reassemble_it(
    net: FakeNet, coffer: Coffer, tmp_path: Path, size: int
) -> None:
    path = source(tmp_path, size)
    result = coffer.upload(path, chunk_size=CHUNK)
    record = net.files[result.file_id]
    count = chunk_count(size, CHUNK)
    assert (record["state"], record["chunk_count"], record["chunk_size"]) == ("complete", count, CHUNK + 28)
    assert record["size"] == size + 28 * count
    assert record["format"] == 1
    data, meta = reassemble(net, coffer, result.file_id)
    assert data == path.read_bytes()
    assert (meta.name, meta.size, meta.sha256) == ("data.bin", size, hashlib.sha256(data).hexdigest())
    assert (result.chunks_sent, result.chunks_skipped, result.bytes) == (count, 0, size)
    assert state_files(tmp_path) == [], "the resume state is deleted after finalize"


def test_the_chunks_of_one_file_are_spread_over_every_live_fileserver(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    net.put_delay = 0.005  # equally fast fileservers
    result = coffer.upload(source(tmp_path, 30 * CHUNK), chunk_size=CHUNK, in_flight=4)
    assert min(fs.puts for fs in net.fileservers.values()) >= 5
    assert sum(result.per_fileserver.values()) == 30 and len(result.per_fileserver) == 3


def test_no_more_chunks_than_the_in_flight_limit_are_out_at_once(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    net.put_delay = 0.01
    coffer.upload(source(tmp_path, 40 * CHUNK), chunk_size=CHUNK, in_flight=3)
    assert 2 <= net.max_in_flight <= 3


@pytest.mark.parametrize(
    "fault",
    [refuse_connections, answer(503, "storage_unavailable"), answer(507, "storage_full"), answer(429, "busy")],
    ids=["refused", "503", "507", "429"],
)
def test_chunks_move_off_a_failing_fileserver(net: FakeNet, coffer: Coffer, tmp_path: Path, fault: object) -> None:
    bad = net.by_url(0)
    net.faults[bad.id] = fault  # type: ignore[assignment]
    net.put_delay = 0.01  # chunks overlap, so every fileserver is offered some
    path = source(tmp_path, 12 * CHUNK)
    result = coffer.upload(path, chunk_size=CHUNK)
    assert bad.puts == 0 and bad.url not in result.per_fileserver
    assert result.retries >= 1
    assert reassemble(net, coffer, result.file_id)[0] == path.read_bytes()


def test_an_expired_ticket_is_renewed_once_and_the_chunk_retried(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    calls = []

    def expire_first(request: httpx.Request) -> httpx.Response | None:
        calls.append(1)
        if len(calls) == 1:
            net.expire_tickets()
        return None

    for fs in net.fileservers.values():
        net.faults[fs.id] = expire_first
    result = coffer.upload(source(tmp_path, 5 * CHUNK), chunk_size=CHUNK, in_flight=1)
    assert result.chunks_sent == 5
    assert net.ticket_requests == 2


def test_a_ticket_refused_again_after_renewal_is_an_error(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    for fs in net.fileservers.values():
        net.faults[fs.id] = answer(401, "ticket_revoked")
    with pytest.raises(transfer_errors.TicketRejected):
        coffer.upload(source(tmp_path, 2 * CHUNK), chunk_size=CHUNK, in_flight=1)


def test_with_every_fileserver_failing_the_live_list_is_asked_again(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    def gone(request: httpx.Request) -> httpx.Response | None:
        net.live = []  # by the time the client asks again, the server lists none
        raise httpx.ConnectError("refused", request=request)

    for fs in net.fileservers.values():
        net.faults[fs.id] = gone
    with pytest.raises(transfer_errors.NoLiveFileserver, match="no live fileserver can take shard 'default'"):
        coffer.upload(source(tmp_path, 3 * CHUNK), chunk_size=CHUNK, in_flight=1)
    assert net.ticket_requests >= 2


def test_no_live_fileserver_at_the_start_is_a_clear_error(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    net.live = []
    with pytest.raises(transfer_errors.NoLiveFileserver, match="shard 'default'"):
        coffer.upload(source(tmp_path, 10), chunk_size=CHUNK)


def test_a_chunk_that_fails_everywhere_stops_after_its_attempts(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    for fs in net.fileservers.values():
        net.faults[fs.id] = answer(500, "boom")
    uploader = coffer.uploader(UploadOptions(chunk_size=CHUNK, max_attempts=3))
    with pytest.raises(transfer_errors.TransferFailed, match="after 3 attempts"):
        uploader.upload(source(tmp_path, 2 * CHUNK))


def test_copies_put_each_chunk_on_distinct_fileservers(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    result = coffer.upload(source(tmp_path, 6 * CHUNK), chunk_size=CHUNK, copies=2)
    for row in net.chunk_rows[result.file_id]:
        assert len(set(row["fileservers"])) == 2
    assert sum(result.per_fileserver.values()) == 12


def test_the_shards_copy_count_is_the_least_an_upload_stores_and_more_may_be_asked(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    net.copies = 2
    for asked, stored in ((1, 2), (3, 3)):
        result = coffer.upload(source(tmp_path, 3 * CHUNK, f"{asked}.bin"), chunk_size=CHUNK, copies=asked)
        assert {len(set(row["fileservers"])) for row in net.chunk_rows[result.file_id]} == {stored}


def test_copies_go_to_distinct_hosts_while_there_are_any(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    for fs, url in zip(net.fileservers.values(), ("a.test:1", "a.test:2", "b.test:1"), strict=True):
        fs.url = f"http://{url}"
    listing = net.listing
    # b.test reports itself busy: by load alone both copies would go to the two fileservers of a.test.
    net.listing = lambda: [s | {"active_transfers": 50 if "b.test" in s["url"] else 0} for s in listing()]  # type: ignore[method-assign]
    result = coffer.upload(source(tmp_path, 12 * CHUNK), chunk_size=CHUNK, copies=2)
    hosts = {fs.id: fs.url.split(":")[1] for fs in net.fileservers.values()}
    assert all(len({hosts[f] for f in row["fileservers"]}) == 2 for row in net.chunk_rows[result.file_id])


def test_more_copies_than_live_fileservers_is_a_clear_error(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    with pytest.raises(transfer_errors.NoLiveFileserver, match="needs 4 fileservers"):
        coffer.upload(source(tmp_path, 10), chunk_size=CHUNK, copies=4)


def interrupt_at(fraction: float) -> object:
    def progress(done: int, total: int) -> None:
        if total and done >= total * fraction:
            raise Interrupt()

    return progress


def test_an_interrupted_upload_run_again_sends_only_the_missing_chunks(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    path = source(tmp_path, 20 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=2, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    [state_path] = state_files(tmp_path)
    state = resume.load_upload(state_path)
    assert state is not None and 10 <= len(state.chunks) < 20
    assert state.file_key and state_path.stat().st_mode & 0o077 == 0
    puts_before = sum(fs.puts for fs in net.fileservers.values())

    result = coffer.upload(path, chunk_size=CHUNK, in_flight=2)
    assert result.resumed and result.file_id == state.file_id
    assert (result.chunks_skipped, result.chunks_sent) == (len(state.chunks), 20 - len(state.chunks))
    assert sum(fs.puts for fs in net.fileservers.values()) - puts_before == 20 - len(state.chunks)
    assert reassemble(net, coffer, result.file_id)[0] == path.read_bytes()
    assert state_files(tmp_path) == []


def test_a_read_error_mid_upload_is_a_local_file_error_and_the_upload_then_resumes(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = source(tmp_path, 20 * CHUNK)
    read_into = _Job._read_into

    def failing_disk(job: _Job, index: int, buffer: bytearray) -> memoryview:
        if index >= 10:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))
        return read_into(job, index, buffer)

    monkeypatch.setattr(_Job, "_read_into", failing_disk)
    with pytest.raises(errors.LocalFileError, match="Input/output error.*run the same upload again") as caught:
        coffer.upload(path, chunk_size=CHUNK, in_flight=2)
    assert caught.value.exit_code == 2 and str(path) in caught.value.message
    monkeypatch.setattr(_Job, "_read_into", read_into)
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=2)
    assert result.resumed and result.chunks_skipped >= 1
    assert reassemble(net, coffer, result.file_id)[0] == path.read_bytes()


def test_a_recorded_chunk_no_longer_on_its_fileserver_is_sent_again(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    path = source(tmp_path, 10 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    [state_path] = state_files(tmp_path)
    state = resume.load_upload(state_path)
    assert state is not None
    lost = state.chunks[0].hash
    for fs in net.fileservers.values():
        fs.chunks.pop(lost, None)
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    assert result.chunks_skipped == len(state.chunks) - 1
    assert reassemble(net, coffer, result.file_id)[0] == path.read_bytes()


def test_a_changed_source_starts_over_and_deletes_the_stale_record(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    path = source(tmp_path, 10 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    [state_path] = state_files(tmp_path)
    old = resume.load_upload(state_path)
    assert old is not None
    path.write_bytes(os.urandom(10 * CHUNK))
    os.utime(path, ns=(old.mtime_ns + 10**9, old.mtime_ns + 10**9))
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    assert not result.resumed and result.file_id != old.file_id and result.chunks_skipped == 0
    assert net.deleted == [old.file_id]
    assert reassemble(net, coffer, result.file_id)[0] == path.read_bytes()


def test_a_changed_source_never_deletes_the_record_an_earlier_run_finalized(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    """A state left by a run whose finalize answer was lost points at a whole file: a new upload keeps it."""
    path = source(tmp_path, 4 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    [state_path] = state_files(tmp_path)
    left = state_path.read_bytes()
    finished = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    state_path.write_bytes(left)
    path.write_bytes(os.urandom(4 * CHUNK))
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    assert result.file_id != finished.file_id and finished.file_id not in net.deleted
    assert net.files[finished.file_id]["state"] == "complete"


def test_a_state_whose_record_is_gone_starts_over(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    path = source(tmp_path, 4 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    net.files.clear()
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    assert not result.resumed and result.chunks_sent == 4


def test_a_state_whose_upload_deadline_passed_starts_over_and_deletes_the_stale_record(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    """The server gives a pending file no put ticket past its deadline: resuming it could never finish."""
    path = source(tmp_path, 4 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    [state_path] = state_files(tmp_path)
    old = resume.load_upload(state_path)
    assert old is not None
    net.past_deadline.add(old.file_id)
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    assert not result.resumed and result.file_id != old.file_id and result.chunks_sent == 4
    assert net.deleted == [old.file_id]
    assert reassemble(net, coffer, result.file_id)[0] == path.read_bytes()


def test_other_options_do_not_resume_the_state_of_different_ones(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    path = source(tmp_path, 4 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    result = coffer.upload(path, chunk_size=2 * CHUNK, in_flight=1)
    assert not result.resumed and result.chunks_sent == 2


def test_a_file_that_changes_while_it_is_read_is_refused(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    path = source(tmp_path, 6 * CHUNK)

    def grow(done: int, total: int) -> None:
        if done == 0:
            with open(path, "ab") as f:
                f.write(b"more")

    with pytest.raises(errors.UsageError, match="changed while it was being uploaded"):
        coffer.upload(path, chunk_size=CHUNK, on_progress=grow)
    assert state_files(tmp_path) == []


def test_progress_reaches_the_plaintext_size_and_never_goes_back(net: FakeNet, coffer: Coffer, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    coffer.upload(source(tmp_path, 9 * CHUNK + 5), chunk_size=CHUNK, on_progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 9 * CHUNK + 5) and seen[-1] == (9 * CHUNK + 5, 9 * CHUNK + 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_the_user_id_keys_the_resume_state(net: FakeNet, coffer: Coffer) -> None:
    assert coffer.user_id == USER_ID


def test_a_directory_is_not_uploaded(coffer: Coffer, tmp_path: Path) -> None:
    with pytest.raises(errors.UsageError, match="not a regular file"):
        coffer.upload(tmp_path)


def test_an_upload_started_without_a_key_commitment_starts_over_with_one(
    net: FakeNet, coffer: Coffer, tmp_path: Path
) -> None:
    """A resumed upload must end as a file whose key readers can check: an older client's record is replaced."""
    path = source(tmp_path, 4 * CHUNK)
    with pytest.raises(Interrupt):
        coffer.upload(path, chunk_size=CHUNK, in_flight=1, on_progress=interrupt_at(0.5))  # type: ignore[arg-type]
    [state_path] = state_files(tmp_path)
    old = resume.load_upload(state_path)
    assert old is not None
    net.files[old.file_id]["key_commitment"] = ""
    result = coffer.upload(path, chunk_size=CHUNK, in_flight=1)
    assert not result.resumed and net.deleted == [old.file_id]
    key = open_file_key(coffer.keys, b64decode(net.files[result.file_id]["sealed_key"]))
    assert b64decode(net.files[result.file_id]["key_commitment"]) == key_commitment(key)


def test_a_finalize_lost_at_a_proxy_before_the_server_acted_is_sent_again_and_the_upload_completes(
    net: FakeNet, coffer: Coffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server instance behind nginx dies as finalize reaches it: a bare 502, the record still pending."""
    server = net._server
    finalizes: list[str] = []

    def dying_instance(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/finalize"):
            finalizes.append(request.url.path)
            if len(finalizes) == 1:
                return httpx.Response(502, text="<html>502 Bad Gateway</html>")
        return server(request)

    monkeypatch.setattr(net, "_server", dying_instance)
    path = source(tmp_path, 3 * CHUNK)
    result = coffer.upload(path, chunk_size=CHUNK)
    assert net.files[result.file_id]["state"] == "complete" and len(finalizes) == 2
