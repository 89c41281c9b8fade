"""The fileserver's HTTP API, in-process: every refusal is a JSON 4xx that changes nothing."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from coffer.fileserver.counters import SlotCounters
from coffer.fileserver.identity import Identity
from coffer.fileserver.revocations import Revocations, write_revocations
from coffer.fileserver.settings import Settings
from coffer.protocol import receipts, tickets
from coffer.protocol.ids import new_id
from coffer.protocol.messages import Revocation
from coffer.protocol.signing import MAX_FIGURE, SigningKey
from tests.fileserver.fs_helpers import NOW, TicketMaker, auth, chunk_of, stored_files

Client = falcon.testing.TestClient
Result = falcon.testing.Result


def url(tickets_: TicketMaker, chunk: str, shard: str = "default", file: str | None = None) -> str:
    return f"/api/chunks/{shard}/{file or tickets_.file}/{chunk}"


def assert_error(result: Result, status: int, code: str) -> None:
    """The answer is exactly ``{"error": code, "message": text}`` with *status*."""
    assert result.status_code == status, result.text
    assert result.headers["content-type"].startswith("application/json")
    assert set(result.json) == {"error", "message"}
    assert result.json["error"] == code
    assert len(result.json["message"]) > 10


def upload(client: Client, tickets_: TicketMaker, data: bytes, chunk: str, **headers: str) -> Result:
    return client.simulate_put(url(tickets_, chunk), body=data, headers=auth(tickets_.put()) | headers)


# -- the good paths -------------------------------------------------------------------------------


def test_health_names_the_fileserver_and_its_shards(client: Client, identity: Identity) -> None:
    body = client.simulate_get("/api/health").json
    assert body["status"] == "ok" and body["fileserver_id"] == identity.fileserver_id
    assert {s["name"]: (s["read"], s["write"]) for s in body["shards"]} == {
        "default": (True, True),
        "archive": (True, False),
        "inbox": (False, True),
    }


def test_put_answers_201_with_a_receipt_the_server_can_verify(
    client: Client, tickets_: TicketMaker, identity: Identity
) -> None:
    data, chunk = chunk_of(3 << 20)
    result = upload(client, tickets_, data, chunk)
    assert result.status_code == 201
    assert result.json["chunk"] == chunk and result.json["size"] == len(data) and result.json["created"] is True
    receipt = receipts.verify(result.json["receipt"], identity.key.public_key)
    assert receipt == receipts.Receipt(
        fs=identity.fileserver_id, shard="default", file=tickets_.file, chunk=chunk, size=len(data), iat=NOW
    )


def test_second_put_of_the_same_chunk_answers_200_not_created(client: Client, tickets_: TicketMaker) -> None:
    data, chunk = chunk_of(1000)
    assert upload(client, tickets_, data, chunk).status_code == 201
    again = upload(client, tickets_, data, chunk)
    assert again.status_code == 200 and again.json["created"] is False
    assert again.json["receipt"]


def test_get_streams_the_whole_chunk(client: Client, tickets_: TicketMaker) -> None:
    data, chunk = chunk_of((2 << 20) + 5)
    upload(client, tickets_, data, chunk)
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert result.status_code == 200
    assert result.content == data
    assert result.headers["content-length"] == str(len(data))
    assert result.headers["content-type"] == "application/octet-stream"
    assert result.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-9", 0, 10), ("bytes=100-", 100, 1000), ("bytes=-7", 993, 1000), ("bytes=990-5000", 990, 1000)],
)
def test_get_with_a_range_answers_206_with_just_those_bytes(
    client: Client, tickets_: TicketMaker, header: str, start: int, end: int
) -> None:
    data, chunk = chunk_of(1000)
    upload(client, tickets_, data, chunk)
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)) | {"Range": header})
    assert result.status_code == 206
    assert result.content == data[start:end]
    assert result.headers["content-range"] == f"bytes {start}-{end - 1}/1000"


def test_head_with_a_put_ticket_tells_a_resuming_client_what_is_stored(client: Client, tickets_: TicketMaker) -> None:
    data, chunk = chunk_of(777)
    before = client.simulate_head(url(tickets_, chunk), headers=auth(tickets_.put()))
    assert before.status_code == 404
    upload(client, tickets_, data, chunk)
    after = client.simulate_head(url(tickets_, chunk), headers=auth(tickets_.put()))
    assert after.status_code == 200 and after.headers["content-length"] == "777"
    assert after.content == b""


def test_head_with_a_get_ticket_naming_the_chunk(client: Client, tickets_: TicketMaker) -> None:
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    assert client.simulate_head(url(tickets_, chunk), headers=auth(tickets_.get(chunk))).status_code == 200
    other = chunk_of(11)[1]
    assert client.simulate_head(url(tickets_, chunk), headers=auth(tickets_.get(other))).status_code == 403


def test_transfers_are_counted_while_they_run(client: Client, tickets_: TicketMaker, counters: SlotCounters) -> None:
    data, chunk = chunk_of(3 << 20)
    upload(client, tickets_, data, chunk)
    table = counters._table
    assert table.totals().bytes == len(data) and table.totals().created == 1
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert result.content == data
    totals = table.totals()
    assert totals.active == 0 and totals.bytes == 2 * len(data)


def test_each_transfer_is_logged_once_without_its_ticket(
    client: Client, tickets_: TicketMaker, caplog: pytest.LogCaptureFixture
) -> None:
    data, chunk = chunk_of(100)
    put_ticket, get_ticket = tickets_.put(), tickets_.get(chunk)
    with caplog.at_level(logging.INFO):
        client.simulate_put(url(tickets_, chunk), body=data, headers=auth(put_ticket))
        client.simulate_get(url(tickets_, chunk), headers=auth(get_ticket))
        client.simulate_get(url(tickets_, chunk), headers=auth("garbage"))
    lines = [r for r in caplog.records if r.getMessage() == "transfer"]
    assert [(r.kv["method"], r.kv["status"], r.kv["bytes"]) for r in lines] == [  # type: ignore[attr-defined]
        ("PUT", 201, 100),
        ("GET", 200, 100),
        ("GET", 401, 0),
    ]
    assert lines[2].kv["error"] == "ticket_invalid"  # type: ignore[attr-defined]
    everything = caplog.text + " ".join(str(getattr(r, "kv", "")) for r in caplog.records)
    assert put_ticket not in everything and get_ticket not in everything  # SECURITY


# -- tickets -----------------------------------------------------------------------------------------------


def test_missing_ticket_is_401_ticket_missing(client: Client, tickets_: TicketMaker) -> None:
    assert_error(client.simulate_get(url(tickets_, chunk_of(1)[1])), 401, "ticket_missing")


@pytest.mark.parametrize("header", ["Bearer abc.def", "Ticket", "Ticket   ", "abc.def"])
def test_authorization_without_the_ticket_scheme_is_401_ticket_missing(
    client: Client, tickets_: TicketMaker, header: str
) -> None:
    result = client.simulate_get(url(tickets_, chunk_of(1)[1]), headers={"Authorization": header})
    assert_error(result, 401, "ticket_missing")


@pytest.mark.parametrize("token", ["garbage", "a.b", "!!!.???", "x" * 5000, "e30.AAAA"])
def test_garbled_ticket_is_401(client: Client, tickets_: TicketMaker, token: str) -> None:
    result = client.simulate_get(url(tickets_, chunk_of(1)[1]), headers=auth(token))
    assert result.status_code == 401 and result.json["error"].startswith("ticket_")


def test_forged_ticket_signed_with_another_key_under_our_kid_is_refused(
    client: Client, tickets_: TicketMaker, server_key: SigningKey
) -> None:
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    genuine = tickets_.get(chunk)
    from coffer.protocol import tickets
    from coffer.protocol.signing import peek_token

    forged = SigningKey.generate().sign(
        "ticket", peek_token(genuine, tickets.MAX_TOKEN_LENGTH) | {"kid": server_key.kid}
    )
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(forged)), 401, "ticket_invalid")


def test_ticket_from_an_unknown_key_is_401_ticket_unknown_key(client: Client, tickets_: TicketMaker) -> None:
    chunk = chunk_of(10)[1]
    foreign = tickets_.get(chunk, key=SigningKey.generate())
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(foreign)), 401, "ticket_unknown_key")


def test_expired_ticket_is_401_ticket_expired(client: Client, tickets_: TicketMaker, clock: list[float]) -> None:
    chunk = chunk_of(10)[1]
    ticket = tickets_.get(chunk)
    clock[0] = NOW + 301
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(ticket)), 401, "ticket_expired")


def test_revoked_ticket_is_refused_as_soon_as_the_list_changes(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    holder = new_id()
    ticket = tickets_.get(chunk, sub=holder)
    assert client.simulate_get(url(tickets_, chunk), headers=auth(ticket)).status_code == 200
    write_revocations(settings.data_dir / "revoked.json", _revoking(holder=holder, file=tickets_.file))
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(ticket)), 401, "ticket_revoked")
    write_revocations(settings.data_dir / "revoked.json", Revocations(2))
    assert client.simulate_get(url(tickets_, chunk), headers=auth(ticket)).status_code == 200


def _revoking(**match: Any) -> Revocations:
    return Revocations(1, (Revocation(before=NOW, exp=NOW + 300, **match),))


def test_a_revocation_covers_exactly_the_tickets_it_names_issued_before_it(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    holder, other = new_id(), new_id()
    write_revocations(settings.data_dir / "revoked.json", _revoking(holder=holder, file=tickets_.file, op="get"))
    revoked = tickets_.get(chunk, sub=holder, iat=NOW - 1)
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(revoked)), 401, "ticket_revoked")
    for fine in (tickets_.get(chunk, sub=other), tickets_.get(chunk, sub=holder, iat=NOW + 1)):
        assert client.simulate_get(url(tickets_, chunk), headers=auth(fine)).status_code == 200
    write_revocations(settings.data_dir / "revoked.json", _revoking(file=tickets_.file))
    anyone = tickets_.get(chunk, sub=other)
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(anyone)), 401, "ticket_revoked")


def test_a_damaged_revocation_list_keeps_what_was_revoked(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    holder = new_id()
    write_revocations(settings.data_dir / "revoked.json", _revoking(holder=holder))
    ticket = tickets_.get(chunk, sub=holder)
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(ticket)), 401, "ticket_revoked")
    (settings.data_dir / "revoked.json").write_text("[{oops")
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(ticket)), 401, "ticket_revoked")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda t, c: t.put(file=new_id()), "put ticket for another file"),
        (lambda t, c: t.put(shard="archive"), "put ticket for another shard"),
        (lambda t, c: t.get(c), "get ticket used to upload"),
    ],
)
def test_put_with_a_ticket_out_of_scope_is_403_and_stores_nothing(
    client: Client, tickets_: TicketMaker, settings: Settings, make: Any, why: str
) -> None:
    data, chunk = chunk_of(100)
    result = client.simulate_put(url(tickets_, chunk), body=data, headers=auth(make(tickets_, chunk)))
    assert_error(result, 403, "ticket_scope")
    assert stored_files(settings.data_dir) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda t, c: t.get(chunk_of(5, seed=5)[1]),  # another chunk
        lambda t, c: t.get(c, file=new_id()),  # another file
        lambda t, c: t.get(c, shard="archive"),  # another shard
        lambda t, c: t.put(),  # a put ticket cannot download
    ],
    ids=["other-chunk", "other-file", "other-shard", "put-op"],
)
def test_get_with_a_ticket_out_of_scope_is_403(client: Client, tickets_: TicketMaker, make: Any) -> None:
    data, chunk = chunk_of(100)
    upload(client, tickets_, data, chunk)
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(make(tickets_, chunk))), 403, "ticket_scope")


# -- ids in the path -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shard", "file", "chunk", "code"),
    [
        ("..", None, None, "invalid_shard"),
        ("Default", None, None, "invalid_shard"),
        ("default", "..", None, "invalid_file_id"),
        ("default", "not-a-uuid", None, "invalid_file_id"),
        ("default", None, "..", "invalid_chunk_hash"),
        ("default", None, "A" * 64, "invalid_chunk_hash"),
        ("default", None, "a" * 63, "invalid_chunk_hash"),
        ("default", None, "a" * 65, "invalid_chunk_hash"),
        ("default", None, "%2e%2e", "invalid_chunk_hash"),
    ],
)
def test_odd_ids_in_the_path_are_400_and_touch_nothing(
    client: Client,
    tickets_: TicketMaker,
    settings: Settings,
    shard: str,
    file: str | None,
    chunk: str | None,
    code: str,
) -> None:
    data, good = chunk_of(10)
    path = url(tickets_, chunk or good, shard=shard, file=file)
    for method in ("PUT", "GET", "HEAD"):
        result = client.simulate_request(method, path, body=data, headers=auth(tickets_.put()))
        assert result.status_code == 400
        if method != "HEAD":
            assert_error(result, 400, code)
    assert stored_files(settings.data_dir) == []


def test_path_with_extra_segments_is_404_json(client: Client, tickets_: TicketMaker) -> None:
    chunk = chunk_of(1)[1]
    result = client.simulate_get(
        f"/api/chunks/default/../../{tickets_.file}/{chunk}", headers=auth(tickets_.get(chunk))
    )
    assert_error(result, 404, "no_such_endpoint")


# -- shards ---------------------------------------------------------------------------------------------


def test_shard_not_served_is_404(client: Client, tickets_: TicketMaker) -> None:
    data, chunk = chunk_of(10)
    ticket = tickets_.put(shard="elsewhere")
    result = client.simulate_put(url(tickets_, chunk, shard="elsewhere"), body=data, headers=auth(ticket))
    assert_error(result, 404, "shard_not_served")


def test_upload_to_a_read_only_shard_is_403(client: Client, tickets_: TicketMaker, settings: Settings) -> None:
    data, chunk = chunk_of(10)
    result = client.simulate_put(
        url(tickets_, chunk, shard="archive"), body=data, headers=auth(tickets_.put(shard="archive"))
    )
    assert_error(result, 403, "shard_read_only")
    assert stored_files(settings.data_dir) == []


def test_download_from_a_write_only_shard_is_403(client: Client, tickets_: TicketMaker) -> None:
    chunk = chunk_of(10)[1]
    result = client.simulate_get(url(tickets_, chunk, shard="inbox"), headers=auth(tickets_.get(chunk, shard="inbox")))
    assert_error(result, 403, "shard_write_only")


def test_get_of_a_chunk_not_stored_is_404(client: Client, tickets_: TicketMaker) -> None:
    chunk = chunk_of(10)[1]
    assert_error(client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk))), 404, "chunk_not_found")


# -- bodies ---------------------------------------------------------------------------------------------


def test_put_without_content_length_is_411(client: Client, tickets_: TicketMaker, settings: Settings) -> None:
    chunk = chunk_of(10)[1]
    result = client.simulate_put(url(tickets_, chunk), headers=auth(tickets_.put()) | {"Transfer-Encoding": "chunked"})
    assert_error(result, 411, "length_required")
    assert stored_files(settings.data_dir) == []


def test_body_over_the_tickets_max_bytes_is_413(client: Client, tickets_: TicketMaker, settings: Settings) -> None:
    data, chunk = chunk_of(1001)
    result = client.simulate_put(url(tickets_, chunk), body=data, headers=auth(tickets_.put(max_bytes=1000)))
    assert_error(result, 413, "chunk_too_large")
    assert "ticket allows at most 1000" in result.json["message"]
    assert stored_files(settings.data_dir) == []


def test_body_over_the_fileservers_cap_is_413_whatever_the_ticket_says(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of((4 << 20) + 1)
    result = client.simulate_put(url(tickets_, chunk), body=data, headers=auth(tickets_.put(max_bytes=64 << 20)))
    assert_error(result, 413, "chunk_too_large")
    assert "this fileserver allows" in result.json["message"]


def test_put_with_wrong_hash_is_422_and_leaves_nothing_on_disk(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, _ = chunk_of(2 << 20)
    claimed = chunk_of(5, seed=1)[1]
    assert_error(upload(client, tickets_, data, claimed), 422, "hash_mismatch")
    assert stored_files(settings.data_dir) == []


def test_body_shorter_than_declared_is_400_and_leaves_nothing_on_disk(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of(5000)
    result = upload(client, tickets_, data[:4000], chunk, **{"Content-Length": "5000"})
    assert_error(result, 400, "size_mismatch")
    assert stored_files(settings.data_dir) == []


def test_body_longer_than_declared_is_read_only_as_far_as_declared(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of(5000)
    result = upload(client, tickets_, data + b"tail", chunk, **{"Content-Length": "5000"})
    assert result.status_code == 201
    assert result.json["size"] == 5000


# -- headers, ranges, and errors from Falcon or bugs ---------------------------------------------------------


def test_the_largest_ticket_passes_the_header_limit_with_a_browsers_usual_headers(
    client: Client, tickets_: TicketMaker
) -> None:
    data, chunk = chunk_of(5000)
    assert upload(client, tickets_, data, chunk).status_code == 201
    others = tuple(chunk_of(10, seed=i)[1] for i in range(1, tickets.MAX_TICKET_CHUNKS))
    ticket = tickets_.get(chunk, *others, max_bytes=MAX_FIGURE)
    browser = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
        "Accept": "*/*",
        "Accept-Language": "en-GB,en;q=0.9,de;q=0.8,fr;q=0.7",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Origin": "https://coffer.example.org",
        "Referer": "https://coffer.example.org/files/" + new_id(),
        "Range": "bytes=0-99",
    }
    result = client.simulate_get(url(tickets_, chunk), headers=auth(ticket) | browser)
    assert result.status_code == 206, result.text


def test_oversized_headers_are_431(client: Client, tickets_: TicketMaker) -> None:
    chunk = chunk_of(10)[1]
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)) | {"X-Pad": "a" * 9000})
    assert_error(result, 431, "headers_too_large")


@pytest.mark.parametrize(
    "header", ["bytes=x", "bytes=5-2", "bytes=1000-", "bytes=0-1,5-6", "items=0-1", "bytes=-0", "-"]
)
def test_malformed_or_unsatisfiable_range_is_416_with_the_size(
    client: Client, tickets_: TicketMaker, header: str
) -> None:
    data, chunk = chunk_of(1000)
    upload(client, tickets_, data, chunk)
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)) | {"Range": header})
    assert_error(result, 416, "range_not_satisfiable")
    assert result.headers["content-range"] == "bytes */1000"


def test_unknown_route_is_404_json(client: Client) -> None:
    assert_error(client.simulate_get("/api/nothing"), 404, "no_such_endpoint")


def test_wrong_method_is_405_json_naming_the_allowed_ones(client: Client, tickets_: TicketMaker) -> None:
    result = client.simulate_delete(url(tickets_, chunk_of(1)[1]))
    assert_error(result, 405, "method_not_allowed")
    assert "PUT" in result.headers["allow"] and "PUT" in result.json["message"]


def test_unexpected_failure_is_500_json_logged_with_its_trace(
    client: Client, tickets_: TicketMaker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from coffer.fileserver.storage.local import LocalBackend

    def broken(self: LocalBackend, name: str) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(LocalBackend, "_stat", broken)
    chunk = chunk_of(1)[1]
    with caplog.at_level(logging.ERROR):
        result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert_error(result, 500, "internal")
    assert "secret internals" not in result.text
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)


def test_storage_failure_is_503_saying_to_try_another_fileserver(
    client: Client, tickets_: TicketMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coffer.fileserver.storage.local import LocalBackend

    def failing(self: LocalBackend, name: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(LocalBackend, "_stat", failing)
    chunk = chunk_of(1)[1]
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert_error(result, 503, "storage_unavailable")
    assert "another fileserver" in result.json["message"]


def test_data_dir_holds_only_the_chunk_after_an_upload(
    client: Client, tickets_: TicketMaker, settings: Settings, tmp_path: Path
) -> None:
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    file_id = tickets_.file
    assert stored_files(settings.data_dir) == [f"chunks/default/{file_id[:2]}/{file_id}/{chunk}"]


def test_the_same_chunk_uploaded_for_two_files_is_stored_once_per_file(
    client: Client, tickets_: TicketMaker, settings: Settings
) -> None:
    data, chunk = chunk_of(10)
    first, second = tickets_.file, new_id()
    assert upload(client, tickets_, data, chunk).status_code == 201
    tickets_.file = second
    assert upload(client, tickets_, data, chunk).status_code == 201  # created again: it is another file's chunk
    assert stored_files(settings.data_dir) == sorted(f"chunks/default/{f[:2]}/{f}/{chunk}" for f in (first, second))


def test_a_chunk_is_served_only_under_the_file_it_was_uploaded_for(client: Client, tickets_: TicketMaker) -> None:
    """A get ticket for another file naming the same hash finds nothing: files never share stored chunks."""
    data, chunk = chunk_of(10)
    upload(client, tickets_, data, chunk)
    tickets_.file = new_id()
    result = client.simulate_get(url(tickets_, chunk), headers=auth(tickets_.get(chunk)))
    assert_error(result, 404, "chunk_not_found")
