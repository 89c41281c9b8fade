"""File records, tickets and finalization with fileserver receipts."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from coffer.protocol import receipts, tickets
from coffer.protocol.encoding import b64encode
from coffer.protocol.ids import new_id
from coffer.protocol.messages import ShardAnnouncement

from .conftest import LOCAL_TOPOLOGY, FakeFileserver, Harness

CHUNK = 1024


def _new_file(harness: Harness, token: str, chunks: int = 3, **overrides: Any) -> Any:
    body = {
        "shard": "default",
        "size": CHUNK * chunks,
        "chunk_count": chunks,
        "chunk_size": CHUNK,
        "metadata": b64encode(b"sealed metadata"),
    } | overrides
    return harness.call("POST", "/api/files", body, token)


def _receipt(fs: FakeFileserver, file_id: str, data: bytes, now: float, shard: str = "default") -> str:
    chunk = hashlib.sha256(data).hexdigest()
    return receipts.sign(fs.key, receipts.Receipt(fs.id, shard, file_id, chunk, len(data), int(now)))


def _finalize_body(fs: FakeFileserver, file_id: str, blobs: list[bytes], now: float) -> dict[str, Any]:
    return {
        "chunks": [
            {
                "index": i,
                "hash": hashlib.sha256(b).hexdigest(),
                "size": len(b),
                "receipts": [_receipt(fs, file_id, b, now)],
            }
            for i, b in enumerate(blobs)
        ]
    }


@pytest.fixture
def setup(harness: Harness, admin: str) -> tuple[str, FakeFileserver]:
    fs = harness.fileserver(admin)
    assert harness.register(fs).status_code == 200
    return harness.make_user("alice"), fs


def test_upload_flow_completes_with_receipts(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, fs = setup
    created = _new_file(harness, user)
    assert created.status_code == 201, created.json
    file_id = created.json["id"]
    assert created.json["state"] == "pending"
    put = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, user).json
    assert [f["id"] for f in put["fileservers"]] == [fs.id]
    ticket = tickets.verify(
        put["tickets"][0]["ticket"], {harness.keys.signing.kid: harness.keys.signing.public_key}, harness.clock()
    )
    assert (ticket.op, ticket.file, ticket.shard, ticket.max_bytes) == ("put", file_id, "default", CHUNK)
    blobs = [os.urandom(CHUNK) for _ in range(3)]
    done = harness.call(
        "POST", f"/api/files/{file_id}/finalize", _finalize_body(fs, file_id, blobs, harness.clock()), user
    )
    assert done.status_code == 200, done.json
    assert done.json["state"] == "complete"
    assert [c["fileservers"] for c in done.json["chunks"]] == [[fs.id]] * 3
    get = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, user).json
    assert get["tickets"][0]["chunks"] == [hashlib.sha256(b).hexdigest() for b in blobs]


def _put_ticket(harness: Harness, user: str, file_id: str) -> tickets.Ticket:
    put = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, user).json
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    return tickets.verify(put["tickets"][0]["ticket"], keys, harness.clock())


def test_put_ticket_bounds_the_upload_to_the_declared_chunk_count_and_size(
    harness: Harness, setup: tuple[str, FakeFileserver]
) -> None:
    user, _ = setup
    file_id = _new_file(harness, user, chunks=3, size=CHUNK * 2 + 5).json["id"]
    ticket = _put_ticket(harness, user, file_id)
    assert (ticket.max_bytes, ticket.max_chunks, ticket.max_total) == (CHUNK, 3, CHUNK * 2 + 5)


def test_put_ticket_of_a_file_smaller_than_its_chunk_size_allows_no_larger_chunk(
    harness: Harness, setup: tuple[str, FakeFileserver]
) -> None:
    """A 1-byte file declared with 1 KiB chunks gets a ticket for one chunk of 1 byte, not 1 KiB."""
    user, _ = setup
    file_id = _new_file(harness, user, chunks=1, size=1).json["id"]
    ticket = _put_ticket(harness, user, file_id)
    assert (ticket.max_bytes, ticket.max_chunks, ticket.max_total) == (1, 1, 1)


def test_finalize_revokes_the_put_tickets_for_fileservers(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, fs = setup
    file_id = _new_file(harness, user, chunks=1).json["id"]
    put = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, user).json
    jti = tickets.verify(
        put["tickets"][0]["ticket"], {harness.keys.signing.kid: harness.keys.signing.public_key}, harness.clock()
    ).jti
    assert harness.revoked(fs) == set()
    harness.call(
        "POST",
        f"/api/files/{file_id}/finalize",
        _finalize_body(fs, file_id, [os.urandom(CHUNK)], harness.clock()),
        user,
    )
    assert harness.revoked(fs) == {jti}
    again = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, user)
    assert again.status_code == 409
    assert again.json["error"] == "file_complete"


def test_get_tickets_hold_at_most_32_chunks(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, fs = setup
    file_id = _new_file(harness, user, chunks=70, chunk_size=16, size=16 * 70).json["id"]
    blobs = [os.urandom(16) for _ in range(70)]
    assert (
        harness.call(
            "POST", f"/api/files/{file_id}/finalize", _finalize_body(fs, file_id, blobs, harness.clock()), user
        ).status_code
        == 200
    )
    get = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, user).json
    assert [len(t["chunks"]) for t in get["tickets"]] == [32, 32, 6]
    some = harness.call(
        "POST", f"/api/files/{file_id}/tickets", {"op": "get", "chunks": [hashlib.sha256(blobs[5]).hexdigest()]}, user
    )
    assert some.json["tickets"][0]["chunks"] == [hashlib.sha256(blobs[5]).hexdigest()]
    foreign = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get", "chunks": ["0" * 64]}, user)
    assert foreign.status_code == 400


def test_finalize_refuses_bad_receipts_and_changes_nothing(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, fs = setup
    file_id = _new_file(harness, user, chunks=2).json["id"]
    blobs = [os.urandom(CHUNK) for _ in range(2)]
    now = harness.clock()
    good = _finalize_body(fs, file_id, blobs, now)
    stranger = FakeFileserver(fs.cluster_id, fs.generation, fs.credential)
    other_file = _finalize_body(fs, new_id(), blobs, now)
    cases = {
        "unregistered fileserver": {
            "chunks": [good["chunks"][0], _finalize_body(stranger, file_id, blobs, now)["chunks"][1]]
        },
        "receipt for another file": {"chunks": [good["chunks"][0], other_file["chunks"][1]]},
        "forged signature": {
            "chunks": [
                good["chunks"][0],
                good["chunks"][1]
                | {
                    "receipts": [
                        _receipt(FakeFileserver(fs.cluster_id, 1, fs.credential, id=fs.id), file_id, blobs[1], now)
                    ]
                },
            ]
        },
        "receipt for another chunk": {
            "chunks": [good["chunks"][0], good["chunks"][1] | {"receipts": good["chunks"][0]["receipts"]}]
        },
        "missing chunk": {"chunks": good["chunks"][:1]},
        "duplicate index": {"chunks": [good["chunks"][0], good["chunks"][0]]},
        "sizes do not add up": {"chunks": [good["chunks"][0], good["chunks"][1] | {"size": 10}]},
        "no receipts": {"chunks": [good["chunks"][0], good["chunks"][1] | {"receipts": []}]},
        "garbage receipt": {"chunks": [good["chunks"][0], good["chunks"][1] | {"receipts": ["x.y"]}]},
    }
    for name, body in cases.items():
        answer = harness.call("POST", f"/api/files/{file_id}/finalize", body, user)
        assert answer.status_code == 400, name
        assert set(answer.json) == {"error", "message"}, name
        assert harness.call("GET", f"/api/files/{file_id}", token=user).json["state"] == "pending", name
    assert harness.call("POST", f"/api/files/{file_id}/finalize", good, user).status_code == 200


def test_a_users_files_are_invisible_to_others(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, _ = setup
    file_id = _new_file(harness, user).json["id"]
    other = harness.make_user("bob")
    for method, path, body in (
        ("GET", f"/api/files/{file_id}", None),
        ("POST", f"/api/files/{file_id}/tickets", {"op": "put"}),
        ("POST", f"/api/files/{file_id}/finalize", {"chunks": []}),
    ):
        answer = harness.call(method, path, body, other)
        assert answer.status_code == 404, path
        assert answer.json["error"] == "file_not_found"
    assert harness.call("GET", "/api/files", token=other).json == []
    assert [f["id"] for f in harness.call("GET", "/api/files", token=user).json] == [file_id]


def test_finalize_reports_a_missing_or_complete_file_before_a_bad_body(
    harness: Harness, setup: tuple[str, FakeFileserver]
) -> None:
    user, fs = setup
    missing = harness.call("POST", f"/api/files/{new_id()}/finalize", {"chunks": "bad"}, user)
    assert (missing.status_code, missing.json["error"]) == (404, "file_not_found")
    file_id = _new_file(harness, user, chunks=1).json["id"]
    body = _finalize_body(fs, file_id, [os.urandom(CHUNK)], harness.clock())
    assert harness.call("POST", f"/api/files/{file_id}/finalize", body, user).status_code == 200
    again = harness.call("POST", f"/api/files/{file_id}/finalize", {"chunks": "bad"}, user)
    assert (again.status_code, again.json["error"]) == (409, "file_complete")


def test_finalize_lists_at_most_the_files_chunk_count(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, fs = setup
    file_id = _new_file(harness, user, chunks=2).json["id"]
    blobs = [os.urandom(CHUNK) for _ in range(3)]
    over = _finalize_body(fs, file_id, blobs, harness.clock())
    answer = harness.call("POST", f"/api/files/{file_id}/finalize", over, user)
    assert answer.json == {"error": "invalid_chunks", "message": "'chunks' must list all 2 chunks of the file"}
    at_max = _finalize_body(fs, file_id, blobs[:2], harness.clock())
    assert harness.call("POST", f"/api/files/{file_id}/finalize", at_max, user).status_code == 200


def test_file_records_are_validated(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, _ = setup
    cases: dict[str, tuple[dict[str, Any], int]] = {
        "unknown shard": ({"shard": "nope"}, 404),
        "bad shard name": ({"shard": "../x"}, 400),
        "zero size": ({"size": 0}, 400),
        "layout mismatch": ({"size": CHUNK * 5}, 400),
        "chunk too large": ({"chunk_size": 1 << 30}, 400),
        "bool as int": ({"chunk_count": True}, 400),
        "metadata not base64": ({"metadata": "a+b/"}, 400),
        "metadata too large": ({"metadata": b64encode(b"x" * 70000)}, 400),
        "retention beyond maximum": ({"expires_in": 31 * 86400}, 400),
        "negative retention": ({"expires_in": -1}, 400),
    }
    for name, (override, status) in cases.items():
        answer = _new_file(harness, user, **override)
        assert answer.status_code == status, name
    assert harness.call("GET", "/api/files", token=user).json == []
    assert harness.call("GET", "/api/files/not-an-id", token=user).status_code == 400


def test_a_lifetime_past_the_retention_is_refused_quoting_the_limit_not_the_input(
    harness: Harness, setup: tuple[str, FakeFileserver]
) -> None:
    user, _ = setup
    answer = _new_file(harness, user, expires_in=harness.settings.max_retention * 3 + 0.123)
    assert (answer.status_code, answer.json["error"]) == (400, "retention_exceeded")
    assert f"{harness.settings.max_retention * 3:.0f}" not in answer.json["message"]
    assert f"{harness.settings.max_retention:.0f}" in answer.json["message"]
    huge = _new_file(harness, user, expires_in=1e300)
    assert (huge.status_code, huge.json["error"]) == (400, "invalid_expires_in")
    assert len(huge.json["message"]) < 100


def test_a_file_cannot_be_created_already_expired(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, _ = setup
    answer = _new_file(harness, user, expires_in=1e-300)
    assert (answer.status_code, answer.json["error"]) == (400, "invalid_expires_in")
    assert harness.call("GET", "/api/files", token=user).json == []


def test_expiry_defaults_to_the_maximum_retention(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, _ = setup
    record = _new_file(harness, user).json
    assert record["expires_at"] == pytest.approx(harness.clock() + harness.settings.max_retention)
    shorter = _new_file(harness, user, expires_in=3600).json
    assert shorter["expires_at"] == pytest.approx(harness.clock() + 3600)


def test_get_tickets_need_a_complete_file(harness: Harness, setup: tuple[str, FakeFileserver]) -> None:
    user, _ = setup
    file_id = _new_file(harness, user).json["id"]
    answer = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, user)
    assert answer.status_code == 409
    assert answer.json["error"] == "file_incomplete"
    assert harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "delete"}, user).status_code == 400


def test_finalize_refuses_receipts_from_a_cluster_that_only_reads_the_shard(
    harness: Harness, admin: str, setup: tuple[str, FakeFileserver]
) -> None:
    """SECURITY: a read-only cluster's fileservers never get put tickets, so their receipts prove no upload."""
    user, fs = setup
    branch = {"name": "branch", "shards": [{"name": "default", "read": True}]}
    two_sites = LOCAL_TOPOLOGY | {"clusters": [*LOCAL_TOPOLOGY["clusters"], branch]}  # type: ignore[misc]
    assert harness.apply(admin, two_sites).status_code == 200
    reader = harness.fileserver(admin, "branch")
    assert harness.register(reader, shards=[ShardAnnouncement("default", True, False)]).status_code == 200
    file_id = _new_file(harness, user, chunks=1).json["id"]
    blob = os.urandom(CHUNK)
    answer = harness.call("POST", f"/api/files/{file_id}/finalize", _finalize_body(reader, file_id, [blob], 0), user)
    assert answer.status_code == 400, answer.json
    assert "write" in answer.json["message"]
    assert harness.call("GET", f"/api/files/{file_id}", token=user).json["state"] == "pending"
    assert (
        harness.call("POST", f"/api/files/{file_id}/finalize", _finalize_body(fs, file_id, [blob], 0), user).json[
            "state"
        ]
        == "complete"
    )


