"""Accounts and sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import os

import nacl.pwhash.argon2id
import pytest

from coffer.format import kdf
from coffer.protocol.encoding import b64encode
from coffer.server.domain import accounts, audit

from .conftest import FAST_KDF, PASSWORD, Harness


def test_health_and_info_need_no_session(harness: Harness) -> None:
    assert harness.call("GET", "/api/health").json["status"] == "ok"
    info = harness.call("GET", "/api/info").json
    assert info["kid"] == harness.keys.signing.kid
    assert info["lease_seconds"] == 30


def test_login_with_the_derived_auth_key_opens_a_session(harness: Harness) -> None:
    token = harness.make_user("alice")
    sessions = harness.call("GET", "/api/auth/sessions", token=token)
    assert sessions.status_code == 200
    assert [s["current"] for s in sessions.json] == [True]


def test_prelogin_gives_the_users_salt_and_a_stable_fake_one_for_strangers(harness: Harness) -> None:
    harness.make_user("alice")
    real = harness.call("POST", "/api/auth/prelogin", {"username": "alice"}).json
    assert real["opslimit"] == FAST_KDF["opslimit"]
    fake1 = harness.call("POST", "/api/auth/prelogin", {"username": "mallory"}).json
    fake2 = harness.call("POST", "/api/auth/prelogin", {"username": "mallory"}).json
    assert fake1 == fake2
    assert fake1["salt"] != real["salt"]
    assert fake1["opslimit"] == kdf.OPSLIMIT


def test_wrong_key_and_unknown_user_get_the_same_answer(harness: Harness) -> None:
    harness.make_user("alice")
    wrong = harness.call("POST", "/api/auth/login", {"username": "alice", "auth_key": b64encode(b"x" * 32)})
    nobody = harness.call("POST", "/api/auth/login", {"username": "nobody", "auth_key": b64encode(b"x" * 32)})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json == nobody.json == {"error": "bad_credentials", "message": "wrong user name or password"}


def test_server_stores_neither_the_auth_key_nor_the_token(harness: Harness) -> None:
    params = kdf.KdfParams(salt=os.urandom(16), **FAST_KDF)
    auth_key = kdf.derive(PASSWORD, params).auth_key
    accounts.create_user(harness.db, "bob", "user", params.salt, auth_key, harness.clock(), params)
    token = harness.call("POST", "/api/auth/login", {"username": "bob", "auth_key": b64encode(auth_key)}).json["token"]
    with harness.db.transaction() as tx:
        dump = repr(tx.all("SELECT * FROM users")) + repr(tx.all("SELECT * FROM sessions"))
    assert b64encode(auth_key) not in dump and auth_key.hex() not in dump
    assert token not in dump


def test_logout_revokes_the_token_at_once(harness: Harness) -> None:
    token = harness.make_user("alice")
    assert harness.call("POST", "/api/auth/logout", token=token).status_code == 204
    after = harness.call("GET", "/api/auth/sessions", token=token)
    assert after.status_code == 401
    assert after.json["error"] == "session_invalid"


def test_a_session_can_revoke_another_of_the_same_user(harness: Harness) -> None:
    first = harness.make_user("alice")
    params = harness.call("POST", "/api/auth/prelogin", {"username": "alice"}).json
    from coffer.protocol.encoding import b64decode

    auth_key = kdf.derive(PASSWORD, kdf.KdfParams(b64decode(params["salt"]), **FAST_KDF)).auth_key
    second = harness.call("POST", "/api/auth/login", {"username": "alice", "auth_key": b64encode(auth_key)}).json
    first_id = [s["id"] for s in harness.call("GET", "/api/auth/sessions", token=first).json if s["current"]][0]
    assert harness.call("DELETE", f"/api/auth/sessions/{first_id}", token=second["token"]).status_code == 204
    assert harness.call("GET", "/api/auth/sessions", token=first).status_code == 401
    revoked = [e for e in audit.query(harness.db, user="alice") if e.action == "session.revoked"]
    assert [(e.outcome, e.detail["session"]) for e in revoked] == [("ok", first_id)]


def test_sessions_expire(harness: Harness) -> None:
    token = harness.make_user("alice")
    harness.clock.now += harness.settings.session_ttl + 1
    answer = harness.call("GET", "/api/files", token=token)
    assert answer.status_code == 401
    assert answer.json["error"] == "session_expired"


def test_requests_without_a_session_are_refused_with_json(harness: Harness) -> None:
    answer = harness.call("GET", "/api/files")
    assert answer.status_code == 401
    assert answer.json["error"] == "session_missing"
    garbage = harness.call("GET", "/api/files", token="not-a-token")
    assert garbage.status_code == 401


def test_admin_endpoints_refuse_plain_users(harness: Harness) -> None:
    token = harness.make_user("alice")
    answer = harness.call("GET", "/api/admin/fileservers", token=token)
    assert answer.status_code == 403
    assert answer.json["error"] == "forbidden"


def test_bad_usernames_and_keys_are_refused(harness: Harness) -> None:
    for name in ("../etc", "Alice", "", "a" * 65, 7):
        answer = harness.call("POST", "/api/auth/prelogin", {"username": name})
        assert answer.status_code == 400, name
        assert answer.json["error"] == "invalid_username"
    short = harness.call("POST", "/api/auth/login", {"username": "alice", "auth_key": b64encode(b"x" * 5)})
    assert short.status_code == 400
    assert short.json["error"] == "invalid_auth_key"


def test_malformed_json_is_a_clean_400(harness: Harness) -> None:
    answer = harness.client.simulate_post(
        "/api/auth/login", body=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_json"
    array = harness.client.simulate_post("/api/auth/login", body=b"[1]")
    assert array.status_code == 400


def test_unknown_routes_and_methods_answer_json(harness: Harness) -> None:
    missing = harness.call("GET", "/api/nope")
    assert missing.status_code == 404
    assert set(missing.json) == {"error", "message"}
    wrong_method = harness.call("DELETE", "/api/health")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json) == {"error", "message"}


def test_oversized_headers_are_refused_with_json(harness: Harness) -> None:
    answer = harness.call("GET", "/api/health", headers={"X-Big": "a" * 9000})
    assert answer.status_code == 431
    assert answer.json["error"] == "headers_too_large"


def test_the_server_stores_a_fast_hash_of_the_auth_key_so_a_login_costs_no_argon2id(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auth key is the client's Argon2id output; a second Argon2id per login let one account spend the CPU."""
    harness.make_user("alice")
    with harness.db.transaction(readonly=True) as tx:
        stored = tx.one("SELECT auth_hash FROM users WHERE name = 'alice'")
    assert stored is not None and stored["auth_hash"].startswith(accounts.AUTH_HASH_PREFIX)
    runs: list[str] = []
    monkeypatch.setattr(nacl.pwhash.argon2id, "verify", lambda *a: runs.append("verify"))
    monkeypatch.setattr(nacl.pwhash.argon2id, "str", lambda *a: runs.append("str"))
    for _ in range(5):
        harness.login("alice")
    wrong = {"username": "alice", "auth_key": b64encode(b"w" * 32)}
    nobody = {"username": "nobody", "auth_key": b64encode(b"w" * 32)}
    assert harness.call("POST", "/api/auth/login", wrong).status_code == 401
    assert harness.call("POST", "/api/auth/login", nobody).status_code == 401
    assert runs == [], "no login, right or wrong, known name or not, runs Argon2id on the server"


def test_an_argon2id_hash_from_before_still_logs_in_and_is_replaced_by_the_fast_one(harness: Harness) -> None:
    harness.make_user("alice")
    auth_key = harness._auth_keys["alice"]
    with harness.db.transaction() as tx:
        tx.execute(
            "UPDATE users SET auth_hash = ? WHERE name = 'alice'", (nacl.pwhash.argon2id.str(auth_key).decode(),)
        )
    wrong = {"username": "alice", "auth_key": b64encode(b"w" * 32)}
    assert harness.call("POST", "/api/auth/login", wrong).status_code == 401
    harness.login("alice")
    with harness.db.transaction(readonly=True) as tx:
        stored = tx.one("SELECT auth_hash FROM users WHERE name = 'alice'")
    assert stored is not None and stored["auth_hash"].startswith(accounts.AUTH_HASH_PREFIX)
    harness.login("alice")
