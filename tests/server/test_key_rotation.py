"""Key rotation through the API, on SQLite and PostgreSQL: a new pair and password, file keys sealed again."""

from __future__ import annotations

import os
from typing import Any

from coffer.format import kdf
from coffer.protocol.encoding import b64encode
from coffer.server.domain import audit

from .conftest import FAST_KDF, PASSWORD, Harness, People

NEW_SALT = os.urandom(16)


def rotation(h: Harness, name: str, **overrides: Any) -> dict[str, Any]:
    """A rotation request as a client sends it (random bytes stand for the keys it made)."""
    return {
        "auth_key": b64encode(h._auth_keys[name]),
        "salt": b64encode(NEW_SALT),
        "new_auth_key": b64encode(b"n" * 32),
        "public_key": b64encode(os.urandom(32)),
        "wrapped_private_key": b64encode(os.urandom(72)),
        "previous_wrapped_private_key": b64encode(os.urandom(72)),
        **overrides,
    }


def own_file(h: Harness, name: str) -> str:
    """Insert a complete file owned by *name* straight in the database; return its id."""
    from coffer.protocol.ids import new_id

    file_id = new_id()
    with h.db.transaction() as tx:
        owner = tx.one("SELECT id FROM users WHERE name = ?", (name,))
        shard = tx.one("SELECT id FROM shards WHERE name = ?", ("default",))
        assert owner is not None and shard is not None
        tx.execute(
            "INSERT INTO files (id, owner_id, shard_id, size, chunk_count, chunk_size, metadata, sealed_key, state, "
            "created_at, expires_at) VALUES (?, ?, ?, 0, 0, 1024, '', 'old-seal', 'complete', ?, ?)",
            (file_id, owner["id"], shard["id"], h.clock(), h.clock() + 86400),
        )
    return file_id


def sealed_key(h: Harness, file_id: str) -> str:
    with h.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT sealed_key FROM files WHERE id = ?", (file_id,))
    assert row is not None
    return str(row["sealed_key"])


def test_a_rotation_swaps_password_and_pair_keeps_the_old_one_until_finished(
    harness: Harness, admin: str, people: People
) -> None:
    other_session = harness.login("alice")
    body = rotation(harness, "alice")
    started = harness.call("POST", "/api/me/keys/rotation", body, people.alice)
    assert started.status_code == 201, started.json
    me = harness.call("GET", "/api/me", token=people.alice).json
    assert me["public_key"] == body["public_key"] and me["key_origin"] == "rotation"
    assert me["previous_public_key"] == people.keys["alice"]
    assert me["previous_wrapped_private_key"] == body["previous_wrapped_private_key"]
    assert harness.call("GET", "/api/me", token=other_session).status_code == 401, "other sessions end"
    old_login = {"username": "alice", "auth_key": b64encode(harness._auth_keys["alice"])}
    assert harness.call("POST", "/api/auth/login", old_login).status_code == 401, "the old password is gone"
    assert harness.call("POST", "/api/auth/prelogin", {"username": "alice"}).json["salt"] == b64encode(NEW_SALT)
    done = harness.call("DELETE", "/api/me/keys/rotation", token=people.alice)
    assert done.status_code == 200 and done.json == {"stale_shares": []}
    me = harness.call("GET", "/api/me", token=people.alice).json
    assert me["previous_public_key"] is None and me["previous_wrapped_private_key"] is None


def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_login(
    harness: Harness, people: People
) -> None:
    wrong = harness.call(
        "POST", "/api/me/keys/rotation", rotation(harness, "alice", auth_key=b64encode(b"x" * 32)), people.alice
    )
    assert wrong.status_code == 401 and wrong.json["error"] == "bad_credentials"
    assert harness.call("GET", "/api/me", token=people.alice).json["public_key"] == people.keys["alice"]
    refusals = [e for e in audit.query(harness.db, user="alice") if e.action == "keys.rotated"]
    assert [e.outcome for e in refusals] == ["failed"]


def test_file_keys_are_taken_only_from_their_owner_and_only_mid_rotation(
    harness: Harness, admin: str, people: People
) -> None:
    mine, theirs = own_file(harness, "alice"), own_file(harness, "bob")
    page = {
        "keys": [
            {"file_id": mine, "sealed_key": b64encode(b"new-seal")},
            {"file_id": theirs, "sealed_key": b64encode(b"x")},
        ]
    }
    early = harness.call("PUT", "/api/me/keys/files", page, people.alice)
    assert early.status_code == 409 and early.json["error"] == "rotation_not_started"
    assert harness.call("POST", "/api/me/keys/rotation", rotation(harness, "alice"), people.alice).status_code == 201
    answer = harness.call("PUT", "/api/me/keys/files", page, people.alice)
    assert answer.status_code == 200 and answer.json == {"updated": 1}
    assert sealed_key(harness, mine) == b64encode(b"new-seal")
    assert sealed_key(harness, theirs) == "old-seal", "another user's file is not touched"


def test_shares_with_and_from_the_rotated_pair_go_stale_until_boxed_again(
    harness: Harness, admin: str, people: People
) -> None:
    alices, bobs = own_file(harness, "alice"), own_file(harness, "bob")
    box = {"share_key": b64encode(os.urandom(80))}
    assert harness.call(
        "PUT", f"/api/files/{alices}/shares/carol", box | {"public_key": people.keys["carol"]}, people.alice
    ).status_code in (200, 201)
    assert harness.call(
        "PUT", f"/api/files/{bobs}/shares/alice", box | {"public_key": people.keys["alice"]}, people.bob
    ).status_code in (200, 201)
    assert harness.call("POST", "/api/me/keys/rotation", rotation(harness, "alice"), people.alice).status_code == 201
    listed = harness.call("GET", f"/api/files/{alices}/shares", token=people.alice).json
    assert [(s["user"], s["stale"]) for s in listed] == [("carol", True)]
    done = harness.call("DELETE", "/api/me/keys/rotation", token=people.alice).json
    assert done == {"stale_shares": [{"file_id": bobs, "owner": "bob"}]}
    again = harness.call(
        "PUT", f"/api/files/{alices}/shares/carol", box | {"public_key": people.keys["carol"]}, people.alice
    )
    assert again.status_code in (200, 201)
    assert harness.call("GET", f"/api/files/{alices}/shares", token=people.alice).json[0]["stale"] is False


def test_an_unfinished_rotation_blocks_another_and_a_password_change(harness: Harness, people: People) -> None:
    assert harness.call("POST", "/api/me/keys/rotation", rotation(harness, "alice"), people.alice).status_code == 201
    harness._auth_keys["alice"] = b"n" * 32
    second = harness.call("POST", "/api/me/keys/rotation", rotation(harness, "alice"), people.alice)
    assert second.status_code == 409 and second.json["error"] == "rotation_unfinished"
    params = kdf.KdfParams(salt=os.urandom(16), **FAST_KDF)
    change = {
        "auth_key": b64encode(b"n" * 32),
        "salt": b64encode(params.salt),
        "new_auth_key": b64encode(kdf.derive(PASSWORD, params).auth_key),
        "wrapped_private_key": b64encode(os.urandom(72)),
    }
    refused = harness.call("POST", "/api/auth/password", change, people.alice)
    assert refused.status_code == 409 and refused.json["error"] == "rotation_unfinished"