def test_a_create_asked_for_tickets_answers_with_the_put_ticket_and_the_live_writers(
    harness: Harness, setup: tuple[str, FakeFileserver]
) -> None:
    user, fs = setup
    body = {"shard": "default", "size": CHUNK * 3, "chunk_count": 3, "chunk_size": CHUNK, "metadata": "bWV0YQ"}
    created = harness.call("POST", "/api/files", body, user, params={"tickets": "true"})
    assert created.status_code == 201, created.json
    assert created.json["state"] == "pending" and [f["id"] for f in created.json["fileservers"]] == [fs.id]
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    ticket = tickets.verify(created.json["tickets"][0]["ticket"], keys, harness.clock())
    assert (ticket.op, ticket.file, ticket.max_chunks, ticket.max_total) == ("put", created.json["id"], 3, CHUNK * 3)
    assert "tickets" not in _new_file(harness, user).json, "no tickets unless asked for"


def test_a_record_asked_for_tickets_carries_get_tickets_once_the_file_is_complete(
    harness: Harness, setup: tuple[str, FakeFileserver]
) -> None:
    user, fs = setup
    file_id = _new_file(harness, user).json["id"]
    pending = harness.call("GET", f"/api/files/{file_id}", token=user, params={"tickets": "true"})
    assert pending.status_code == 200 and "tickets" not in pending.json
    blobs = [os.urandom(CHUNK) for _ in range(3)]
    harness.call("POST", f"/api/files/{file_id}/finalize", _finalize_body(fs, file_id, blobs, harness.clock()), user)
    record = harness.call("GET", f"/api/files/{file_id}", token=user, params={"tickets": "true"}).json
    assert record["tickets"][0]["chunks"] == [c["hash"] for c in record["chunks"]]
    assert [f["id"] for f in record["fileservers"]] == [fs.id]
    assert "tickets" not in harness.call("GET", f"/api/files/{file_id}", token=user).json
    others = harness.call("GET", f"/api/files/{file_id}", token=harness.make_user("bob"), params={"tickets": "true"})
    assert others.status_code == 404 and "tickets" not in (others.json or {})
