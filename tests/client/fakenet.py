"""An in-process stand-in for a Coffer server and its fileservers, behind one httpx.MockTransport.

It speaks just enough of the API for the client's logic tests: file records,
put/get tickets, finalize with receipts really signed by each fake fileserver, and
chunk PUT/GET/HEAD checked against the hash in the URL; users by bearer token with
their public keys, shares (a recipient sees the shared form of a record and may only
read), and share links with their counting, limits and revocation, as docs/api.md
describes them. Revoking a share or a link revokes the tickets it was given (a
ticket's holder is a user id or a link id). Faults are injected per fileserver with
:attr:`FakeNet.faults`: a function of the request that returns a response (or raises
an httpx error) instead of the normal answer, or None to pass.
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

from coffer.format.keys import UserKeys
from coffer.protocol import receipts
from coffer.protocol.encoding import b64encode
from coffer.protocol.signing import SigningKey

SERVER = "http://server.test"
USER_ID = "5d1f7a55-2f5e-4b7a-8e2e-6f7b1c9d0a11"
Fault = Callable[[httpx.Request], httpx.Response | None]
LINK_WINDOW = 6 * 3600.0
LINK_GONE = {"revoked": "link_revoked", "expired": "link_expired", "exhausted": "link_exhausted"}


@dataclass
class FakeUser:
    id: str
    name: str
    token: str
    public_key: str = ""
    """base64url; '' for a user who never logged in (no keys yet)."""


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
        self.users: dict[str, FakeUser] = {"alice": FakeUser(USER_ID, "alice", "token")}
        self.files: dict[str, dict[str, Any]] = {}
        self.chunk_rows: dict[str, list[dict[str, Any]]] = {}
        self.shares: dict[tuple[str, str], dict[str, Any]] = {}
        """(file id, user id) → {"share_key", "created_at"}."""
        self.links: dict[str, dict[str, Any]] = {}
        self.link_downloads: dict[str, dict[str, Any]] = {}
        self.link_renewals: list[list[str] | None] = []
        """The chunks each link ticket renewal named (None: all)."""
        self.valid_tickets: dict[str, str] = {}
        """Ticket → its holder (a user id, or a link id)."""
        self.seen: list[tuple[str, str, bool]] = []
        """Every server request: (method, path, whether it carried a bearer token)."""
        self.ticket_requests = 0
        self.deleted: list[str] = []
        self.past_deadline: set[str] = set()
        """Pending files whose upload deadline has passed: put tickets for them answer 410 upload_expired."""
        self.faults: dict[str, Fault] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.copies = 1
        """The shard's copy count, as the ticket answers tell it."""
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

    def expire_tickets_at_first_chunk_request(self) -> None:
        """Let every ticket handed out so far expire when a fileserver sees its first chunk request."""
        first: list[int] = []

        def expire_once(request: httpx.Request) -> httpx.Response | None:
            if not first:
                first.append(1)
                self.expire_tickets()
            return None

        for fs in self.fileservers.values():
            self.faults[fs.id] = expire_once

    def user(self, name: str, keys: UserKeys | None = None, *, token: str | None = None) -> FakeUser:
        """Return user *name*, made if new; set their public key from *keys* if given."""
        if name not in self.users:
            self.users[name] = FakeUser(str(uuid.uuid4()), name, token or f"token-{name}")
        user = self.users[name]
        if keys is not None:
            user.public_key = b64encode(keys.public)
        return user

    def _by_id(self, user_id: str) -> FakeUser:
        return next(u for u in self.users.values() if u.id == user_id)

    def _revoke(self, holder: str) -> None:
        for ticket in [t for t, h in self.valid_tickets.items() if h == holder]:
            del self.valid_tickets[ticket]

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        port = f":{request.url.port}" if request.url.port else ""
        origin = f"{request.url.scheme}://{request.url.host}{port}"
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
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append((method, path, bool(token)))
        if parts[:2] == ["api", "links"] and len(parts) >= 3 and (method == "GET" or len(parts) == 4):
            return self._public_link(method, parts[2], parts[3] if len(parts) == 4 else "", body)
        me = next((u for u in self.users.values() if u.token == token), None)
        if me is None:
            return _error(401, "unauthorized")
        if path == "/api/me":
            keys = {"public_key": me.public_key, "wrapped_private_key": None}
            return _json(200, {"id": me.id, "name": me.name, "role": "user", "created_at": 0.0} | keys)
        if parts[:2] == ["api", "users"] and len(parts) == 4 and parts[3] == "public-key":
            return self._public_key(parts[2])
        if parts[:2] == ["api", "links"]:
            return self._links(me, method, parts[2] if len(parts) > 2 else "", request)
        if path == "/api/files" and method == "POST":
            created = self._create(me, body)
            if request.url.params.get("tickets") != "true":
                return created
            tickets = self._tickets(created.json()["id"], {"op": "put"}, me.id)
            return _json(201, created.json() | tickets.json())
        if path == "/api/files" and method == "GET":
            if request.url.params.get("shared") == "true":
                return _json(200, self._shared_with(me))
            return _json(200, [self._record(i, me) for i, f in self.files.items() if f["owner_id"] == me.id])
        if parts[:2] == ["api", "shards"]:
            return _json(200, self.listing())
        return self._file(me, method, parts, body)

    def _file(self, me: FakeUser, method: str, parts: list[str], body: dict[str, Any]) -> httpx.Response:
        file_id = parts[2]
        access = self._access(file_id, me)
        if access is None:
            return _error(404, "file_not_found")
        if len(parts) == 3 and method == "GET":
            return _json(200, self._record(file_id, me))
        reading = parts[3:4] == ["tickets"] and body.get("op") == "get"
        leaving = parts[3:4] == ["shares"] and parts[4:] == [me.name] and method == "DELETE"
        if access != "owner" and not (reading or leaving):
            return _error(403, "not_owner", "only the file's owner may do this")
        if len(parts) == 3 and method == "DELETE":
            del self.files[file_id]
            self.deleted.append(file_id)
            return httpx.Response(204)
        if parts[3] == "tickets":
            return self._tickets(file_id, body, me.id)
        if parts[3] == "finalize":
            return self._finalize(file_id, body)
        if parts[3] == "shares":
            return self._shares(file_id, method, parts[4] if len(parts) == 5 else "", body)
        if parts[3] == "links" and method == "POST":
            return self._new_link(file_id, me, body)
        return _error(404, "no_route")

    def _access(self, file_id: str, me: FakeUser) -> str | None:
        record = self.files.get(file_id)
        if record is None:
            return None
        if record["owner_id"] == me.id:
            return "owner"
        return "shared" if (file_id, me.id) in self.shares and record["state"] == "complete" else None

    def _create(self, me: FakeUser, body: dict[str, Any]) -> httpx.Response:
        record = {
            "id": str(uuid.uuid4()),
            "owner_id": me.id,
            "shard": body["shard"],
            "size": body["size"],
            "chunk_count": body["chunk_count"],
            "chunk_size": body["chunk_size"],
            "metadata": body["metadata"],
            "sealed_key": body.get("sealed_key", ""),
            "key_commitment": body.get("key_commitment", ""),
            "state": "pending",
            "created_at": time.time(),
            "expires_at": time.time() + body.get("expires_in", 86400),
            "completed_at": None,
        }
        if "format" in body:
            record["format"] = body["format"]
        self.files[record["id"]] = record
        return _json(201, self._record(record["id"], me))

    def _record(self, file_id: str, viewer: FakeUser, *, chunks: bool = True) -> dict[str, Any]:
        record = dict(self.files[file_id])
        owner = self._by_id(record.pop("owner_id"))
        record["owner"] = owner.name
        record["access"] = "owner"
        if owner.id != viewer.id:
            share = self.shares[(file_id, viewer.id)]
            record |= {
                "access": "shared",
                "sealed_key": "",
                "share_key": share["share_key"],
                "owner_public_key": owner.public_key,
            }
        if record["state"] == "complete" and chunks:
            record["chunks"] = [dict(c) for c in self.chunk_rows[file_id]]
        return record

    def _shared_with(self, me: FakeUser) -> list[dict[str, Any]]:
        return [
            self._record(file_id, me, chunks=False)
            for (file_id, user_id) in self.shares
            if user_id == me.id and self.files[file_id]["state"] == "complete"
        ]

    # -- users and shares ----------------------------------------------------------------------

    def _public_key(self, name: str) -> httpx.Response:
        user = self.users.get(name)
        if user is None or not user.public_key:
            return _error(404, "user_not_found")
        return _json(200, {"name": name, "public_key": user.public_key})

    def _shares(self, file_id: str, method: str, name: str, body: dict[str, Any]) -> httpx.Response:
        if method == "GET" and not name:
            rows = [
                {"user": self._by_id(u).name, "created_at": share["created_at"]}
                for (f, u), share in self.shares.items()
                if f == file_id
            ]
            return _json(200, sorted(rows, key=lambda r: r["user"]))
        user = self.users.get(name)
        if user is None:
            return _error(404, "user_not_found")
        if method == "DELETE":
            if self.shares.pop((file_id, user.id), None) is None:
                return _error(404, "share_not_found")
            self._revoke(user.id)
            return httpx.Response(204)
        record = self.files[file_id]
        if user.id == record["owner_id"]:
            return _error(400, "cannot_share_with_self")
        if record["state"] != "complete":
            return _error(409, "file_incomplete")
        if not user.public_key:
            return _error(404, "user_not_found")
        if body.get("public_key") != user.public_key:
            return _error(409, "public_key_changed")
        new = (file_id, user.id) not in self.shares
        self.shares[(file_id, user.id)] = {"share_key": body["share_key"], "created_at": time.time()}
        return _json(201 if new else 200, {"file": file_id, "user": name, "created_at": time.time()})

    # -- links ---------------------------------------------------------------------------------

    def _link_state(self, link: dict[str, Any]) -> str:
        if link["revoked_at"] is not None:
            return "revoked"
        if link["expires_at"] <= time.time():
            return "expired"
        if link["max_downloads"] is not None and link["downloads"] >= link["max_downloads"]:
            return "exhausted"
        return "active"

    def _link_json(self, link: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in link.items() if k != "owner_id"} | {"state": self._link_state(link)}

    def _new_link(self, file_id: str, me: FakeUser, body: dict[str, Any]) -> httpx.Response:
        record = self.files[file_id]
        if record["state"] != "complete":
            return _error(409, "file_incomplete")
        expires_in = body.get("expires_in", 7 * 86400)
        if not 0 < expires_in <= 30 * 86400:
            return _error(400, "invalid_expires_in")
        link = {
            "id": str(uuid.uuid4()),
            "file": file_id,
            "owner_id": me.id,
            "created_at": time.time(),
            "expires_at": min(time.time() + expires_in, record["expires_at"]),
            "max_downloads": body.get("max_downloads"),
            "downloads": 0,
            "protected": bool(body.get("protected")),
            "revoked_at": None,
        }
        self.links[link["id"]] = link
        return _json(201, self._link_json(link))

    def _links(self, me: FakeUser, method: str, link_id: str, request: httpx.Request) -> httpx.Response:
        if method == "GET" and not link_id:
            wanted = request.url.params.get("file")
            mine = [
                self._link_json(link)
                for link in self.links.values()
                if link["owner_id"] == me.id and wanted in (None, link["file"])
            ]
            return _json(200, sorted(mine, key=lambda link: -link["created_at"]))
        link = self.links.get(link_id)
        if method != "DELETE" or link is None or link["owner_id"] != me.id:
            return _error(404, "link_not_found")
        if link["revoked_at"] is None:
            link["revoked_at"] = time.time()
        self._revoke(link_id)
        return httpx.Response(204)

    def _public_link(self, method: str, link_id: str, action: str, body: dict[str, Any]) -> httpx.Response:
        """The routes anyone may call: a link's record, starting a download (counted), and its tickets."""
        link = self.links.get(link_id)
        if link is None or link["file"] not in self.files:
            return _error(404, "link_not_found")
        state = self._link_state(link)
        record = self.files[link["file"]]
        if state in ("revoked", "expired") or (state == "exhausted" and action != "tickets"):
            return _error(410, LINK_GONE[state])
        if record["expires_at"] <= time.time():
            return _error(410, "file_expired")
        if method == "GET" and not action:
            public = {k: link[k] for k in ("id", "expires_at", "max_downloads", "downloads", "protected")}
            keep = ("id", "size", "chunk_count", "chunk_size", "metadata", "key_commitment", "state", "expires_at")
            shown = {k: record[k] for k in keep} | {"format": record.get("format", 1), "shard": record["shard"]}
            shown["chunks"] = [dict(c) for c in self.chunk_rows[record["id"]]]
            return _json(200, {"link": public | {"state": state}, "file": shown})
        if action == "downloads" and method == "POST":
            link["downloads"] += 1
            started: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "link": link_id,
                "expires_at": time.time() + LINK_WINDOW,
            }
            self.link_downloads[started["id"]] = started
            return _json(201, {"download": started["id"], "expires_at": started["expires_at"]} | self._get(link))
        if action == "tickets" and method == "POST":
            download = self.link_downloads.get(body.get("download", ""))
            if download is None or download["link"] != link_id:
                return _error(404, "download_not_found")
            if download["expires_at"] <= time.time():
                return _error(410, "download_expired")
            self.link_renewals.append(body.get("chunks"))
            return _json(200, self._get(link, body.get("chunks")))
        return _error(404, "no_route")

    def _get(self, link: dict[str, Any], wanted: list[str] | None = None) -> dict[str, Any]:
        """Get tickets for a link's file (all its chunks, or the *wanted* ones), held by the link."""
        self.ticket_requests += 1
        ticket = f"ticket-link-{self.ticket_requests}"
        self.valid_tickets[ticket] = link["id"]
        hashes = [c["hash"] for c in self.chunk_rows[link["file"]] if wanted is None or c["hash"] in wanted]
        groups = [{"ticket": ticket, "chunks": hashes[i : i + 32], "expires_at": 0} for i in range(0, len(hashes), 32)]
        return {"tickets": groups, "fileservers": self.listing()}

    def _tickets(self, file_id: str, body: dict[str, Any], holder: str) -> httpx.Response:
        self.ticket_requests += 1
        ticket = f"ticket-{body['op']}-{self.ticket_requests}"
        self.valid_tickets[ticket] = holder
        if body["op"] == "put":
            if self.files[file_id]["state"] != "pending":
                return _error(409, "file_complete")
            if file_id in self.past_deadline:
                return _error(410, "upload_expired")
            tickets = [{"ticket": ticket, "chunks": [], "expires_at": 0}]
        else:
            hashes = [c["hash"] for c in self.chunk_rows[file_id]]
            tickets = [
                {"ticket": ticket, "chunks": hashes[i : i + 32], "expires_at": 0} for i in range(0, len(hashes), 32)
            ]
        return _json(200, {"tickets": tickets, "fileservers": self.listing(), "copies": self.copies})

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
        return _json(200, self._record(file_id, self._by_id(record["owner_id"])))

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
