"""User keys, password change, sealed file keys, final metadata and deletion."""

from __future__ import annotations

import os

from coffer.format import kdf
from coffer.protocol.encoding import b64decode, b64encode
from coffer.server.domain import audit

from .conftest import FAST_KDF, PASSWORD, Harness

KEYS = {"public_key": b64encode(os.urandom(32)), "wrapped_private_key": b64encode(os.urandom(72))}


def test_keys_are_set_once_and_returned_by_me(harness: Harness) -> None:
    token = harness.make_user("alice")
    assert harness.call("GET", "/api/me", token=token).json["public_key"] is None
    assert harness.call("PUT", "/api/me/keys", KEYS, token).status_code == 204
    me = harness.call("GET", "/api/me", token=token).json
    assert (me["name"], me["public_key"], me["wrapped_private_key"]) == (
        "alice",
        KEYS["public_key"],
        KEYS["wrapped_private_key"],
    )
    again = harness.call("PUT", "/api/me/keys", KEYS, token)
    assert again.status_code == 409
    assert again.json["error"] == "keys_exist"


def test_malformed_keys_are_refused(harness: Harness) -> None:
    token = harness.make_user("alice")
    for body in (
        {"public_key": b64encode(b"x" * 31), "wrapped_private_key": KEYS["wrapped_private_key"]},
        {"public_key": KEYS["public_key"], "wrapped_private_key": b64encode(b"x" * 10)},
        {"public_key": KEYS["public_key"]},
    ):
        assert harness.call("PUT", "/api/me/keys", body, token).status_code == 400
    assert harness.call("GET", "/api/me", token=token).json["public_key"] is None


def _password_body(old: bytes, new_password: str, wrapped: bytes) -> tuple[dict[str, object], kdf.KdfParams]:
    params = kdf.KdfParams(salt=os.urandom(16))
    return {
        "auth_key": b64encode(old),
        "salt": b64encode(params.salt),
        "new_auth_key": b64encode(kdf.derive(new_password, params).auth_key),
        "wrapped_private_key": b64encode(wrapped),
    }, params


def test_password_change_rewraps_the_key_and_ends_other_sessions(harness: Harness) -> None:
    token = harness.make_user("alice")
    harness.call("PUT", "/api/me/keys", KEYS, token)
    pre = harness.call("POST", "/api/auth/prelogin", {"username": "alice"}).json
    from coffer.protocol.encoding import b64decode

    old = kdf.derive(PASSWORD, kdf.KdfParams(b64decode(pre["salt"]), **FAST_KDF)).auth_key
    other = harness.call("POST", "/api/auth/login", {"username": "alice", "auth_key": b64encode(old)}).json["token"]
    rewrapped = os.urandom(72)
    body, params = _password_body(old, "a new password", rewrapped)
    assert harness.call("POST", "/api/auth/password", body, token).status_code == 204
    me = harness.call("GET", "/api/me", token=token).json
    assert me["wrapped_private_key"] == b64encode(rewrapped)
    assert me["public_key"] == KEYS["public_key"], "the key pair stays: files need no change"
    assert harness.call("GET", "/api/me", token=other).status_code == 401
    new_key = kdf.derive("a new password", params).auth_key
    assert (
        harness.call("POST", "/api/auth/login", {"username": "alice", "auth_key": b64encode(new_key)}).status_code
        == 200
    )
    assert harness.call("POST", "/api/auth/login", {"username": "alice", "auth_key": b64encode(old)}).status_code == 401


def test_password_change_needs_the_current_password(harness: Harness) -> None:
    token = harness.make_user("alice")
    harness.call("PUT", "/api/me/keys", KEYS, token)
    body, _ = _password_body(os.urandom(32), "a new password", os.urandom(72))
    answer = harness.call("POST", "/api/auth/password", body, token)
    assert answer.status_code == 401
    assert answer.json["error"] == "bad_credentials"


def test_password_changes_are_audited_and_guessing_the_current_one_is_throttled_like_a_login(
    harness: Harness,
) -> None:
    token = harness.make_user("alice")
    harness.call("PUT", "/api/me/keys", KEYS, token)
    wrong, _ = _password_body(os.urandom(32), "a new password", os.urandom(72))
    codes = [harness.call("POST", "/api/auth/password", wrong, token).status_code for _ in range(12)]
    assert codes[0] == 401 and codes[-1] == 429, "a stolen session cannot guess the password at the request rate"
    events = [e for e in audit.query(harness.db, user="alice") if e.action == "password.changed"]
    assert events and {e.outcome for e in events} <= {"failed", "throttled", "locked"}
    assert sum(1 + e.detail.get("repeats", 0) for e in events) == 12


def test_a_successful_password_change_is_audited_with_the_sessions_it_ended(harness: Harness) -> None:
    token = harness.make_user("alice")
    harness.login("alice")
    harness.call("PUT", "/api/me/keys", KEYS, token)
    pre = harness.call("POST", "/api/auth/prelogin", {"username": "alice"}).json
    old = kdf.derive(PASSWORD, kdf.KdfParams(b64decode(pre["salt"]), **FAST_KDF)).auth_key
    body, _ = _password_body(old, "a new password", os.urandom(72))
    assert harness.call("POST", "/api/auth/password", body, token).status_code == 204
    (event,) = [e for e in audit.query(harness.db, user="alice") if e.action == "password.changed"]
    assert (event.outcome, event.detail) == ("ok", {"sessions_ended": 1})


def _upload(harness: Harness, token: str, fs: object) -> str:
    from .test_files import _finalize_body, _new_file

    record = _new_file(harness, token, chunks=1, sealed_key=b64encode(b"k" * 80)).json
    body = _finalize_body(fs, record["id"], [os.urandom(1024)], harness.clock())  # type: ignore[arg-type]
    body["metadata"] = b64encode(b"final sealed metadata")
    done = harness.call("POST", f"/api/files/{record['id']}/finalize", body, token).json
    assert done["metadata"] == b64encode(b"final sealed metadata")
    assert done["sealed_key"] == b64encode(b"k" * 80)
    return str(record["id"])


def test_finalize_replaces_the_placeholder_metadata(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    _upload(harness, harness.make_user("alice"), fs)


def test_deleting_a_file_drops_its_records_and_orders_a_purge(harness: Harness, admin: str) -> None:
    fs = harness.fileserver(admin)
    harness.register(fs)
    token = harness.make_user("alice")
    file_id = _upload(harness, token, fs)
    stranger = harness.make_user("bob")
    assert harness.call("DELETE", f"/api/files/{file_id}", token=stranger).status_code == 404
    assert harness.call("DELETE", f"/api/files/{file_id}", token=token).status_code == 204
    assert harness.call("GET", f"/api/files/{file_id}", token=token).status_code == 404
    with harness.db.transaction() as tx:
        assert tx.all("SELECT * FROM chunks") == []
        assert len(tx.all("SELECT * FROM chunk_locations")) == 1, "kept until the fileserver confirms"
        assert [r["file_id"] for r in tx.all("SELECT file_id FROM purges")] == [file_id]
    assert harness.call("DELETE", f"/api/files/{file_id}", token=token).status_code == 404


def test_oversized_sealed_key_is_refused(harness: Harness, admin: str) -> None:
    from .test_files import _new_file

    token = harness.make_user("alice")
    answer = _new_file(harness, token, sealed_key=b64encode(b"k" * 300))
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_sealed_key"
