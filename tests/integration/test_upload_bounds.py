"""A pending upload stores no more than it declared, on real fileservers under gunicorn.

The attack this pins: a user with a 1 MB quota created one pending file declared
as 1 byte and then, with its put ticket, stored hundreds of megabytes of chunks
on every fileserver of the shard while ``/api/me/quota`` still said 1 byte.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from coffer.client.api import ServerClient
from coffer.devnet.raw_chunks import put_chunk, put_ticket
from coffer.protocol import routes
from coffer.protocol.api.quotas import SetQuota
from coffer.protocol.encoding import b64encode

from .network import Network, chunk_files

PASSWORD = "mallory-has-a-password"
QUOTA = 1_000_000
CHUNK = 300_000
"""Large enough that bodies are still arriving while other puts pass their check."""


def _pending_file(api: ServerClient, size: int, chunk_count: int, chunk_size: int) -> str:
    body = {
        "shard": "default",
        "size": size,
        "chunk_count": chunk_count,
        "chunk_size": chunk_size,
        "metadata": b64encode(os.urandom(64)),
    }
    record: dict[str, Any] = api.request("POST", routes.FILES, body)
    return str(record["id"])


def _stored(network: Network, file_id: str) -> dict[str, list[Path]]:
    """Return, per fileserver, the chunk files it keeps for *file_id* on its disk."""
    return {fs.name: chunk_files(fs, file_id) for fs in network.fileservers}


def _mallory(network: Network) -> ServerClient:
    assert network.admin is not None
    if not any(u.name == "mallory" for u in network.admin.admin_users()):
        network.create_user("mallory", PASSWORD)
        network.admin.set_user_quota("mallory", SetQuota({"bytes": QUOTA}))
    api = ServerClient(network.url)
    api.login("mallory", PASSWORD)
    return api


def test_a_one_byte_pending_file_cannot_fill_the_fileservers_and_the_quota_shows_what_is_reserved(
    network: Network,
) -> None:
    with _mallory(network) as api:
        before = api.my_quota().bytes.used
        file_id = _pending_file(api, size=1, chunk_count=1, chunk_size=8 << 20)
        ticket, servers = put_ticket(api, file_id)
        assert len(servers) == 2
        for fs in servers:
            big = [put_chunk(fs["url"], file_id, os.urandom(1 << 20), ticket) for _ in range(4)]
            assert [(r.status_code, r.json()["error"]) for r in big] == [(413, "chunk_too_large")] * 4
            assert put_chunk(fs["url"], file_id, b"x", ticket).status_code == 201
            more = [put_chunk(fs["url"], file_id, bytes([i]), ticket) for i in range(4)]
            assert [(r.status_code, r.json()["error"]) for r in more] == [(413, "upload_exceeds_declared")] * 4
        assert {name: len(paths) for name, paths in _stored(network, file_id).items()} == {"fs1": 1, "fs2": 1}
        assert api.my_quota().bytes.used == before + 1


def test_chunks_raced_in_parallel_through_every_worker_never_pass_the_declared_total(network: Network) -> None:
    """Many puts at once land in both gunicorn workers and pass their check together; what stays is within bounds."""
    with _mallory(network) as api:
        before = api.my_quota().bytes.used
        file_id = _pending_file(api, size=3 * CHUNK, chunk_count=3, chunk_size=CHUNK)
        ticket, servers = put_ticket(api, file_id)
        url = servers[0]["url"]

        def put(_: int) -> httpx.Response:
            return put_chunk(url, file_id, os.urandom(CHUNK), ticket)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(put, range(32)))
        kept = {r.json()["chunk"] for r in answers if r.status_code == 201}
        assert {r.status_code for r in answers} == {201, 413} or {r.status_code for r in answers} == {413}
        assert len(kept) <= 3, "racing chunks may all be withdrawn, but never is one kept past the bound"
        on_disk = [p for paths in _stored(network, file_id).values() for p in paths]
        assert {p.name for p in on_disk} == kept
        assert sum(p.stat().st_size for p in on_disk) <= 3 * CHUNK
        assert api.my_quota().bytes.used == before + 3 * CHUNK
