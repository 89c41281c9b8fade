"""Retention, legal hold, deletion orders and their confirmation, abandoned uploads, user removal.

The clock is the harness's: a sweep is run at any ``now`` the test picks, nothing sleeps.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from coffer.protocol.ids import new_id
from coffer.server.jobs import housekeeper as jobs
from coffer.server.jobs import retention

from .conftest import FakeFileserver, Harness
from .test_files import _finalize_body, _new_file

DAY = 86400.0


@pytest.fixture
def fs(harness: Harness, admin: str) -> FakeFileserver:
    server = harness.fileserver(admin)
    assert harness.register(server).status_code == 200
    return server


def _complete_file(harness: Harness, token: str, fs: FakeFileserver, **overrides: Any) -> str:
    record = _new_file(harness, token, chunks=1, size=1024, **overrides)
    assert record.status_code == 201, record.json
    file_id: str = record.json["id"]
    body = _finalize_body(fs, file_id, [os.urandom(1024)], harness.clock())
    assert harness.call("POST", f"/api/files/{file_id}/finalize", body, token).status_code == 200
    return file_id


def _sweep(harness: Harness, at: float) -> retention.SweepResult:
    s = harness.settings
    return retention.sweep(harness.db, at, upload_grace=s.upload_grace, lease=s.lease_seconds)


def _purges(harness: Harness) -> list[str]:
    with harness.db.transaction(readonly=True) as tx:
        return [r["file_id"] for r in tx.all("SELECT file_id FROM purges ORDER BY queued_at")]


def _file_ids(harness: Harness) -> set[str]:
    with harness.db.transaction(readonly=True) as tx:
        return {r["id"] for r in tx.all("SELECT id FROM files")}


def _events(harness: Harness, action: str) -> list[dict[str, Any]]:
    with harness.db.transaction(readonly=True) as tx:
        return tx.all("SELECT * FROM audit_log WHERE action = ? ORDER BY at", (action,))


def test_expired_file_is_dropped_and_purged_by_the_sweep(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    short = _complete_file(harness, token, fs, expires_in=DAY)
    long = _complete_file(harness, token, fs)
    assert _sweep(harness, harness.clock() + DAY - 1).expired == 0
    assert _sweep(harness, harness.clock() + DAY + 1).expired == 1
    assert _file_ids(harness) == {long}
    assert _purges(harness) == [short]
    assert [e["object"] for e in _events(harness, "file.expired")] == [f"file:{short}"]
    assert _sweep(harness, harness.clock() + 31 * DAY).expired == 1
    assert _file_ids(harness) == set()


def test_an_expired_file_gets_no_more_tickets_before_the_sweep(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs, expires_in=60)
    harness.clock.now += 61
    answer = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, token)
    assert (answer.status_code, answer.json["error"]) == (410, "file_expired")


def test_asking_for_more_than_the_maximum_retention_is_refused(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    answer = _new_file(harness, token, expires_in=harness.settings.max_retention + 1)
    assert (answer.status_code, answer.json["error"]) == (400, "retention_exceeded")
    days = harness.settings.max_retention / 86400
    assert f"maximum retention of {days:.4g} days" in answer.json["message"]
    assert _file_ids(harness) == set()


def test_held_file_survives_expiry_until_released(harness: Harness, admin: str, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs, expires_in=DAY)
    assert harness.call("PUT", f"/api/admin/holds/files/{file_id}", {"reason": "case 42"}, admin).status_code == 204
    assert _sweep(harness, harness.clock() + 40 * DAY).expired == 0
    assert _file_ids(harness) == {file_id}
    token, admin = harness.login("alice"), harness.login("root")
    refused = harness.call("DELETE", f"/api/files/{file_id}", token=token)
    assert (refused.status_code, refused.json["error"]) == (403, "file_on_hold")
    assert harness.call("GET", "/api/admin/holds", token=admin).json["files"][0]["id"] == file_id
    assert harness.call("DELETE", f"/api/admin/holds/files/{file_id}", token=admin).status_code == 204
    assert _sweep(harness, harness.clock() + 40 * DAY).expired == 1
    assert [e["outcome"] for e in _events(harness, "file.deleted")] == ["denied"]
    assert [e["object"] for e in _events(harness, "hold.set") + _events(harness, "hold.released")] == [
        f"file:{file_id}"
    ] * 2


def test_a_hold_on_a_user_covers_every_file_and_is_released_on_its_own(
    harness: Harness, admin: str, fs: FakeFileserver
) -> None:
    token = harness.make_user("alice")
    first = _complete_file(harness, token, fs, expires_in=DAY)
    assert harness.call("PUT", "/api/admin/holds/users/alice", token=admin).status_code == 204
    later = _complete_file(harness, token, fs, expires_in=DAY)
    harness.call("PUT", f"/api/admin/holds/files/{first}", token=admin)
    assert harness.call("DELETE", f"/api/files/{later}", token=token).status_code == 403
    assert _sweep(harness, harness.clock() + 2 * DAY).expired == 0
    harness.call("DELETE", "/api/admin/holds/users/alice", token=harness.login("root"))
    assert _sweep(harness, harness.clock() + 2 * DAY).expired == 1
    assert _file_ids(harness) == {first}, "the file's own hold stays"


def test_holds_on_unknown_targets_are_not_found(harness: Harness, admin: str) -> None:
    assert harness.call("PUT", f"/api/admin/holds/files/{new_id()}", token=admin).status_code == 404
    assert harness.call("PUT", "/api/admin/holds/users/nobody", token=admin).status_code == 404
    user = harness.make_user("alice")
    assert harness.call("PUT", "/api/admin/holds/users/alice", token=user).status_code == 403


def test_heartbeat_carries_purge_orders_until_the_fileserver_confirms(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs)
    harness.call("DELETE", f"/api/files/{file_id}", token=token)
    order = {"shard": "default", "file": file_id}
    assert harness.beat(fs).json["purge"] == [order]
    assert harness.beat(fs).json["purge"] == [order], "re-sent until confirmed"
    assert harness.beat(fs, purged=[order]).json["purge"] == []
    with harness.db.transaction(readonly=True) as tx:
        assert tx.all("SELECT * FROM chunk_locations") == []
        assert tx.all("SELECT * FROM purges") == []


def test_a_confirmation_without_an_order_forgets_nothing(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs)
    harness.beat(fs, purged=[{"shard": "default", "file": file_id}])
    answer = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, token)
    assert answer.status_code == 200
    assert harness.call("GET", f"/api/files/{file_id}", token=token).json["chunks"][0]["fileservers"] == [fs.id]


def test_a_fileserver_that_was_down_gets_its_orders_when_it_returns(
    harness: Harness, admin: str, fs: FakeFileserver
) -> None:
    other = harness.fileserver(admin)
    harness.register(other)
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs)
    harness.clock.now += 3600
    harness.call("DELETE", f"/api/files/{file_id}", token=token)
    harness.clock.now += 3600
    assert harness.beat(other).json["purge"] == [{"shard": "default", "file": file_id}]
    assert harness.beat(fs).json["purge"] == [{"shard": "default", "file": file_id}]


def test_revocations_of_a_deleted_pending_file_outlive_its_record(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _new_file(harness, token).json["id"]
    put = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, token).json
    harness.call("DELETE", f"/api/files/{file_id}", token=token)
    from coffer.protocol import tickets
    from coffer.protocol.signing import peek_token

    assert peek_token(put["tickets"][0]["ticket"], tickets.MAX_TOKEN_LENGTH)["jti"] in harness.revoked(fs)


def test_abandoned_upload_is_collected_after_the_grace_and_frees_the_quota(
    harness: Harness, fs: FakeFileserver
) -> None:
    token = harness.make_user("alice")
    file_id = _new_file(harness, token).json["id"]
    put = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, token).json
    ticket_end = put["tickets"][0]["expires_at"]
    assert harness.call("GET", "/api/me/quota", token=token).json["files"]["used"] == 1
    grace = harness.settings.upload_grace
    assert _sweep(harness, ticket_end + grace - 1).abandoned == 0
    assert _sweep(harness, ticket_end + grace + 1).abandoned == 1
    assert _purges(harness) == [file_id]
    assert harness.call("GET", "/api/me/quota", token=harness.login("alice")).json == {
        "bytes": {"used": 0, "limit": harness.settings.default_quota_bytes},
        "files": {"used": 0, "limit": harness.settings.default_quota_files},
    }
    assert _events(harness, "upload.abandoned")[0]["object"] == f"file:{file_id}"


def test_a_completed_file_is_never_abandoned(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs)
    assert _sweep(harness, harness.clock() + 29 * DAY).abandoned == 0
    assert _file_ids(harness) == {file_id}


def test_a_silent_fileserver_is_audited_as_lost_once(harness: Harness, fs: FakeFileserver) -> None:
    lease = harness.settings.lease_seconds
    assert _sweep(harness, harness.clock() + lease - 1).lost == 0
    assert _sweep(harness, harness.clock() + lease + 1).lost == 1
    assert _sweep(harness, harness.clock() + lease + 60).lost == 0
    harness.clock.now += lease + 90
    harness.beat(fs)
    assert _sweep(harness, harness.clock() + lease + 1).lost == 1
    assert len(_events(harness, "fileserver.lost")) == 2


def test_reconcile_names_the_files_the_server_does_not_know(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    live = _complete_file(harness, token, fs)
    gone = _complete_file(harness, token, fs)
    harness.call("DELETE", f"/api/files/{gone}", token=token)
    never = new_id()
    body = fs.signed("reconcile", {"shard": "default", "files": [live, gone, never]}, harness.clock())
    answer = harness.call("POST", "/api/fileservers/reconcile", body).json
    assert answer == {"unknown": [gone, never], "grace_seconds": harness.settings.orphan_grace}


def test_reconcile_needs_a_reconcile_signature(harness: Harness, fs: FakeFileserver) -> None:
    body = fs.signed("heartbeat", {"shard": "default", "files": []}, harness.clock())
    assert harness.call("POST", "/api/fileservers/reconcile", body).status_code == 400


def test_removing_a_user_drops_their_files_unless_held(harness: Harness, admin: str, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    files = [_complete_file(harness, token, fs) for _ in range(2)]
    harness.call("PUT", f"/api/admin/holds/files/{files[0]}", token=admin)
    refused = harness.call("DELETE", "/api/admin/users/alice", token=admin)
    assert (refused.status_code, refused.json["error"]) == (403, "user_on_hold")
    harness.call("DELETE", f"/api/admin/holds/files/{files[0]}", token=admin)
    answer = harness.call("DELETE", "/api/admin/users/alice", token=admin)
    assert answer.json == {"removed": "alice", "files_deleted": 2}
    assert sorted(_purges(harness)) == sorted(files)
    assert harness.call("GET", "/api/me", token=token).status_code == 401
    assert harness.call("DELETE", "/api/admin/users/root", token=admin).json["error"] == "remove_self"


def test_the_lifecycle_lease_is_held_by_one_process_at_a_time(harness: Harness) -> None:
    now = harness.clock()
    assert jobs.try_lease(harness.db, "lifecycle", "a", 60, now)
    assert not jobs.try_lease(harness.db, "lifecycle", "b", 60, now + 30)
    assert jobs.try_lease(harness.db, "lifecycle", "a", 60, now + 30), "the holder renews"
    assert not jobs.try_lease(harness.db, "lifecycle", "b", 60, now + 89)
    assert jobs.try_lease(harness.db, "lifecycle", "b", 60, now + 91), "a silent holder loses it"


def test_housekeeper_sweeps_only_while_it_holds_the_lease(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    _complete_file(harness, token, fs, expires_in=60)
    harness.clock.now += 120
    first = jobs.Housekeeper(harness.db, harness.settings, harness.clock)
    second = jobs.Housekeeper(harness.db, harness.settings, harness.clock)
    assert second.run_once() is not None
    assert first.run_once() is None
    assert _file_ids(harness) == set()


def test_reconcile_counts_a_file_of_another_shard_as_unknown(harness: Harness, fs: FakeFileserver) -> None:
    live = _complete_file(harness, harness.make_user("alice"), fs)
    body = fs.signed("reconcile", {"shard": "archive", "files": [live]}, harness.clock())
    assert harness.call("POST", "/api/fileservers/reconcile", body).json["unknown"] == [live]


def test_an_ended_session_outlives_the_sweep_for_a_day_so_its_holder_is_told_it_expired(harness: Harness) -> None:
    """The sweep used to delete it at once, and the client then heard "unknown or revoked" instead of "expired"."""
    token = harness.make_user("alice")
    harness.clock.now += harness.settings.session_ttl + 1
    _sweep(harness, harness.clock.now)
    answer = harness.call("GET", "/api/me", token=token)
    assert (answer.status_code, answer.json["error"]) == (401, "session_expired")
    _sweep(harness, harness.clock.now + retention.SESSION_MEMORY + 1)
    with harness.db.transaction(readonly=True) as tx:
        left = tx.one("SELECT COUNT(*) AS n FROM sessions")
    assert left is not None and left["n"] == 0, "a day later it is forgotten"
