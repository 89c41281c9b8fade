"""Administration messages: a new user, an applied config, a rotation, checked as the server always did."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.admin import (
    MAX_GRACE_SECONDS,
    MAX_LISTED_FILESERVERS,
    Apply,
    NewUser,
    RegisteredFileserver,
    Rotate,
    parse_fileservers,
)
from coffer.protocol.api.auth import WrappedKeys
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import MAX_SHARDS


def refusal(parse: Any, body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert info.value.status == 400
    return info.value.code, info.value.message


def test_a_new_user_round_trips_with_and_without_keys() -> None:
    user = NewUser("bob", "admin", bytes(16), bytes(32), WrappedKeys(bytes(32), bytes(72)))
    assert NewUser.parse(user.to_json()) == user
    bare = NewUser("bob", "user", bytes(16), bytes(32))
    assert NewUser.parse(bare.to_json()) == bare


def test_a_new_users_fields_are_checked_salt_first() -> None:
    body = {"username": "Bad Name", "role": "king", "salt": b64encode(bytes(15)), "auth_key": b64encode(bytes(32))}
    assert refusal(NewUser.parse, body) == ("invalid_salt", "'salt' must be 16 bytes")
    body["salt"] = b64encode(bytes(16))
    assert refusal(NewUser.parse, body)[0] == "invalid_username"
    body["username"] = "bob"
    assert refusal(NewUser.parse, body) == ("invalid_role", "role must be one of admin, user")


def test_apply_refuses_a_flag_that_is_not_a_boolean() -> None:
    assert Apply.parse({"config": {}, "prune": True}) == Apply({}, prune=True)
    assert refusal(Apply.parse, {"dry_run": "yes"}) == ("bad_request", "'prune' and 'dry_run' must be true or false")


@pytest.mark.parametrize("grace", [-1, MAX_GRACE_SECONDS + 1, True, "60"])
def test_a_rotation_grace_outside_thirty_days_is_refused(grace: object) -> None:
    assert refusal(Rotate.parse, {"grace_seconds": grace}) == (
        "invalid_grace",
        "'grace_seconds' must be a number from 0 to 2592000",
    )


def test_a_rotation_may_keep_the_old_credential_thirty_days() -> None:
    assert Rotate.parse({"grace_seconds": MAX_GRACE_SECONDS}).grace_seconds == MAX_GRACE_SECONDS
    assert Rotate.parse({}).to_json() == {"grace_seconds": 0}


def fileserver(shards: int = 1) -> dict[str, Any]:
    shard = {"name": "hq", "read": True, "write": False, "backend": None, "free_bytes": None}
    return {
        "id": "fs-1",
        "url": "http://127.0.0.1:8101",
        "cluster": "main",
        "live": True,
        "last_seen": 2.5,
        "registered_at": 1,
        "version": None,
        "shards": [shard] * shards,
        "load": {"active_transfers": 0, "bytes_per_s": 0.0, "free_bytes": None, "chunk_count": None},
    }


def test_a_registered_fileserver_round_trips_in_the_servers_field_order() -> None:
    body = fileserver()
    assert RegisteredFileserver.parse(body).to_json() == body
    assert list(RegisteredFileserver.parse(body).to_json()) == list(body)


def test_a_fileserver_lists_at_most_the_shards_it_may_announce() -> None:
    assert len(RegisteredFileserver.parse(fileserver(MAX_SHARDS)).shards) == MAX_SHARDS
    with pytest.raises(ProtocolError) as info:
        RegisteredFileserver.parse(fileserver(MAX_SHARDS + 1))
    assert info.value.code == "invalid_answer"


def test_the_fileserver_listing_holds_at_most_its_limit() -> None:
    body = fileserver()
    assert len(parse_fileservers([body] * MAX_LISTED_FILESERVERS)) == MAX_LISTED_FILESERVERS
    with pytest.raises(ProtocolError) as info:
        parse_fileservers([body] * (MAX_LISTED_FILESERVERS + 1))
    assert info.value.code == "invalid_answer"
