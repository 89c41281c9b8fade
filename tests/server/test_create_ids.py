"""A file's create is safe to resend: one file per owner and create id, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol import tickets
from coffer.protocol.ids import new_create_id

from .conftest import FakeFileserver, Harness

CHUNK = 1024


def _body(create_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "shard": "default",
        "size": CHUNK * 3,
        "chunk_count": 3,
        "chunk_size": CHUNK,
        "metadata": "bWV0YQ",
        "create_id": create_id,
    } | overrides


def _file_rows(harness: Harness) -> int:
    with harness.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM files")
    assert row is not None
    return int(row["n"])


def _events(harness: Harness, kind: str) -> int:
    with harness.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT COUNT(*) AS n FROM audit_log WHERE action = ?", (kind,))
    assert row is not None
    return int(row["n"])


@pytest.fixture
def user(harness: Harness, fs: FakeFileserver) -> str:
    return harness.make_user("alice")


def test_a_resent_create_answers_the_file_it_made_and_makes_no_second(harness: Harness, user: str) -> None:
    create_id = new_create_id()
    first = harness.call("POST", "/api/files", _body(create_id), user)
    assert first.status_code == 201, first.json
    harness.clock.now += 5
    again = harness.call("POST", "/api/files", _body(create_id), user)
    assert again.status_code == 200, again.json
    assert again.json == first.json
    assert _file_rows(harness) == 1
    assert _events(harness, "file.created") == 1, "a resend records no second creation"


def test_a_resend_asked_for_tickets_gets_fresh_put_tickets_for_the_same_file(
    harness: Harness, user: str, fs: FakeFileserver
) -> None:
    create_id = new_create_id()
    first = harness.call("POST", "/api/files", _body(create_id), user, params={"tickets": "true"})
    harness.clock.now += 5
    again = harness.call("POST", "/api/files", _body(create_id), user, params={"tickets": "true"})
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    ticket = tickets.verify(again.json["tickets"][0]["ticket"], keys, harness.clock())
    assert (ticket.op, ticket.file) == ("put", first.json["id"])
    assert ticket.iat > tickets.verify(first.json["tickets"][0]["ticket"], keys, harness.clock()).iat
    assert [f["id"] for f in again.json["fileservers"]] == [fs.id]


def test_a_create_id_reused_for_another_file_is_refused_and_changes_nothing(harness: Harness, user: str) -> None:
    create_id = new_create_id()
    assert harness.call("POST", "/api/files", _body(create_id), user).status_code == 201
    other = harness.call("POST", "/api/files", _body(create_id, size=CHUNK * 2), user)
    assert other.status_code == 409 and other.json["error"] == "create_id_reused"
    assert "create_id" in other.json["message"]
    assert _file_rows(harness) == 1


def test_the_same_create_id_from_another_user_makes_their_own_file(harness: Harness, user: str) -> None:
    create_id = new_create_id()
    mine = harness.call("POST", "/api/files", _body(create_id), user).json
    theirs = harness.call("POST", "/api/files", _body(create_id), harness.make_user("bob"))
    assert theirs.status_code == 201 and theirs.json["id"] != mine["id"] and theirs.json["owner"] == "bob"
    assert _file_rows(harness) == 2


def test_creates_without_a_create_id_each_make_a_file(harness: Harness, user: str) -> None:
    body = _body("")
    del body["create_id"]
    assert [harness.call("POST", "/api/files", body, user).status_code for _ in range(2)] == [201, 201]
    assert _file_rows(harness) == 2


@pytest.mark.parametrize("bad", ["", "A" * 32, "0" * 31, "0" * 33, 12, "../" + "0" * 29])
def test_a_malformed_create_id_is_refused(harness: Harness, user: str, bad: object) -> None:
    answer = harness.call("POST", "/api/files", _body("0" * 32) | {"create_id": bad}, user)
    assert answer.status_code == 400 and answer.json["error"] == "invalid_create_id"
    assert _file_rows(harness) == 0


def test_a_resend_is_answered_even_when_the_quota_is_now_full(database_url: str) -> None:
    """The quota was checked when the file was made: answering it again reserves nothing more."""
    harness = Harness(database_url, default_quota_files=1)
    try:
        token = harness.make_user("alice")
        admin = harness.make_user("root", "admin")
        assert harness.apply(admin).status_code == 200
        create_id = new_create_id()
        assert harness.call("POST", "/api/files", _body(create_id), token).status_code == 201
        assert harness.call("POST", "/api/files", _body(create_id), token).status_code == 200
        assert harness.call("POST", "/api/files", _body(new_create_id()), token).status_code == 403
    finally:
        harness.db.close()


def test_a_resend_after_the_file_completed_answers_the_record_without_put_tickets(
    harness: Harness, user: str, fs: FakeFileserver
) -> None:
    create_id = new_create_id()
    file_id = harness.call("POST", "/api/files", _body(create_id, size=CHUNK, chunk_count=1), user).json["id"]
    with harness.db.transaction() as tx:
        tx.execute("UPDATE files SET state = 'complete' WHERE id = ?", (file_id,))
    again = harness.call(
        "POST", "/api/files", _body(create_id, size=CHUNK, chunk_count=1), user, params={"tickets": "true"}
    )
    assert again.status_code == 200 and again.json["state"] == "complete" and "tickets" not in again.json
