"""The server's answers to registration and heartbeats, as the fileserver agent reads them."""

from __future__ import annotations

import uuid

import pytest

from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import (
    MAX_PURGES,
    MAX_REVOKED_TICKETS,
    FilePurge,
    HeartbeatAnswer,
    RegistrationAnswer,
    parse_heartbeat_answer,
    parse_registration_answer,
    parse_revoked_tickets,
)

FS = "0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b"


def test_a_registration_answer_round_trips() -> None:
    answer = RegistrationAnswer(FS, 30.0, 10.0)
    assert parse_registration_answer(answer.to_json()) == answer


@pytest.mark.parametrize("interval", [0, -1, True, "10", None])
def test_an_unusable_heartbeat_interval_is_ignored_not_refused(interval: object) -> None:
    assert parse_registration_answer({"fileserver_id": FS, "heartbeat_interval": interval}).heartbeat_interval is None


def test_a_registration_answer_with_a_malformed_id_is_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_registration_answer({"fileserver_id": "not-an-id"})


def test_a_heartbeat_answer_round_trips() -> None:
    answer = HeartbeatAnswer(30.0, 1000.5, {FS: 2000}, [FilePurge("hq", FS)])
    assert parse_heartbeat_answer(answer.to_json()) == answer


def test_an_old_servers_bare_heartbeat_answer_changes_nothing() -> None:
    assert parse_heartbeat_answer({}) == HeartbeatAnswer(None, None)


def test_a_heartbeat_answer_carries_up_to_the_limit_of_revocations() -> None:
    entries = [{"jti": str(uuid.UUID(int=i, version=4)), "exp": 1} for i in range(MAX_REVOKED_TICKETS)]
    assert len(parse_heartbeat_answer({"revoked_tickets": entries}).revoked_tickets) == MAX_REVOKED_TICKETS
    with pytest.raises(ProtocolError, match=f"at most {MAX_REVOKED_TICKETS}"):
        parse_revoked_tickets([*entries, entries[0]])


def test_a_heartbeat_answer_carries_up_to_the_limit_of_purge_orders() -> None:
    orders = [{"shard": "hq", "file": FS}] * MAX_PURGES
    assert len(parse_heartbeat_answer({"purge": orders}).purge) == MAX_PURGES
    with pytest.raises(ProtocolError, match=f"at most {MAX_PURGES}"):
        parse_heartbeat_answer({"purge": [*orders, orders[0]]})


@pytest.mark.parametrize("revoked", ["not a list", [{"jti": FS, "exp": "soon"}], [{"jti": "x", "exp": 1}], [1]])
def test_a_malformed_revocation_list_is_refused(revoked: object) -> None:
    with pytest.raises(ProtocolError):
        parse_heartbeat_answer({"revoked_tickets": revoked})
