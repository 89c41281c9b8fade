"""Invitations through the API, on SQLite and PostgreSQL: the invited user's client makes every secret."""

from __future__ import annotations

import functools
import hashlib
import os
import re
from typing import Any

import falcon.testing
import pytest

from coffer.format import kdf
from coffer.format.keys import UserKeys, wrap_private_key
from coffer.protocol.encoding import b64encode
from coffer.server.domain import audit

from .conftest import FAST_KDF, PASSWORD, Harness


def invite(h: Harness, admin: str, name: str, **fields: Any) -> falcon.testing.Result:
    return h.call("POST", "/api/admin/invitations", {"username": name, **fields}, admin)


@functools.cache
def _derived(password: str) -> tuple[kdf.KdfParams, kdf.PasswordKeys]:
    """One Argon2id run at the default cost (the least a join may use), shared by the tests."""
    params = kdf.KdfParams(salt=os.urandom(16))
    return params, kdf.derive(password, params)


def join_body(code: str, password: str = PASSWORD) -> tuple[dict[str, Any], bytes, UserKeys]:
    """What ``coffer join`` sends; with the auth key and the key pair it made."""
    params, derived = _derived(password)
    pair = UserKeys.generate()
    body = {
        "code": code,
        "salt": b64encode(params.salt),
        "opslimit": params.opslimit,
        "memlimit": params.memlimit,
        "auth_key": b64encode(derived.auth_key),
        "public_key": b64encode(pair.public),
        "wrapped_private_key": b64encode(wrap_private_key(derived.master_key, pair)),
    }
    return body, derived.auth_key, pair


def join(h: Harness, code: str, **kw: Any) -> falcon.testing.Result:
    return h.call("POST", "/api/auth/join", join_body(code)[0], **kw)


