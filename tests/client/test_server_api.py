"""The typed server client: each call goes to its route, and a malformed answer stops at the client's door."""

from __future__ import annotations

import json

import httpx
import pytest

from coffer.client import errors, server_api
from coffer.client.api import ServerClient
from coffer.protocol.api.files import CreateFile
from coffer.protocol.api.tickets import TicketRequest

FILE = "0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b"
RECORD = {
    "id": FILE,
    "owner": "alice",
    "shard": "hq",
    "size": 10,
    "chunk_count": 1,
    "chunk_size": 64,
    "metadata": "bQ",
    "sealed_key": "aw",
    "state": "pending",
    "created_at": 1.0,
    "expires_at": 2.0,
    "completed_at": None,
    "key_commitment": "",
    "access": "owner",
}


def client(answer: object, seen: list[httpx.Request], status: int = 200) -> ServerClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=answer)

    return ServerClient("http://server", "token", transport=httpx.MockTransport(handle))


def test_create_file_posts_the_model_and_parses_the_record() -> None:
    seen: list[httpx.Request] = []
    request = CreateFile(shard="hq", size=10, chunk_size=64, chunk_count=1, metadata="bQ")
    record = client(RECORD, seen, 201).create_file(request)
    assert (seen[0].method, seen[0].url.path) == ("POST", "/api/files")
    assert json.loads(seen[0].content) == request.to_json()
    assert record.id == FILE and record.state == "pending"


def test_tickets_are_asked_for_at_the_files_route() -> None:
    seen: list[httpx.Request] = []
    answer = client({"tickets": [], "fileservers": []}, seen).tickets(FILE, TicketRequest("get"))
    assert seen[0].url.path == f"/api/files/{FILE}/tickets" and json.loads(seen[0].content) == {"op": "get"}
    assert answer.tickets == () and answer.fileservers == ()


def test_the_live_list_is_asked_for_with_its_op() -> None:
    seen: list[httpx.Request] = []
    client([], seen).shard_fileservers("hq", "write")
    assert str(seen[0].url) == "http://server/api/shards/hq/fileservers?op=write"


def test_a_malformed_record_is_an_api_error_naming_the_answer() -> None:
    with pytest.raises(errors.ApiError) as info:
        client(RECORD | {"state": "lost"}, []).get_file(FILE)
    assert info.value.code == "invalid_answer"


def test_a_read_is_sent_once_more_when_the_connection_dropped_before_the_answer() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return httpx.Response(200, json=RECORD)

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    assert api.get_file(FILE).id == FILE and len(calls) == 2


def test_creating_a_file_is_not_sent_again_when_the_connection_dropped() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.RemoteProtocolError("server disconnected", request=request)

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    with pytest.raises(errors.ConnectionFailed):
        api.create_file(CreateFile(shard="hq", size=10, chunk_size=64, chunk_count=1, metadata="bQ"))
    assert len(calls) == 1


def test_a_proxys_bad_gateway_is_retried_like_a_dropped_connection_where_that_is_safe() -> None:
    """Behind nginx a server instance dying mid-request turns into a bare 502: the read goes to another instance."""
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(502, text="<html>502 Bad Gateway</html>")
        return httpx.Response(200, json=RECORD)

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    assert api.get_file(FILE).id == FILE and len(calls) == 2


def test_a_bad_gateway_on_creating_a_file_is_not_sent_again_and_says_what_happened() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(504, text="<html>504 Gateway Time-out</html>")

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    with pytest.raises(errors.GatewayFailed, match="proxy in front of") as info:
        api.create_file(CreateFile(shard="hq", size=10, chunk_size=64, chunk_count=1, metadata="bQ"))
    assert len(calls) == 1 and info.value.exit_code == 3


CREATE_ID = "5f" * 16


