"""An in-process server (Falcon's TestClient) on a fresh database, with a clock the test moves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import falcon.testing
import pytest

from coffer.format import kdf
from coffer.protocol import cluster as cluster_protocol
from coffer.protocol import tickets as ticket_protocol
from coffer.protocol.encoding import b64encode
from coffer.protocol.ids import new_id
from coffer.protocol.messages import Heartbeat, Registration, Revocation, ShardAnnouncement, parse_revocation
from coffer.protocol.signing import SigningKey
from coffer.server.api.app import create_app
from coffer.server.api.base import Context
from coffer.server.domain import accounts, keys
from coffer.server.settings import ServerSettings
from coffer.server.store import migrations
from coffer.server.store.db import Database

# Cheap KDF parameters for test users: the server stores whatever the user was created with.
FAST_KDF = {"opslimit": 1, "memlimit": 8 * 1024 * 1024}
PASSWORD = "correct horse battery"

LOCAL_TOPOLOGY = {
    "shards": [{"name": "default", "description": "one site"}, {"name": "archive"}],
    "clusters": [
        {
            "name": "local",
            "shards": [{"name": "default", "read": True, "write": True}, {"name": "archive", "read": True}],
        }
    ],
}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeFileserver:
    """What a fileserver holds: its id and receipt key, and its cluster's credential."""

    cluster_id: str
    generation: int
    credential: SigningKey
    id: str = field(default_factory=new_id)
    key: SigningKey = field(default_factory=SigningKey.generate)
    url: str = "http://127.0.0.1:8101"

    def signed(self, action: cluster_protocol.Action, body: dict[str, Any], now: float) -> dict[str, str]:
        request = cluster_protocol.sign_request(
            self.credential, self.cluster_id, self.generation, self.id, action, body, now
        )
        return cluster_protocol.prove(self.key, request)

    def registration(self, shards: list[ShardAnnouncement] | None = None) -> dict[str, Any]:
        shards = shards or [ShardAnnouncement("default", True, True), ShardAnnouncement("archive", True, False)]
        return Registration(self.url, self.key.public_key, "test", shards).to_json()

    def heartbeat(self, **overrides: Any) -> dict[str, Any]:
        beat = Heartbeat(
            version="test",
            shards=[ShardAnnouncement("default", True, True, free_bytes=10**9)],
            active_transfers=0,
            bytes_per_s=0,
            free_bytes=10**9,
            chunk_count=0,
            corrupt=[],
        ).to_json()
        return beat | overrides


class Harness:
    def __init__(self, database_url: str, nudger: Any = None, **settings: Any):
        self.clock = Clock()
        self.settings = ServerSettings(database_url=database_url, **settings)
        self._auth_keys: dict[str, bytes] = {}
        self.issued: list[ticket_protocol.Ticket] = []
        self.db = Database(database_url, outbox=bool(self.settings.events_url))
        migrations.migrate(self.db)
        self.keys = keys.load_or_create(self.db)
        self.client = falcon.testing.TestClient(
            create_app(Context(settings=self.settings, db=self.db, keys=self.keys, clock=self.clock, nudger=nudger))
        )

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, **kw: Any
    ) -> falcon.testing.Result:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        result = self.client.simulate_request(method, path, json=body, headers=headers, **kw)
        self._note_tickets(result)
        return result

    def _note_tickets(self, result: falcon.testing.Result) -> None:
        """Keep every ticket the server hands out, to ask later which of them fileservers are told to refuse."""
        answer = result.json if 200 <= result.status_code < 300 and result.content else None
        if isinstance(answer, dict) and isinstance(answer.get("tickets"), list):
            keys = {self.keys.signing.kid: self.keys.signing.public_key}
            for t in answer["tickets"]:
                self.issued.append(ticket_protocol.verify(t["ticket"], keys, self.clock()))

    def revoked(self, fs: FakeFileserver) -> set[str]:
        """Return the ids of the tickets handed out so far that the heartbeat answers tell *fs* to refuse."""
        entries: list[Revocation] = []
        after, more = 0, True
        while more:
            page = self.beat(fs, revocations_after=after).json["revocations"]
            entries += [parse_revocation(e) for e in page["entries"]]
            after, more = page["next"], page["more"]
        return {t.jti for t in self.issued if any(e.covers(t.file, t.sub, t.op, t.iat) for e in entries)}

    def make_user(self, name: str, role: str = "user") -> str:
        """Create a user with cheap KDF parameters and return a session token for it."""
        params = kdf.KdfParams(salt=os.urandom(16), **FAST_KDF)
        auth_key = kdf.derive(PASSWORD, params).auth_key
        accounts.create_user(self.db, name, role, params.salt, auth_key, self.clock(), params)
        self._auth_keys[name] = auth_key
        return self.login(name)

    def give_keys(self, token: str) -> str:
        """Store a random key pair for the session's user (as a first login does); return the public key."""
        public_key = b64encode(os.urandom(32))
        body = {"public_key": public_key, "wrapped_private_key": b64encode(os.urandom(72))}
        assert self.call("PUT", "/api/me/keys", body, token).status_code == 204
        return public_key

    def login(self, name: str) -> str:
        """Open a new session for a user made by :meth:`make_user`."""
        result = self.call("POST", "/api/auth/login", {"username": name, "auth_key": b64encode(self._auth_keys[name])})
        assert result.status_code == 200, result.json
        token: str = result.json["token"]
        return token

    def apply(self, admin: str, config: Any = LOCAL_TOPOLOGY, **flags: bool) -> falcon.testing.Result:
        return self.call("POST", "/api/admin/apply", {"config": config, **flags}, admin)

    def fileserver(self, admin: str, cluster: str = "local") -> FakeFileserver:
        config = self.call("GET", f"/api/admin/clusters/{cluster}/config", token=admin).json["config"]
        return FakeFileserver(
            config["cluster"]["id"],
            config["cluster"]["generation"],
            SigningKey.from_text(config["cluster"]["credential"]),
        )

    def register(self, fs: FakeFileserver, **kw: Any) -> falcon.testing.Result:
        return self.call(
            "POST", "/api/fileservers/register", fs.signed("register", fs.registration(**kw), self.clock())
        )

    def beat(self, fs: FakeFileserver, **overrides: Any) -> falcon.testing.Result:
        return self.call(
            "POST", "/api/fileservers/heartbeat", fs.signed("heartbeat", fs.heartbeat(**overrides), self.clock())
        )


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    h = Harness(database_url)
    yield h
    h.db.close()


@pytest.fixture
def admin(harness: Harness) -> str:
    token = harness.make_user("root", "admin")
    assert harness.apply(token).status_code == 200
    return token


@pytest.fixture
def fs(harness: Harness, admin: str) -> FakeFileserver:
    """A fileserver of the local cluster, registered and live."""
    server = harness.fileserver(admin)
    assert harness.register(server).status_code == 200
    return server


@dataclass
class People:
    """Three users with keys, as after a first login: their session tokens and public keys by name."""

    alice: str
    bob: str
    carol: str
    keys: dict[str, str]


@pytest.fixture
def people(harness: Harness) -> People:
    tokens = {name: harness.make_user(name) for name in ("alice", "bob", "carol")}
    keys = {name: harness.give_keys(token) for name, token in tokens.items()}
    return People(tokens["alice"], tokens["bob"], tokens["carol"], keys)