def test_an_invited_user_joins_with_keys_their_client_made_and_logs_in(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    invited = invite(harness, admin, "carol", role="admin", expires_in=3600)
    assert invited.status_code == 201
    assert invited.json["username"] == "carol" and invited.json["role"] == "admin"
    assert invited.json["expires_at"] == harness.clock() + 3600
    body, auth_key, pair = join_body(invited.json["code"])
    joined = harness.call("POST", "/api/auth/join", body)
    assert joined.status_code == 201, joined.json
    assert joined.json["name"] == "carol" and joined.json["role"] == "admin"
    login = harness.call("POST", "/api/auth/login", {"username": "carol", "auth_key": b64encode(auth_key)})
    assert login.status_code == 200
    me = harness.call("GET", "/api/me", token=login.json["token"]).json
    assert me["public_key"] == b64encode(pair.public)
    assert me["wrapped_private_key"] == body["wrapped_private_key"]
    assert me["key_origin"] == "invitation"


def test_a_code_is_hex_so_it_never_reads_as_an_option_on_a_command_line(harness: Harness) -> None:
    """A base64url code began with '-' one time in 64, and `coffer join SERVER -Xy…` took it for an option."""
    admin = harness.make_user("root", "admin")
    codes = [invite(harness, admin, f"user{i}").json["code"] for i in range(20)]
    assert all(re.fullmatch(r"[0-9a-f]{48}", code) for code in codes), codes


def test_the_server_keeps_only_a_hash_of_the_code(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    code = invite(harness, admin, "carol").json["code"]
    with harness.db.transaction(readonly=True) as tx:
        dump = repr(tx.all("SELECT * FROM invitations")) + repr(tx.all("SELECT * FROM audit_log"))
    assert code not in dump
    assert hashlib.sha256(code.encode()).hexdigest() in dump


def test_a_code_works_once(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    code = invite(harness, admin, "carol").json["code"]
    assert join(harness, code).status_code == 201
    again = join(harness, code)
    assert again.status_code == 401 and again.json["error"] == "invitation_invalid"


def test_an_expired_code_is_refused_and_says_to_ask_for_a_new_one(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    code = invite(harness, admin, "carol", expires_in=60).json["code"]
    harness.clock.now += 61
    late = join(harness, code)
    assert late.status_code == 401 and late.json["error"] == "invitation_expired"
    assert "ask your administrator for a new one" in late.json["message"]
    assert harness.call("POST", "/api/auth/prelogin", {"username": "carol"}).json["opslimit"] == kdf.OPSLIMIT


def test_an_unknown_code_is_refused_and_creates_nobody(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    invite(harness, admin, "carol")
    wrong = join(harness, "x" * 32)
    assert wrong.status_code == 401 and wrong.json["error"] == "invitation_invalid"
    users = harness.call("GET", "/api/admin/users", token=admin).json
    assert [u["name"] for u in users] == ["root"]


def test_a_new_invitation_replaces_the_open_one_for_the_same_name(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    first = invite(harness, admin, "carol").json["code"]
    second = invite(harness, admin, "carol").json["code"]
    assert join(harness, first).json["error"] == "invitation_invalid"
    assert join(harness, second).status_code == 201


def test_an_existing_name_cannot_be_invited(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    harness.make_user("alice")
    taken = invite(harness, admin, "alice")
    assert taken.status_code == 409 and taken.json["error"] == "user_exists"


def test_only_an_administrator_invites(harness: Harness) -> None:
    user = harness.make_user("alice")
    assert invite(harness, user, "carol").status_code == 403
    assert harness.call("POST", "/api/admin/invitations", {"username": "carol"}).status_code == 401


@pytest.mark.parametrize(
    ("fields", "code"),
    [({"role": "king"}, "invalid_role"), ({"expires_in": 31 * 86400}, "invalid_expires_in"), ({}, None)],
)
def test_an_invitations_role_and_lifetime_are_checked(harness: Harness, fields: dict[str, Any], code: str) -> None:
    admin = harness.make_user("root", "admin")
    answer = invite(harness, admin, "carol", **fields)
    assert answer.json.get("error") == code
    assert answer.status_code == (400 if code else 201)


def test_users_made_by_an_administrators_client_are_refused(harness: Harness) -> None:
    """The old ``POST /api/admin/users``: a salt, auth key and key pair made on the administrator's machine."""
    admin = harness.make_user("root", "admin")
    params = kdf.KdfParams(salt=os.urandom(16), **FAST_KDF)
    derived = kdf.derive(PASSWORD, params)
    pair = UserKeys.generate()
    body = {
        "username": "carol",
        "role": "user",
        "salt": b64encode(params.salt),
        "auth_key": b64encode(derived.auth_key),
        "public_key": b64encode(pair.public),
        "wrapped_private_key": b64encode(wrap_private_key(derived.master_key, pair)),
    }
    refused = harness.call("POST", "/api/admin/users", body, admin)
    assert refused.status_code == 410 and refused.json["error"] == "use_invitation"
    assert "coffer admin user invite" in refused.json["message"]
    assert [u["name"] for u in harness.call("GET", "/api/admin/users", token=admin).json] == ["root"]


def test_inviting_and_joining_are_audited_without_the_code(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    code = invite(harness, admin, "carol").json["code"]
    join(harness, code)
    events = {e.action: e for e in audit.query(harness.db, user="carol") if e.action.startswith("user.")}
    assert events["user.invited"].actor == "root" and events["user.invited"].detail["role"] == "user"
    assert events["user.joined"].actor == "carol"


def test_wrong_codes_are_counted_and_slowed_per_address_like_logins(database_url: str) -> None:
    h = Harness(database_url, login_free_failures=2, login_lock_failures=4, login_lock_seconds=600.0)
    try:
        admin = h.make_user("root", "admin")
        code = invite(h, admin, "carol").json["code"]
        answers = [join(h, f"guess-{n:026d}") for n in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 429], "two free failures, then a wait"
        assert answers[-1].json["error"] == "login_throttled"
        assert join(h, code).status_code == 429, "even the right code waits from this address"
        other = join(h, code, remote_addr="10.1.2.3")
        assert other.status_code == 201, "another address was never slowed"
        refusals = [e for e in audit.query(h.db) if e.action == "user.joined" and e.outcome != "ok"]
        assert refusals, "the refusals are audited"
    finally:
        h.db.close()


def test_open_invitations_are_listed_without_codes_and_can_be_withdrawn(harness: Harness) -> None:
    admin = harness.make_user("root", "admin")
    carols = invite(harness, admin, "carol").json["code"]
    invite(harness, admin, "dave", role="admin", expires_in=60)
    spent = invite(harness, admin, "erin").json["code"]
    assert join(harness, spent).status_code == 201
    listed = harness.call("GET", "/api/admin/invitations", token=admin)
    assert listed.status_code == 200
    assert [(i["username"], i["role"], i["created_by"]) for i in listed.json] == [
        ("carol", "user", "root"),
        ("dave", "admin", "root"),
    ]
    assert carols not in repr(listed.json)
    harness.clock.now += 61
    assert [i["username"] for i in harness.call("GET", "/api/admin/invitations", token=admin).json] == ["carol"]
    assert harness.call("DELETE", "/api/admin/invitations/carol", token=admin).status_code == 204
    assert join(harness, carols).json["error"] == "invitation_invalid", "a withdrawn code no longer works"
    again = harness.call("DELETE", "/api/admin/invitations/carol", token=admin)
    assert again.status_code == 404 and again.json["error"] == "invitation_not_found"
    user = harness.make_user("alice")
    assert harness.call("GET", "/api/admin/invitations", token=user).status_code == 403
    assert harness.call("DELETE", "/api/admin/invitations/dave", token=user).status_code == 403
