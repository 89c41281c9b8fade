"""Fileserver registration and heartbeats: signatures, replay, flags, leases."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from coffer.protocol.ids import new_id
from coffer.protocol.messages import (
    MAX_CORRUPT_REPORTS,
    MAX_PURGES,
    MAX_RECONCILE_FILES,
    FilePurge,
    ReconcileQuery,
    ShardAnnouncement,
)
from coffer.protocol.signing import SigningKey
from coffer.server.domain import audit

from .conftest import Harness


def test_registration_then_heartbeats_keep_a_fileserver_live(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    answer = harness.register(fs)
    assert answer.status_code == 200, answer.json
    assert answer.json == {"fileserver_id": fs.id, "lease_seconds": 30.0, "heartbeat_interval": 10.0}
    listed = harness.call("GET", "/api/admin/fileservers", token=admin).json
    assert [(s["id"], s["url"], s["live"]) for s in listed] == [(fs.id, fs.url, True)]
    assert {(s["name"], s["read"], s["write"]) for s in listed[0]["shards"]} == {
        ("default", True, True),
        ("archive", True, False),
    }
    harness.clock.now += 25
    assert harness.beat(fs, active_transfers=3, bytes_per_s=12345).status_code == 200
    harness.clock.now += 25
    listed = harness.call("GET", "/api/admin/fileservers", token=admin).json
    assert listed[0]["live"] is True
    assert listed[0]["load"]["active_transfers"] == 3 and listed[0]["load"]["bytes_per_s"] == 12345


def test_a_quiet_fileserver_leaves_the_live_list_after_the_lease(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    user = harness.make_user("alice")
    writers = harness.call("GET", "/api/shards/default/fileservers?op=write", token=user).json
    assert [w["id"] for w in writers] == [fs.id]
    harness.clock.now += 31
    assert harness.call("GET", "/api/shards/default/fileservers?op=write", token=user).json == []
    listed = harness.call("GET", "/api/admin/fileservers", token=admin).json
    assert listed[0]["live"] is False


def test_a_late_heartbeat_never_dates_a_lease_back(harness: Harness, admin: str) -> None:
    """A beat that waited in the server (for its database, back from an outage) and commits after the next one
    carries the time it came in: it must not move the lease back, nor its load over the newer beat's.

    Seen after a PostgreSQL restart: the beats queued during the outage committed just after the fresh ones and
    took a fileserver that was beating every half second out of the live list (the lease was 3 s).
    """
    fs = harness.fileserver(admin)
    harness.register(fs)
    came_in = harness.clock.now + 1
    harness.clock.now += 20
    assert harness.beat(fs, active_transfers=3).status_code == 200
    fresh = harness.clock.now

    harness.clock.now = came_in  # what the late beat read from the clock when it came in, 19 s before
    assert harness.beat(fs, active_transfers=9).status_code == 200  # answered still: its reports are taken
    harness.register(fs)  # a registration as late changes the address and key it brings, never the lease

    harness.clock.now = fresh + 29
    listed = harness.call("GET", "/api/admin/fileservers", token=admin).json
    assert (listed[0]["last_seen"], listed[0]["live"]) == (fresh, True)
    assert listed[0]["load"]["active_transfers"] == 3
    user = harness.make_user("alice")
    assert [w["id"] for w in harness.call("GET", "/api/shards/default/fileservers?op=write", token=user).json] == [
        fs.id
    ]


def test_restarted_fileserver_keeps_its_row(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    harness.clock.now += 100
    harness.register(fs)
    harness.register(fs)
    assert len(harness.call("GET", "/api/admin/fileservers", token=admin).json) == 1


def test_read_only_link_is_offered_for_reads_only(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    user = harness.make_user("alice")
    assert harness.call("GET", "/api/shards/archive/fileservers?op=write", token=user).json == []
    readers = harness.call("GET", "/api/shards/archive/fileservers?op=read", token=user).json
    assert [r["id"] for r in readers] == [fs.id]


def test_announcing_more_than_the_cluster_grants_is_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    for shards in (
        [ShardAnnouncement("archive", True, True)],
        [ShardAnnouncement("elsewhere", True, False)],
    ):
        answer = harness.register(fs, shards=shards)
        assert answer.status_code == 403, shards
        assert answer.json["error"] == "shard_not_allowed"
    assert harness.call("GET", "/api/admin/fileservers", token=admin).json == []


def test_replayed_registration_is_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    body = fs.signed("register", fs.registration(), harness.clock())
    assert harness.call("POST", "/api/fileservers/register", body).status_code == 200
    again = harness.call("POST", "/api/fileservers/register", body)
    assert again.status_code == 401
    assert again.json["error"] == "replayed_request"


def test_replayed_heartbeat_is_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    body = fs.signed("heartbeat", fs.heartbeat(), harness.clock())
    assert harness.call("POST", "/api/fileservers/heartbeat", body).status_code == 200
    harness.clock.now += 30
    again = harness.call("POST", "/api/fileservers/heartbeat", body)
    assert again.status_code == 401
    assert again.json["error"] == "replayed_request"


def test_stale_or_future_requests_are_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    for skew in (-61, 61):
        body = fs.signed("register", fs.registration(), harness.clock() + skew)
        answer = harness.call("POST", "/api/fileservers/register", body)
        assert answer.status_code == 401
        assert answer.json["error"] == "request_stale"


def test_a_registration_cannot_be_sent_as_a_heartbeat(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    body = fs.signed("register", fs.heartbeat(), harness.clock())
    answer = harness.call("POST", "/api/fileservers/heartbeat", body)
    assert answer.status_code == 400
    assert answer.json["error"] == "wrong_action"


def test_forged_and_tampered_heartbeats_are_refused(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    forger = harness.fileserver(admin)
    forger.id, forger.credential = fs.id, SigningKey.generate()
    assert harness.beat(forger).json["error"] == "bad_signature"
    body = fs.signed("heartbeat", fs.heartbeat(), harness.clock())
    payload, signature = body["token"].split(".")
    from coffer.protocol.encoding import b64decode, b64encode, canonical_json

    original = json.loads(b64decode(payload))
    changed = original | {"ts": original["ts"] + 1}
    tampered = {"token": b64encode(canonical_json(changed)) + "." + signature}
    answer = harness.call("POST", "/api/fileservers/heartbeat", tampered)
    assert answer.status_code == 401
    for junk in ({"token": "x"}, {"token": 5}, {}, {"token": "a.b"}):
        answer = harness.call("POST", "/api/fileservers/heartbeat", junk)
        assert answer.status_code in (400, 401), junk
        assert set(answer.json) == {"error", "message"}


def test_heartbeat_from_an_unknown_fileserver_asks_it_to_register(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    answer = harness.beat(fs)
    assert answer.status_code == 404
    assert answer.json["error"] == "fileserver_unknown"


def test_heartbeat_with_bad_fields_changes_nothing(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    before = harness.call("GET", "/api/admin/fileservers", token=admin).json
    harness.clock.now += 5
    bad_fields: list[dict[str, Any]] = [
        {"active_transfers": -1},
        {"free_bytes": "lots"},
        {"shards": []},
        {"corrupt": [{"shard": "x"}]},
    ]
    for bad in bad_fields:
        assert harness.beat(fs, **bad).status_code == 400, bad
    assert harness.call("GET", "/api/admin/fileservers", token=admin).json == before


def test_a_registration_through_a_trusted_proxy_is_audited_from_the_fileservers_address(database_url: str) -> None:
    h = Harness(database_url, trusted_proxies="127.0.0.1")
    try:
        admin = h.make_user("root", "admin")
        assert h.apply(admin).status_code == 200
        fs = h.fileserver(admin)
        body = fs.signed("register", fs.registration(), h.clock())
        answer = h.call("POST", "/api/fileservers/register", body, headers={"X-Forwarded-For": "198.51.100.7"})
        assert answer.status_code == 200
        (event,) = [e for e in audit.query(h.db) if e.action == "fileserver.registered"]
        assert event.address == "198.51.100.7", "the fileserver's address, not the proxy's"
    finally:
        h.db.close()


def test_heartbeat_at_every_list_limit_is_accepted_over_http(harness: Harness, admin: str) -> None:
    """The largest report a fileserver may send keeps it live: no list limit outgrows a cap or a body limit."""
    fs = harness.fileserver(admin)
    harness.register(fs)
    ids = [new_id() for _ in range(max(MAX_CORRUPT_REPORTS, MAX_PURGES))]
    corrupt = [{"shard": "default", "file": f, "chunk": "c" * 64} for f in ids[:MAX_CORRUPT_REPORTS]]
    purged = [FilePurge("default", f).to_json() for f in ids[:MAX_PURGES]]
    harness.clock.now += 5
    answer = harness.beat(fs, corrupt=corrupt, purged=purged)
    assert answer.status_code == 200, answer.json
    listed = harness.call("GET", "/api/admin/fileservers", token=admin).json
    assert listed[0]["live"] is True and listed[0]["last_seen"] == harness.clock.now


def test_reconcile_query_at_its_limit_is_answered(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    files = [new_id() for _ in range(MAX_RECONCILE_FILES)]
    body = fs.signed("reconcile", ReconcileQuery("default", files).to_json(), harness.clock())
    answer = harness.call("POST", "/api/fileservers/reconcile", body)
    assert answer.status_code == 200, answer.json
    assert sorted(answer.json["unknown"]) == sorted(files)


def test_a_refused_heartbeat_is_a_warning_naming_the_fileserver_and_the_reason(
    harness: Harness, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    with caplog.at_level(logging.INFO, logger="coffer.server.api.fileservers"):
        assert harness.beat(fs, corrupt=[{"shard": "x"}]).status_code == 400
    [record] = [r for r in caplog.records if r.name == "coffer.server.api.fileservers"]
    assert record.levelno == logging.WARNING
    kv = record.kv  # type: ignore[attr-defined]
    assert kv["claimed_fileserver"] == fs.id
    assert kv["action"] == "heartbeat" and kv["status"] == 400
    assert kv["error"] == "invalid_file" and "file" in kv["reason"]


def test_a_refused_registration_of_unreadable_junk_is_a_warning_too(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="coffer.server.api.fileservers"):
        assert harness.call("POST", "/api/fileservers/register", {"token": "x"}).status_code == 400
    [record] = [r for r in caplog.records if r.name == "coffer.server.api.fileservers"]
    assert record.levelno == logging.WARNING
    assert record.kv["claimed_fileserver"] is None and record.kv["error"] == "malformed_token"  # type: ignore[attr-defined]
