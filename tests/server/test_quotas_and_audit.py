"""Byte and file quotas (reserved at file creation, released with the record) and the audit log."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from coffer.server.domain import audit
from coffer.server.domain.quotas import Quota
from coffer.server.store import migrations

from .conftest import PASSWORD, Harness
from .test_files import _finalize_body, _new_file
from .test_lifecycle import _complete_file

MiB = 1 << 20


@pytest.fixture
def small(database_url: str) -> Iterator[Harness]:
    h = Harness(database_url, default_quota_bytes=10 * 1024, default_quota_files=3)
    assert h.apply(h.make_user("root", "admin")).status_code == 200
    yield h
    h.db.close()


def _quota(harness: Harness, token: str) -> dict[str, dict[str, int]]:
    answer = harness.call("GET", "/api/me/quota", token=token)
    assert answer.status_code == 200
    quota: dict[str, dict[str, int]] = answer.json
    return quota


def test_quota_check_names_the_quota_the_usage_and_the_request() -> None:
    with pytest.raises(Exception) as caught:
        Quota(bytes_limit=10 * MiB, files_limit=10, bytes_used=9 * MiB, files_used=1).check(2 * MiB)
    error = caught.value
    assert error.body() == {  # type: ignore[attr-defined]
        "error": "quota_exceeded",
        "message": error.message,  # type: ignore[attr-defined]
        "quota": "bytes",
        "used": 9 * MiB,
        "limit": 10 * MiB,
        "requested": 2 * MiB,
    }
    assert "you use 9.4 MB of 10.5 MB, and this upload needs 2.1 MB more" in str(error)


def test_a_file_past_the_byte_quota_is_refused_and_nothing_is_stored(small: Harness) -> None:
    token = small.make_user("alice")
    assert _new_file(small, token, chunks=8).status_code == 201
    refused = _new_file(small, token, chunks=3)
    assert refused.status_code == 403
    assert (refused.json["quota"], refused.json["used"], refused.json["requested"]) == ("bytes", 8192, 3072)
    assert _quota(small, token)["bytes"] == {"used": 8192, "limit": 10240}
    assert len(small.call("GET", "/api/files", token=token).json) == 1


def test_the_file_count_quota_counts_pending_uploads(small: Harness) -> None:
    token = small.make_user("alice")
    for _ in range(3):
        assert _new_file(small, token, chunks=1).status_code == 201
    refused = _new_file(small, token, chunks=1)
    assert (refused.status_code, refused.json["quota"]) == (403, "files")


def test_an_aborted_upload_releases_its_reservation(small: Harness) -> None:
    token = small.make_user("alice")
    file_id = _new_file(small, token, chunks=8).json["id"]
    assert _new_file(small, token, chunks=8).status_code == 403
    assert small.call("DELETE", f"/api/files/{file_id}", token=token).status_code == 204
    assert _quota(small, token)["bytes"]["used"] == 0
    assert _new_file(small, token, chunks=8).status_code == 201


def test_a_failed_finalize_keeps_the_reservation_until_the_upload_is_aborted(small: Harness) -> None:
    fs = small.fileserver(small.login("root"))
    small.register(fs)
    token = small.make_user("alice")
    file_id = _new_file(small, token, chunks=2).json["id"]
    bad = _finalize_body(fs, file_id, [os.urandom(1024)], small.clock())
    assert small.call("POST", f"/api/files/{file_id}/finalize", bad, token).status_code == 400
    assert _quota(small, token)["bytes"]["used"] == 2048
    small.call("DELETE", f"/api/files/{file_id}", token=token)
    assert _quota(small, token) == {"bytes": {"used": 0, "limit": 10240}, "files": {"used": 0, "limit": 3}}


def test_an_admin_override_replaces_the_default_and_null_restores_it(small: Harness) -> None:
    admin = small.login("root")
    token = small.make_user("alice")
    answer = small.call("PUT", "/api/admin/users/alice/quota", {"bytes": 20480, "files": 1}, admin)
    assert answer.json == {"bytes": {"used": 0, "limit": 20480}, "files": {"used": 0, "limit": 1}}
    assert _new_file(small, token, chunks=16).status_code == 201
    small.call("PUT", "/api/admin/users/alice/quota", {"bytes": None, "files": None}, admin)
    assert _quota(small, token)["files"]["limit"] == 3
    bad = small.call("PUT", "/api/admin/users/alice/quota", {"bytes": -1}, admin)
    assert (bad.status_code, bad.json["error"]) == (400, "invalid_quota")
    assert small.call("PUT", "/api/admin/users/alice/quota", {"bytes": 1}, token).status_code == 403


def test_quota_refusals_are_audited(small: Harness) -> None:
    token = small.make_user("alice")
    _new_file(small, token, chunks=11)
    with small.db.transaction(readonly=True) as tx:
        event = tx.one("SELECT * FROM audit_log WHERE action = 'quota.exceeded'")
    assert event is not None
    assert (event["actor"], event["outcome"], json.loads(event["detail"])["quota"]) == ("alice", "denied", "bytes")


def test_audit_log_records_a_session_and_never_a_secret(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    token = harness.make_user("alice")
    file_id = _complete_file(harness, token, fs)
    harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, token)
    harness.call("PUT", "/api/admin/holds/users/alice", {"reason": "audit"}, admin)
    harness.call("DELETE", "/api/admin/holds/users/alice", token=admin)
    harness.call("DELETE", f"/api/files/{file_id}", token=token)
    events = harness.call("GET", "/api/admin/audit", token=admin).json
    actions = [e["action"] for e in events]
    for expected in (
        "user.created",
        "fileserver.registered",
        "file.created",
        "file.download_ticket",
        "hold.set",
        "hold.released",
        "file.deleted",
    ):
        assert expected in actions, expected
    mine = harness.call("GET", "/api/admin/audit?user=alice", token=admin).json
    assert {e["actor"] for e in mine} <= {"alice", "root", "system"}
    assert all(e["address"] for e in mine if e["actor"] == "alice")
    with harness.db.transaction(readonly=True) as tx:
        dump = json.dumps(tx.all("SELECT * FROM audit_log"))
    for secret in (token, admin, PASSWORD):
        assert secret not in dump


def test_audit_since_filters_by_time(harness: Harness, admin: str) -> None:
    later = harness.clock() + 100
    harness.clock.now = later
    harness.make_user("bob")
    events = harness.call("GET", f"/api/admin/audit?since={later}", token=admin).json
    assert [e["action"] for e in events] == ["user.created", "login"]
    bad = harness.call("GET", "/api/admin/audit?since=yesterday", token=admin)
    assert (bad.status_code, bad.json["error"]) == (400, "invalid_since")


@pytest.mark.parametrize("since", ["nan", "inf", "-inf", "1e300", "-1"])
def test_audit_since_must_be_a_real_time(harness: Harness, admin: str, since: str) -> None:
    bad = harness.call("GET", f"/api/admin/audit?since={since}", token=admin)
    assert (bad.status_code, bad.json["error"]) == (400, "invalid_since")
    assert since not in bad.json["message"].split()


def test_the_audit_log_is_append_only(harness: Harness, admin: str) -> None:
    from coffer.server.store.db import IntegrityError

    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises((IntegrityError, Exception)) as caught:
            with harness.db.transaction() as tx:
                tx.execute(statement)
        assert "append-only" in str(caught.value)


def test_audit_refuses_details_that_look_like_secrets(harness: Harness) -> None:
    with pytest.raises(ValueError), harness.db.transaction() as tx:
        audit.record(tx, "login", 0.0, audit.SYSTEM, session_token="x")


def test_a_quota_change_is_audited_with_only_the_limits_it_set(small: Harness) -> None:
    admin = small.login("root")
    small.make_user("alice")
    small.call("PUT", "/api/admin/users/alice/quota", {"files": None}, admin)
    with small.db.transaction(readonly=True) as tx:
        event = tx.one("SELECT detail FROM audit_log WHERE action = 'quota.set'")
    assert event is not None and json.loads(event["detail"]) == {"files": None}


def _counted_and_summed(harness: Harness) -> dict[str, tuple[int, int, int, int]]:
    """Each user's counters beside the sum over their files: (used bytes, used files, bytes summed, files counted)."""
    with harness.db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT u.name, u.used_bytes, u.used_files, "
            "(SELECT COALESCE(SUM(size), 0) FROM files f WHERE f.owner_id = u.id) AS summed, "
            "(SELECT COUNT(*) FROM files f WHERE f.owner_id = u.id) AS counted FROM users u"
        )
    return {r["name"]: (int(r["used_bytes"]), int(r["used_files"]), int(r["summed"]), int(r["counted"])) for r in rows}


