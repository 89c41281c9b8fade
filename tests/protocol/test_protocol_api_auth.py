"""Login and key-pair messages: the server's checks, with the codes and messages it always answered."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol import kdf
from coffer.protocol.api.auth import (
    MAX_SESSIONS,
    Account,
    ChangePassword,
    KdfAnswer,
    Login,
    Me,
    Prelogin,
    ServerInfo,
    Session,
    SessionEntry,
    WrappedKeys,
    parse_sessions,
)
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError


def test_a_login_round_trips() -> None:
    login = Login("alice", bytes(range(32)))
    assert Login.parse(login.to_json()) == login


def test_wrapped_keys_round_trip_at_the_largest_wrapped_key() -> None:
    keys = WrappedKeys(bytes(32), bytes(256))
    assert WrappedKeys.parse(keys.to_json()) == keys


@pytest.mark.parametrize(
    ("parse", "body", "code", "message"),
    [
        (
            Login.parse,
            {"username": "alice", "auth_key": b64encode(bytes(31))},
            "invalid_auth_key",
            "'auth_key' must be 32 bytes",
        ),
        (Login.parse, {"username": "alice", "auth_key": "!"}, "invalid_auth_key", "'auth_key' must be base64url"),
        (
            WrappedKeys.parse,
            {"public_key": b64encode(bytes(32)), "wrapped_private_key": b64encode(bytes(257))},
            "invalid_wrapped_private_key",
            "'wrapped_private_key' must be 40 to 256 bytes",
        ),
    ],
)
def test_a_bad_auth_body_is_refused(parse: Any, body: dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert (info.value.code, info.value.message, info.value.status) == (code, message, 400)


def test_a_prelogin_names_a_valid_user() -> None:
    assert Prelogin.parse(Prelogin("alice").to_json()) == Prelogin("alice")
    with pytest.raises(ProtocolError) as info:
        Prelogin.parse({"username": "Not A Name"})
    assert info.value.code == "invalid_username"


def test_a_kdf_answer_round_trips_and_a_malformed_one_is_invalid_kdf() -> None:
    answer = KdfAnswer(b64encode(bytes(16)), 3, 64 << 20)
    assert KdfAnswer.parse(answer.to_json()) == answer
    broken_answers: list[object] = [
        {"salt": "AA", "opslimit": "3", "memlimit": 1},
        {"opslimit": 3, "memlimit": True},
        [],
    ]
    for broken in broken_answers:
        with pytest.raises(ProtocolError) as info:
            KdfAnswer.parse(broken)
        assert (info.value.code, info.value.message) == (
            "invalid_kdf",
            "the server sent malformed key derivation parameters",
        )


def test_a_session_and_an_account_round_trip_in_the_servers_field_order() -> None:
    account = Account("0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b", "alice", "user", 12.5)
    session = Session("token", 99.0, account)
    assert list(session.to_json()) == ["token", "expires_at", "user"]
    assert Session.parse(session.to_json()) == session
    me = Me(account, None, None)
    assert list(me.to_json()) == [
        *["id", "name", "role", "created_at", "public_key", "wrapped_private_key", "key_origin"],
        *["previous_public_key", "previous_wrapped_private_key"],
    ]
    assert Me.parse(me.to_json()) == me
    with pytest.raises(ProtocolError) as info:
        Session.parse({"token": 5, "expires_at": 1, "user": account.to_json()})
    assert info.value.code == "invalid_answer"


def test_a_password_change_round_trips_and_is_checked_salt_first() -> None:
    change = ChangePassword(bytes(32), kdf.KdfParams(bytes(16)), bytes(range(32)), bytes(40))
    body = change.to_json()
    assert list(body) == ["auth_key", "salt", "opslimit", "memlimit", "new_auth_key", "wrapped_private_key"]
    assert ChangePassword.parse(body) == change
    with pytest.raises(ProtocolError) as info:
        ChangePassword.parse(body | {"salt": "AA", "auth_key": "AA"})
    assert info.value.code == "invalid_salt"
    for weak in ({"opslimit": 2}, {"memlimit": 1 << 31}, {"opslimit": True}):
        with pytest.raises(ProtocolError) as info:
            ChangePassword.parse(body | weak | {"auth_key": "AA"})
        assert info.value.code == "invalid_kdf"
    with pytest.raises(ProtocolError) as info:
        ChangePassword.parse(body | {"wrapped_private_key": b64encode(bytes(257))})
    assert (info.value.code, info.value.message) == (
        "invalid_wrapped_private_key",
        "'wrapped_private_key' must be 40 to 256 bytes",
    )


INFO = {
    "version": "0.1.0",
    "public_key": "ed25519:abc",
    "kid": "k1",
    "lease_seconds": 30.0,
    "heartbeat_interval": 10,
    "max_chunk_size": 16777216,
    "default_chunk_size": 4194304,
    "max_retention": 2592000.0,
}
SESSION = {"id": "s-1", "created_at": 1.0, "expires_at": 2, "current": True}


def test_the_server_info_round_trips_in_the_servers_field_order() -> None:
    assert list(ServerInfo.parse(INFO).to_json().items()) == list(INFO.items())
    with pytest.raises(ProtocolError) as info:
        ServerInfo.parse(INFO | {"max_chunk_size": 1.5})
    assert info.value.code == "invalid_answer"


def test_the_session_listing_holds_at_most_its_limit() -> None:
    assert [s.to_json() for s in parse_sessions([SESSION])] == [SESSION]
    assert len(parse_sessions([SESSION] * MAX_SESSIONS)) == MAX_SESSIONS
    for bad in ([SESSION] * (MAX_SESSIONS + 1), [SESSION | {"current": 1}]):
        with pytest.raises(ProtocolError) as info:
            parse_sessions(bad)
        assert info.value.code == "invalid_answer"
    assert SessionEntry.parse(SESSION).current
