"""An in-process stand-in for a Coffer server and its fileservers, behind one httpx.MockTransport.

It speaks just enough of the API for the transfer engine's logic tests: file records,
put/get tickets, finalize with receipts really signed by each fake fileserver, and
chunk PUT/GET/HEAD checked against the hash in the URL. Faults are injected per
fileserver with :attr:`FakeNet.faults`: a function of the request that returns a
response (or raises an httpx error) instead of the normal answer, or None to pass.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from protocol import receipts
from protocol.signing import SigningKey

SERVER = "http://server.test"
USER_ID = "5d1f7a55-2f5e-4b7a-8e2e-6f7b1c9d0a11"
Fault = Callable[[httpx.Request], httpx.Response | None]


@dataclass
class FakeFileserver:
    id: str
    url: str
    key: SigningKey
    chunks: dict[str, bytes] = field(default_factory=dict)
    puts: int = 0
    gets: int = 0
    heads: int = 0


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


def _error(status: int, code: str, message: str = "fake") -> httpx.Response:
    return _json(status, {"error": code, "message": message})


class FakeNet:
    def __init__(self, fileservers: int = 2):
        self.fileservers = {}
        for n in range(fileservers):
            fs = FakeFileserver(str(uuid.uuid4()), f"http://fs{n}.test", SigningKey.generate())
            self.fileservers[fs.id] = fs
        self.live = list(self.fileservers)
        self.files: dict[str, dict[str, Any]] = {}
        self.chunk_rows: dict[str, list[dict[str, Any]]] = {}
        self.valid_tickets: set[str] = set()
        self.ticket_requests = 0
        self.deleted: list[str] = []
        self.faults: dict[str, Fault] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.put_delay = 0.0
        self.get_delay = 0.0
        self._lock = threading.Lock()

    def by_url(self, n: int) -> FakeFileserver:
        return next(fs for fs in self.fileservers.values() if fs.url == f"http://fs{n}.test")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "id": i,
                "url": self.fileservers[i].url,
                "active_transfers": 0,
                "bytes_per_s": 0,
                "free_bytes": None,
                "last_seen": 0,
            }
            for i in self.live
        ]

    def expire_tickets(self) -> None:
        self.valid_tickets.clear()

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.host}"
        if origin == SERVER:
            return self._server(request)
        fs = next(f for f in self.fileservers.values() if f.url == origin)
        fault = self.faults.get(fs.id)
        if fault is not None:
            answer = fault(request)
            if answer is not None:
                return answer
        return self._fileserver(fs, request)

    # -- the server ----------------------------------------------------------------------------

    def _server(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        parts = path.strip("/").split("/")
        body: dict[str, Any] = json.loads(request.content) if request.content else {}
        method = request.method
        if path == "/api/me":
            return _json(200, {"id": USER_ID, "name": "alice", "role": "user"})
        if path == "/api/files" and method == "POST":
            return self._create(body)
        if path == "/api/files" and method == "GET":
            return _json(200, [self._record(i) for i in self.files])
        if parts[:2] == ["api", "shards"]:
            return _json(200, self.listing())
        file_id = parts[2]
        if file_id not in self.files:
            return _error(404, "file_not_found")
        if len(parts) == 3 and method == "GET":
            return _json(200, self._record(file_id))
        if len(parts) == 3 and method == "DELETE":
            del self.files[file_id]
            self.deleted.append(file_id)
            return httpx.Response(204)
        if parts[3] == "tickets":
            return self._tickets(file_id, body)
        if parts[3] == "finalize":
            return self._finalize(file_id, body)
        return _error(404, "no_route")

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        record = {
            "id": str(uuid.uuid4()),
            "owner": "alice",
            "shard": body["shard"],
            "size": body["size"],
            "chunk_count": body["chunk_count"],
            "chunk_size": body["chunk_size"],
            "metadata": body["metadata"],
            "sealed_key": body.get("sealed_key", ""),
            "state": "pending",
            "created_at": time.time(),
            "expires_at": time.time() + body.get("expires_in", 86400),
            "completed_at": None,
        }
        self.files[record["id"]] = record
        return _json(201, record)

    def _record(self, file_id: str) -> dict[str, Any]:
        record = dict(self.files[file_id])
        if record["state"] == "complete":
            record["chunks"] = [dict(c) for c in self.chunk_rows[file_id]]
        return record

    def _tickets(self, file_id: str, body: dict[str, Any]) -> httpx.Response:
        self.ticket_requests += 1
        ticket = f"ticket-{body['op']}-{self.ticket_requests}"
        self.valid_tickets.add(ticket)
        if body["op"] == "put":
            if self.files[file_id]["state"] != "pending":
                return _error(409, "file_complete")
            tickets = [{"ticket": ticket, "chunks": [], "expires_at": 0}]
        else:
            hashes = [c["hash"] for c in self.chunk_rows[file_id]]
            tickets = [
                {"ticket": ticket, "chunks": hashes[i : i + 32], "expires_at": 0} for i in range(0, len(hashes), 32)
            ]
        return _json(200, {"tickets": tickets, "fileservers": self.listing()})

    def _finalize(self, file_id: str, body: dict[str, Any]) -> httpx.Response:
        record = self.files[file_id]
        if record["state"] != "pending":
            return _error(409, "file_complete")
        rows = []
        assert [c["index"] for c in body["chunks"]] == list(range(record["chunk_count"]))
        assert sum(c["size"] for c in body["chunks"]) == record["size"]
        for chunk in body["chunks"]:
            holders = []
            for token in chunk["receipts"]:
                fs = self.fileservers[receipts.fileserver_of(token)]
                receipt = receipts.verify(token, fs.key.public_key)
                assert (receipt.file, receipt.chunk, receipt.size) == (file_id, chunk["hash"], chunk["size"])
                holders.append(fs.id)
            rows.append({"index": chunk["index"], "hash": chunk["hash"], "size": chunk["size"], "fileservers": holders})
        self.chunk_rows[file_id] = rows
        record["state"] = "complete"
        record["completed_at"] = time.time()
        if "metadata" in body:
            record["metadata"] = body["metadata"]
        return _json(200, self._record(file_id))

    # -- fileservers ---------------------------------------------------------------------------

    def _fileserver(self, fs: FakeFileserver, request: httpx.Request) -> httpx.Response:
        _, _, shard, file_id, chunk_hash = request.url.path.strip("/").split("/")
        ticket = request.headers.get("Authorization", "").removeprefix("Ticket ")
        if ticket not in self.valid_tickets:
            return _error(401, "ticket_expired")
        if request.method == "PUT":
            return self._put(fs, request, shard, file_id, chunk_hash)
        if request.method == "HEAD":
            fs.heads += 1
            blob = fs.chunks.get(chunk_hash)
            return (
                httpx.Response(404) if blob is None else httpx.Response(200, headers={"Content-Length": str(len(blob))})
            )
        fs.gets += 1
        if self.get_delay:
            time.sleep(self.get_delay)
        blob = fs.chunks.get(chunk_hash)
        if blob is None:
            return _error(404, "chunk_not_found")
        return httpx.Response(200, content=blob)

    def _put(
        self, fs: FakeFileserver, request: httpx.Request, shard: str, file_id: str, chunk_hash: str
    ) -> httpx.Response:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.put_delay:
                time.sleep(self.put_delay)
            body = request.content
            if hashlib.sha256(body).hexdigest() != chunk_hash:
                return _error(422, "hash_mismatch")
            fs.puts += 1
            created = chunk_hash not in fs.chunks
            fs.chunks[chunk_hash] = body
            receipt = receipts.sign(fs.key, receipts.Receipt(fs.id, shard, file_id, chunk_hash, len(body), 0))
            return _json(
                201 if created else 200,
                {"chunk": chunk_hash, "size": len(body), "receipt": receipt, "created": created},
            )
        finally:
            with self._lock:
                self.in_flight -= 1


def refuse_connections(request: httpx.Request) -> httpx.Response | None:
    raise httpx.ConnectError("connection refused", request=request)


def answer(status: int, code: str) -> Fault:
    return lambda request: _error(status, code)
