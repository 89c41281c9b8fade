"""A shard's copy count: declared, listed, exported with tickets, and held to at finalize."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from coffer.protocol import receipts

from .conftest import FakeFileserver, Harness

CHUNK = 1024
TWO_COPIES = {
    "shards": [{"name": "default", "copies": 2}, {"name": "archive"}],
    "clusters": [
        {
            "name": "local",
            "shards": [{"name": "default", "read": True, "write": True}, {"name": "archive", "read": True}],
        }
    ],
}


def listed(harness: Harness, admin: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in harness.call("GET", "/api/admin/shards", token=admin).json}


def test_a_shards_copies_are_stored_listed_and_default_to_one(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    assert harness.apply(admin, TWO_COPIES).status_code == 200
    shards = listed(harness, admin)
    assert (shards["default"]["copies"], shards["archive"]["copies"]) == (2, 1)
    assert (shards["default"]["below_copies"], shards["default"]["unrepairable"]) == (0, 0)
    user = harness.make_user("alice")
    summary = {s["name"]: s["copies"] for s in harness.call("GET", "/api/shards", token=user).json}
    assert summary == {"default": 2, "archive": 1}


def test_changing_copies_is_an_update_and_applying_again_changes_nothing(harness: Harness, admin: str) -> None:
    changed = harness.apply(admin, TWO_COPIES).json["changes"]
    assert [(c["action"], c["kind"], c["name"], c["copies"]) for c in changed] == [("update", "shard", "default", 2)]
    assert harness.apply(admin, TWO_COPIES).json["changes"] == []


def test_copies_outside_1_to_8_are_refused_and_change_nothing(harness: Harness, admin: str) -> None:
    for copies in (0, 9, "2", True, 2.0, None):
        answer = harness.apply(admin, {"shards": [{"name": "default", "copies": copies}], "clusters": []})
        assert (answer.status_code, answer.json["error"]) == (400, "invalid_config"), copies
        assert "from 1 to 8" in answer.json["message"]
    assert listed(harness, admin)["default"]["copies"] == 1


@pytest.fixture
def two_copies(harness: Harness) -> tuple[str, str, list[FakeFileserver]]:
    """The default shard at two copies, three live fileservers, and a user's session."""
    admin = harness.make_user("root", "admin")
    assert harness.apply(admin, TWO_COPIES).status_code == 200
    servers = []
    for port in (8101, 8102, 8103):
        fs = harness.fileserver(admin)
        fs.url = f"http://127.0.0.1:{port}"
        assert harness.register(fs).status_code == 200
        servers.append(fs)
    return admin, harness.make_user("alice"), servers


def new_file(harness: Harness, user: str, chunks: int) -> str:
    body = {"shard": "default", "size": CHUNK * chunks, "chunk_count": chunks, "chunk_size": CHUNK, "metadata": "AA"}
    answer = harness.call("POST", "/api/files", body, user)
    assert answer.status_code == 201, answer.json
    return str(answer.json["id"])


def receipt(fs: FakeFileserver, file_id: str, blob: bytes, now: float) -> str:
    chunk = hashlib.sha256(blob).hexdigest()
    return receipts.sign(fs.key, receipts.Receipt(fs.id, "default", file_id, chunk, len(blob), int(now)))


def finalize(harness: Harness, user: str, file_id: str, blobs: list[bytes], holders: list[list[FakeFileserver]]) -> Any:
    now = harness.clock()
    body = {
        "chunks": [
            {
                "index": i,
                "hash": hashlib.sha256(b).hexdigest(),
                "size": len(b),
                "receipts": [receipt(fs, file_id, b, now) for fs in on],
            }
            for i, (b, on) in enumerate(zip(blobs, holders, strict=True))
        ]
    }
    return harness.call("POST", f"/api/files/{file_id}/finalize", body, user)


def test_the_ticket_answer_tells_the_client_the_shards_copies(
    harness: Harness, two_copies: tuple[str, str, list[FakeFileserver]]
) -> None:
    _, user, _ = two_copies
    file_id = new_file(harness, user, 1)
    assert harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, user).json["copies"] == 2


def test_a_finalize_with_fewer_receipts_than_the_shards_copies_is_refused_and_changes_nothing(
    harness: Harness, two_copies: tuple[str, str, list[FakeFileserver]]
) -> None:
    _, user, (a, b, _) = two_copies
    file_id = new_file(harness, user, 2)
    blobs = [os.urandom(CHUNK), os.urandom(CHUNK)]
    for holders in ([[a, b], [a]], [[a, b], [a, a]]):  # one copy short; the same fileserver twice counts once
        refused = finalize(harness, user, file_id, blobs, holders)
        assert (refused.status_code, refused.json["error"]) == (400, "too_few_copies")
        assert "chunk 1 has receipts from 1 fileserver(s)" in refused.json["message"]
        assert harness.call("GET", f"/api/files/{file_id}", token=user).json["state"] == "pending"
    done = finalize(harness, user, file_id, blobs, [[a, b], [b, a]])
    assert done.status_code == 200, done.json
    assert [sorted(c["fileservers"]) for c in done.json["chunks"]] == [sorted([a.id, b.id])] * 2
