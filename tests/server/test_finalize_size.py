"""The finalize of a large file fits the server's JSON body limit: every chunk, every copy's receipt, the metadata."""

from __future__ import annotations

import json
import os
from typing import Any

from coffer.format.sizes import DEFAULT_CHUNK_SIZE, chunk_count, ciphertext_size, file_ciphertext_size
from coffer.protocol import receipts
from coffer.protocol.api.files import CreateFile, Finalize, FinalizedChunk
from coffer.protocol.encoding import b64encode
from coffer.protocol.wire import MAX_JSON_BODY, MAX_METADATA_BYTES

from .conftest import FakeFileserver, Harness

GIB = 1 << 30
COPIES = 2


def _finalize_body(file_id: str, servers: list[FakeFileserver], count: int, chunk_size: int, now: float) -> bytes:
    """Build the body as the client does: one entry per chunk, a receipt from each fileserver holding a copy."""
    chunks = []
    for index in range(count):
        chunk = os.urandom(32).hex()
        signed = tuple(
            receipts.sign(fs.key, receipts.Receipt(fs.id, "default", file_id, chunk, chunk_size, int(now)))
            for fs in servers
        )
        chunks.append(FinalizedChunk(index, chunk, chunk_size, signed))
    # The largest sealed metadata a record may carry, so no real file's body is bigger.
    body = Finalize(chunks=tuple(chunks), metadata=b64encode(os.urandom(MAX_METADATA_BYTES))).to_json()
    return json.dumps(body).encode()


def test_a_1_gib_file_with_two_copies_of_each_chunk_finalizes_in_under_half_the_body_limit(
    harness: Harness, admin: str
) -> None:
    servers = [harness.fileserver(admin) for _ in range(COPIES)]
    for fs in servers:
        assert harness.register(fs).status_code == 200
    alice = harness.make_user("alice")
    count, chunk_size = chunk_count(GIB, DEFAULT_CHUNK_SIZE), ciphertext_size(DEFAULT_CHUNK_SIZE)
    layout = CreateFile(
        shard="default",
        size=file_ciphertext_size(GIB, count),
        chunk_size=chunk_size,
        chunk_count=count,
        metadata=b64encode(b"pending"),
    )
    file_id = harness.call("POST", "/api/files", layout.to_json(), alice).json["id"]
    body = _finalize_body(file_id, servers, count, chunk_size, harness.clock())
    assert count == 128
    assert len(body) < MAX_JSON_BODY / 2, f"{len(body)} bytes of {MAX_JSON_BODY}"
    answer = harness.client.simulate_post(
        f"/api/files/{file_id}/finalize",
        body=body,
        headers={"Authorization": f"Bearer {alice}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.json
    record: dict[str, Any] = answer.json
    assert record["state"] == "complete" and len(record["chunks"]) == count
    assert all(sorted(c["fileservers"]) == sorted(fs.id for fs in servers) for c in record["chunks"])