def test_the_usage_counters_follow_every_path_that_adds_moves_or_removes_a_file(harness: Harness, admin: str) -> None:
    """The quota check reads two counters the database keeps; every path that changes files keeps them."""
    alice, bob = harness.make_user("alice"), harness.make_user("bob")
    kept = [_new_file(harness, alice, chunks=n).json["id"] for n in (1, 2, 3)]
    _new_file(harness, bob, chunks=4)
    assert harness.call("DELETE", f"/api/files/{kept[0]}", token=alice).status_code == 204
    assert _counted_and_summed(harness)["alice"] == (5120, 2, 5120, 2)
    assert _quota(harness, alice)["bytes"]["used"] == 5120 and _quota(harness, alice)["files"]["used"] == 2
    with harness.db.transaction() as tx:  # paths the API does not have today: a size and an owner changed in place
        tx.execute("UPDATE files SET size = size + 7 WHERE id = ?", (kept[1],))
        tx.execute("UPDATE files SET owner_id = (SELECT id FROM users WHERE name = 'bob') WHERE id = ?", (kept[2],))
        tx.execute("DELETE FROM files WHERE id = 'no such file'")
    counted = _counted_and_summed(harness)
    assert counted["alice"] == (2055, 1, 2055, 1) and counted["bob"] == (7168, 2, 7168, 2)
    assert harness.call("DELETE", "/api/admin/users/alice", token=admin).status_code == 200
    counted = _counted_and_summed(harness)
    assert "alice" not in counted and counted["bob"] == (7168, 2, 7168, 2)


