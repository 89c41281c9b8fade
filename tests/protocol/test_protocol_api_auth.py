"""Login and key-pair messages: the server's checks, with the codes and messages it always answered."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.auth import Login, WrappedKeys
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
