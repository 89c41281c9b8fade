"""Plain helpers shared by the fileserver tests (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from coffer.devnet.emulators.process import Store as Store
from coffer.protocol import tickets
from coffer.protocol.ids import chunk_name, new_id
from coffer.protocol.signing import SigningKey

NOW = 1_800_000_000
FILE = "0f11e000-0000-4000-8000-000000000001"
"""The file the backend tests store their chunks under, unless a test names another."""
OTHER_FILE = "0f11e000-0000-4000-8000-000000000002"


def chunk_of(size: int, seed: int = 0) -> tuple[bytes, str]:
    """Return a chunk of *size* pseudo-random bytes and its hash."""
    data = (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]
    return data, hashlib.sha256(data).hexdigest()


def stored_chunk(size: int, seed: int = 0, file: str = FILE) -> tuple[bytes, str]:
    """Return a chunk of *size* pseudo-random bytes and its storage name ``<file>/<hash>``."""
    data, chunk_hash = chunk_of(size, seed)
    return data, chunk_name(file, chunk_hash)


class TicketMaker:
    """Issue tickets signed by the test server key (or another), with sensible defaults."""

    def __init__(self, key: SigningKey):
        self.key = key
        self.file = new_id()

    def put(self, *, max_bytes: int = 64 << 20, max_chunks: int = 1 << 24, max_total: int = 1 << 40, **kw: Any) -> str:
        """Return a put ticket; unless a test narrows them, its bounds are far above anything it stores."""
        return self.issue("put", max_bytes=max_bytes, max_chunks=max_chunks, max_total=max_total, **kw)

    def get(self, *chunks: str, **kw: Any) -> str:
        return self.issue("get", chunks=chunks, **kw)

    def issue(self, op: tickets.Op, *, key: SigningKey | None = None, **kw: Any) -> str:
        fields: dict[str, Any] = {
            "file": self.file,
            "shard": "default",
            "sub": new_id(),
            "iat": NOW - 10,
            "exp": NOW + 300,
            "jti": new_id(),
        } | kw
        return tickets.issue(key or self.key, tickets.Ticket(op=op, **fields))


def auth(ticket: str) -> dict[str, str]:
    return {"Authorization": f"Ticket {ticket}"}


def stored_files(root: Path) -> list[str]:
    """Every file under *root*, relative: to show that a refused upload left nothing behind."""
    skip = {"identity.json", "revoked.json"}
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name not in skip)


def fileserver_app(tmp_path: Path) -> Any:
    """Return a fileserver WSGI app with throwaway keys and a data dir under *tmp_path* (e.g. to list its routes)."""
    from coffer.fileserver.data.app import create_app
    from coffer.fileserver.settings import settings_from_table

    table = {
        "server": {"url": "http://127.0.0.1:8000", "public_key": SigningKey.generate().public_text},
        "cluster": {"id": new_id(), "name": "local", "generation": 1, "credential": SigningKey.generate().to_text()},
        "shards": [{"name": "default", "read": True, "write": True, "backend": "local"}],
        "fileserver": {"data_dir": str(tmp_path / "fileserver")},
    }
    return create_app(settings_from_table(table, source="test", environ={}))