def test_a_create_with_a_create_id_is_resent_with_the_same_id_after_a_lost_answer(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server makes one file per create id, so a 502 or a dropped connection is safe to resend, logged."""
    monkeypatch.setattr(server_api, "pause", lambda seconds: None)
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(502, text="<html>502 Bad Gateway</html>")
        if len(calls) == 2:
            raise httpx.RemoteProtocolError("server disconnected", request=request)
        return httpx.Response(200, json=RECORD)

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    create = CreateFile(shard="hq", size=10, chunk_size=64, chunk_count=1, metadata="bQ", create_id=CREATE_ID)
    with caplog.at_level("WARNING", logger="coffer.client.server_api"):
        assert api.create_file(create).id == FILE
    assert [json.loads(c.content)["create_id"] for c in calls] == [CREATE_ID] * 3
    resent = [r for r in caplog.records if r.getMessage() == "file create resent"]
    assert [r.kv["resend"] for r in resent] == [1, 2]  # type: ignore[attr-defined]


def test_a_create_is_resent_at_most_four_times_pausing_longer_each_time_then_the_failure_is_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[httpx.Request] = []
    paused: list[float] = []
    monkeypatch.setattr(server_api, "pause", paused.append)

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    api = ServerClient("http://server", "token", transport=httpx.MockTransport(handle))
    create = CreateFile(shard="hq", size=10, chunk_size=64, chunk_count=1, metadata="bQ", create_id=CREATE_ID)
    with pytest.raises(errors.ConnectionFailed):
        api.create_file(create)
    assert len(calls) == 5 and paused == [0.25, 0.5, 1.0, 2.0]


def test_a_refused_create_is_not_resent() -> None:
    seen: list[httpx.Request] = []
    create = CreateFile(shard="hq", size=10, chunk_size=64, chunk_count=1, metadata="bQ", create_id=CREATE_ID)
    with pytest.raises(errors.ApiError) as info:
        client({"error": "create_id_reused", "message": "m"}, seen, status=409).create_file(create)
    assert info.value.code == "create_id_reused" and len(seen) == 1


def test_a_502_carrying_a_coffer_error_body_is_the_servers_own_answer_not_a_gateways() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(errors.ApiError) as info:
        client({"error": "upstream_failed", "message": "m"}, seen, status=502).get_file(FILE)
    assert not isinstance(info.value, errors.ConnectionFailed) and len(seen) == 1


@pytest.mark.parametrize(
    ("call", "path", "answer"),
    [
        (
            "info",
            "/api/info",
            {
                "version": "0.1.0",
                "public_key": "k",
                "kid": "k1",
                "lease_seconds": 30.0,
                "heartbeat_interval": 10.0,
                "max_chunk_size": 64,
                "default_chunk_size": 64,
                "max_retention": 60.0,
            },
        ),
        ("shards", "/api/shards", [{"name": "hq", "description": "", "readers": 1, "writers": 1, "copies": 2}]),
        ("sessions", "/api/auth/sessions", [{"id": "s", "created_at": 1.0, "expires_at": 2.0, "current": True}]),
        ("admin_users", "/api/admin/users", [{"id": "u", "name": "alice", "role": "user", "created_at": 1.0}]),
        (
            "admin_shards",
            "/api/admin/shards",
            [{"name": "hq", "description": "", "copies": 2, "clusters": [], "below_copies": 0, "unrepairable": 0}],
        ),
        ("admin_clusters", "/api/admin/clusters", [{"id": "c", "name": "main", "generation": 1, "shards": []}]),
    ],
)
def test_a_read_is_parsed_by_its_model_and_prints_back_the_same(call: str, path: str, answer: object) -> None:
    seen: list[httpx.Request] = []
    result = getattr(client(answer, seen), call)()
    as_json = [r.to_json() for r in result] if isinstance(result, list) else result.to_json()
    assert (seen[0].method, seen[0].url.path, as_json) == ("GET", path, answer)
    with pytest.raises(errors.ApiError) as info:
        getattr(client({"unexpected": True}, []), call)()
    assert info.value.code == "invalid_answer"
