"""Chunk transfers made by hand over raw HTTP, for the tests and benchmarks of the data path alone."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx

from coffer.client.api import ServerClient
from coffer.protocol import routes
from coffer.protocol.encoding import b64encode


def new_file(api: ServerClient, chunks: list[bytes], shard: str = "default") -> dict[str, Any]:
    chunk_size = max(len(c) for c in chunks)
    body = {
        "shard": shard,
        "size": sum(len(c) for c in chunks),
        "chunk_count": len(chunks),
        "chunk_size": chunk_size,
        "metadata": b64encode(os.urandom(64)),
    }
    result: dict[str, Any] = api.request("POST", routes.FILES, body)
    return result


def put_ticket(api: ServerClient, file_id: str) -> tuple[str, list[dict[str, Any]]]:
    answer = api.request("POST", routes.file_tickets(file_id), {"op": "put"})
    return answer["tickets"][0]["ticket"], answer["fileservers"]


def chunk_url(base: str, shard: str, file_id: str, data: bytes) -> str:
    return base + routes.chunk(shard, file_id, hashlib.sha256(data).hexdigest())


def put_chunk(base: str, file_id: str, data: bytes, ticket: str, shard: str = "default") -> httpx.Response:
    return httpx.put(
        chunk_url(base, shard, file_id, data), content=data, headers={"Authorization": f"Ticket {ticket}"}, timeout=30
    )


def finalize(api: ServerClient, file_id: str, chunks: list[bytes], receipts: list[list[str]]) -> dict[str, Any]:
    body = {
        "chunks": [
            {"index": i, "hash": hashlib.sha256(c).hexdigest(), "size": len(c), "receipts": r}
            for i, (c, r) in enumerate(zip(chunks, receipts, strict=True))
        ]
    }
    result: dict[str, Any] = api.request("POST", routes.file_finalize(file_id), body)
    return result


def get_tickets(api: ServerClient, file_id: str) -> dict[str, str]:
    """Return chunk hash → get ticket for every chunk of a complete file."""
    answer = api.request("POST", routes.file_tickets(file_id), {"op": "get"})
    return {h: t["ticket"] for t in answer["tickets"] for h in t["chunks"]}
