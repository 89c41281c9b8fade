"""Each change writes its event to the outbox in its own transaction; with events off, nothing is written.

On SQLite and PostgreSQL, through the API (Falcon's TestClient) and the lifecycle sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from coffer.protocol.settings import SettingsError
from coffer.server.domain import events
from coffer.server.jobs import retention
from coffer.server.metrics import DatabaseCollector
from coffer.server.settings import ServerSettings

from .conftest import FakeFileserver, Harness
from .test_files import _new_file
from .test_invitations import invite, join
from .test_lifecycle import _complete_file
from .test_sharing import BOX, share

DAY = 86400.0
NATS = "nats://127.0.0.1:4222"


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    h = Harness(database_url, events_url=NATS)
    yield h
    h.db.close()


def outbox(harness: Harness) -> list[dict[str, Any]]:
    """Return the outbox's events in publication order, parsed."""
    with harness.db.transaction(readonly=True) as tx:
        rows = tx.all("SELECT id, type, body FROM event_outbox ORDER BY seq")
    parsed = [json.loads(r["body"]) for r in rows]
    assert [(e["id"], e["type"]) for e in parsed] == [(r["id"], r["type"]) for r in rows]
    return parsed


def of_type(harness: Harness, kind: str) -> list[dict[str, Any]]:
    return [e for e in outbox(harness) if e["type"] == kind]


def test_registration_writes_fileserver_up(harness: Harness, fs: FakeFileserver) -> None:
    [up] = of_type(harness, "fileserver.up")
    assert up["v"] == 1 and up["fileserver"] == fs.id and up["cluster"] == "local" and up["reason"] == "registered"
    assert up["shards"] == ["archive", "default"] and up["url"] == fs.url


def test_file_lifecycle_writes_created_completed_shared_link_unshared_deleted(
    harness: Harness, fs: FakeFileserver
) -> None:
    alice, bob = harness.make_user("alice"), harness.make_user("bob")
    harness.give_keys(alice)
    bob_key = harness.give_keys(bob)
    file_id = _complete_file(harness, alice, fs)
    assert share(harness, alice, file_id, "bob", bob_key).status_code in (200, 201)
    assert harness.call("POST", f"/api/files/{file_id}/links", {}, alice).status_code == 201
    assert harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=alice).status_code == 204
    assert harness.call("DELETE", f"/api/files/{file_id}", token=alice).status_code == 204
    mine = [e for e in outbox(harness) if e.get("file") == file_id]
    assert [e["type"] for e in mine] == [
        "file.created",
        "file.completed",
        "file.shared",
        "link.created",
        "file.unshared",
        "file.deleted",
    ]
    created, completed, shared, link, unshared, deleted = mine
    assert created["user"] == "alice" and created["shard"] == "default" and created["size"] == 1024
    assert completed["chunks"] == 1 and completed["size"] == 1024
    assert shared["user"] == "alice" and shared["recipient"] == "bob" and unshared["recipient"] == "bob"
    assert link["user"] == "alice" and link["expires_at"] > link["at"]
    assert deleted["reason"] == "deleted" and deleted["user"] == "alice"
    assert len({e["id"] for e in mine}) == len(mine)
    assert all(e["at"] == harness.clock() for e in mine)


def test_no_event_holds_metadata_a_box_or_a_link_id(harness: Harness, fs: FakeFileserver) -> None:
    alice, bob = harness.make_user("alice"), harness.make_user("bob")
    harness.give_keys(alice)
    file_id = _complete_file(harness, alice, fs)
    share(harness, alice, file_id, "bob", harness.give_keys(bob))
    link = harness.call("POST", f"/api/files/{file_id}/links", {}, alice).json
    with harness.db.transaction(readonly=True) as tx:
        metadata = tx.one("SELECT metadata, sealed_key FROM files WHERE id = ?", (file_id,))
    assert metadata is not None
    bodies = json.dumps(outbox(harness))
    secrets = [s for s in (metadata["metadata"], metadata["sealed_key"], BOX, link["id"]) if s]
    assert metadata["metadata"] in secrets and link["id"] in secrets
    for secret in secrets:
        assert secret not in bodies


def test_expiry_and_an_abandoned_upload_write_their_events(harness: Harness, fs: FakeFileserver) -> None:
    alice = harness.make_user("alice")
    kept = _complete_file(harness, alice, fs, expires_in=DAY)
    pending = _new_file(harness, alice, chunks=1, size=1024).json["id"]
    s = harness.settings
    retention.sweep(harness.db, harness.clock() + 2 * DAY, upload_grace=s.upload_grace, lease=s.lease_seconds)
    [expired] = of_type(harness, "file.expired")
    assert expired["file"] == kept and expired["reason"] == "expired" and expired["size"] == 1024
    [abandoned] = [e for e in of_type(harness, "file.deleted") if e["file"] == pending]
    assert abandoned["reason"] == "abandoned"