def test_migration_17_counts_the_files_users_already_had(harness: Harness, admin: str) -> None:
    """Databases from before the counters get them filled from the files they hold, in the migration itself."""
    alice, bob = harness.make_user("alice"), harness.make_user("bob")
    for token, chunks in ((alice, 1), (alice, 2), (bob, 3)):
        assert _new_file(harness, token, chunks=chunks).status_code == 201
    with harness.db.transaction() as tx:  # the schema as migration 16 left it
        if harness.db.dialect == "sqlite":
            for event in ("insert", "delete", "update"):
                tx.execute(f"DROP TRIGGER files_usage_{event}")
        else:
            tx.execute("DROP TRIGGER files_usage ON files")
            tx.execute("DROP FUNCTION files_usage()")
        tx.execute("ALTER TABLE users DROP COLUMN used_bytes")
        tx.execute("ALTER TABLE users DROP COLUMN used_files")
        tx.execute("DELETE FROM schema_migrations WHERE version = 17")
    assert migrations.migrate(harness.db) == [17]
    counted = _counted_and_summed(harness)
    assert counted["alice"] == (3072, 2, 3072, 2) and counted["bob"] == (3072, 1, 3072, 1)
    assert _new_file(harness, alice, chunks=1).status_code == 201
    assert _counted_and_summed(harness)["alice"] == (4096, 3, 4096, 3)
