"""Invitation messages: what an administrator sends (no secret) and what the invited user's client sends."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol import kdf
from coffer.protocol.api.auth import WrappedKeys
from coffer.protocol.api.invitations import (
    DEFAULT_INVITE_SECONDS,
    MAX_INVITE_SECONDS,
    Invitation,
    Invite,
    Join,
    OpenInvitation,
    check_code,
    parse_open_invitations,
)
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError

CODE = "A" * 32


def refusal(parse: Any, body: Any) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as info:
        parse(body)
    assert info.value.status == 400
    return info.value.code, info.value.message


def a_join() -> Join:
    return Join(CODE, kdf.KdfParams(salt=bytes(16)), bytes(32), WrappedKeys(bytes(range(32)), bytes(72)))


def test_an_invite_carries_a_name_a_role_and_a_lifetime_and_nothing_secret() -> None:
    invite = Invite("carol", "admin", 3600.0)
    assert invite.to_json() == {"username": "carol", "role": "admin", "expires_in": 3600.0}
    assert Invite.parse(invite.to_json()) == invite
    assert Invite.parse({"username": "carol"}) == Invite("carol", "user", DEFAULT_INVITE_SECONDS)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"username": "Carol"}, "invalid_username"),
        ({"username": "carol", "role": "root"}, "invalid_role"),
        ({"username": "carol", "expires_in": MAX_INVITE_SECONDS + 1}, "invalid_expires_in"),
        ({"username": "carol", "expires_in": 59}, "invalid_expires_in"),
        ({"username": "carol", "expires_in": True}, "invalid_expires_in"),
    ],
)
def test_an_invite_is_refused_field_by_field(body: dict[str, Any], code: str) -> None:
    assert refusal(Invite.parse, body)[0] == code


def test_an_invitation_answer_round_trips_and_a_malformed_one_is_refused() -> None:
    answer = Invitation("carol", "user", CODE, 1.5)
    assert Invitation.parse(answer.to_json()) == answer
    with pytest.raises(ProtocolError) as info:
        Invitation.parse({"username": "carol", "role": "user", "expires_at": 1.5})
    assert info.value.code == "invalid_answer"


def test_a_join_round_trips_with_every_secret_the_client_made() -> None:
    join = a_join()
    body = join.to_json()
    assert set(body) == {"code", "salt", "opslimit", "memlimit", "auth_key", "public_key", "wrapped_private_key"}
    assert Join.parse(body) == join


def test_a_join_checks_the_code_first_then_the_kdf_then_the_keys() -> None:
    body = a_join().to_json() | {"code": "short", "opslimit": 1, "public_key": b64encode(bytes(31))}
    assert refusal(Join.parse, body)[0] == "invalid_code"
    body["code"] = CODE
    assert refusal(Join.parse, body)[0] == "invalid_kdf"
    body["opslimit"] = kdf.OPSLIMIT
    assert refusal(Join.parse, body)[0] == "invalid_public_key"


@pytest.mark.parametrize("code", [None, 7, "", "x" * 15, "x" * 129, "é" * 20])
def test_a_code_of_the_wrong_shape_is_refused(code: object) -> None:
    assert refusal(check_code, code)[0] == "invalid_code"


def test_an_open_invitation_listing_round_trips_and_holds_no_code() -> None:
    listed = OpenInvitation("carol", "user", None, 1.0, 2.0)
    assert set(listed.to_json()) == {"username", "role", "created_by", "created_at", "expires_at"}
    assert parse_open_invitations([listed.to_json()]) == [listed]
    with pytest.raises(ProtocolError):
        parse_open_invitations([{"username": "carol"}])