def test_a_lapsed_lease_writes_down_and_the_next_beat_writes_up_again(harness: Harness, fs: FakeFileserver) -> None:
    s = harness.settings
    harness.clock.now += s.lease_seconds + 1
    retention.sweep(harness.db, harness.clock(), upload_grace=s.upload_grace, lease=s.lease_seconds)
    retention.sweep(harness.db, harness.clock() + 1, upload_grace=s.upload_grace, lease=s.lease_seconds)
    [down] = of_type(harness, "fileserver.down")
    assert down["fileserver"] == fs.id and down["reason"] == "lease lapsed"
    assert harness.beat(fs).status_code == 200
    assert harness.beat(fs).status_code == 200
    ups = of_type(harness, "fileserver.up")
    assert [u["reason"] for u in ups] == ["registered", "back"]


def test_a_refused_change_writes_no_event(harness: Harness, fs: FakeFileserver) -> None:
    alice = harness.make_user("alice")
    before = len(outbox(harness))
    assert _new_file(harness, alice, shard="nowhere").status_code == 404
    assert harness.call("DELETE", f"/api/files/{'0' * 32}", token=alice).status_code in (400, 404)
    assert len(outbox(harness)) == before


def test_events_off_write_nothing(database_url: str) -> None:
    h = Harness(database_url)
    try:
        admin = h.make_user("root", "admin")
        h.apply(admin)
        server = h.fileserver(admin)
        assert h.register(server).status_code == 200
        alice = h.make_user("alice")
        _complete_file(h, alice, server)
        assert outbox(h) == []
    finally:
        h.db.close()


def test_an_event_refuses_a_field_outside_the_schema() -> None:
    with pytest.raises(ValueError, match="not in the schema"):
        events.build("file.created", 1.0, file="f", metadata="x")
    with pytest.raises(ValueError, match="unknown event type"):
        events.build("file.renamed", 1.0)
    with pytest.raises(ValueError, match="must be int"):
        events.build("file.created", 1.0, size="12")
    body = events.build("file.created", 1.5, event_id="e1", file="f", size=3)
    assert events.encode(body) == b'{"at":1.5,"file":"f","id":"e1","size":3,"type":"file.created","v":1}'
    assert events.subject("coffer.events", "file.created") == "coffer.events.file.created"


def test_the_metrics_report_the_outbox_depth(harness: Harness, fs: FakeFileserver) -> None:
    _complete_file(harness, harness.make_user("alice"), fs)
    collector = DatabaseCollector(harness.db, harness.settings.lease_seconds, harness.clock)
    figures = {m.name: m.samples[0].value for m in collector.collect() if m.name.startswith("coffer_events_outbox")}
    # root's and alice's accounts, the fileserver's registration, the file's creation and completion
    assert figures == {"coffer_events_outbox": 5, "coffer_events_outbox_oldest_seconds": 0.0}


def test_a_link_revoked_by_its_owner_or_an_administrator_writes_link_revoked_without_its_id(
    harness: Harness, admin: str, fs: FakeFileserver
) -> None:
    alice = harness.make_user("alice")
    harness.give_keys(alice)
    file_id = _complete_file(harness, alice, fs)
    links = [harness.call("POST", f"/api/files/{file_id}/links", {}, alice).json["id"] for _ in range(2)]
    assert harness.call("DELETE", f"/api/links/{links[0]}", token=alice).status_code == 204
    assert harness.call("DELETE", f"/api/admin/links/{links[1]}", token=admin).status_code == 204
    assert harness.call("DELETE", f"/api/links/{links[0]}", token=alice).status_code == 204  # already revoked
    revoked = of_type(harness, "link.revoked")
    got = [(e["file"], e["user"], e["reason"]) for e in revoked]
    assert got == [(file_id, "alice", "owner"), (file_id, "alice", "admin")]
    assert not any(link in json.dumps(revoked) for link in links)


def test_an_account_made_or_removed_writes_user_created_and_user_deleted(
    harness: Harness, admin: str, fs: FakeFileserver
) -> None:
    invited = invite(harness, admin, "carol", role="user")
    assert join(harness, invited.json["code"]).status_code == 201
    bob = harness.make_user("bob")
    _complete_file(harness, bob, fs)
    assert harness.call("DELETE", "/api/admin/users/bob", token=admin).status_code in (200, 204)
    created = {e["user"]: e for e in of_type(harness, "user.created")}
    assert (created["carol"]["role"], created["carol"]["reason"]) == ("user", "invitation")
    assert (created["root"]["role"], created["bob"]["reason"]) == ("admin", "created")
    [deleted] = of_type(harness, "user.deleted")
    assert deleted["user"] == "bob" and deleted["files"] == 1
    assert invited.json["code"] not in json.dumps(outbox(harness))


@pytest.mark.parametrize(
    "bad",
    [
        {"events_url": "http://127.0.0.1:4222"},
        {"events_stream": "with.dot"},
        {"events_subject_prefix": "coffer.>"},
        {"events_batch": 0},
    ],
)
def test_event_settings_are_checked_at_start(bad: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        ServerSettings(**bad)
