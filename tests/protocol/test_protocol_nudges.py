"""Nudges: the server's signed word that copy work waits for a site, honoured by that cluster's fileservers alone."""

from __future__ import annotations

import pytest

from coffer.protocol import copies, nudges
from coffer.protocol.errors import ProtocolError
from coffer.protocol.signing import SigningKey
from coffer.protocol.tickets import TicketError, TicketExpired, TicketScope, TicketUnknownKey

NOW = 1_700_000_000
CLUSTER = "11111111-1111-4111-8111-111111111111"
OTHER_CLUSTER = "22222222-2222-4222-a222-222222222222"
SERVER = SigningKey(bytes(range(32)))
KEYS = {SERVER.kid: SERVER.public_key}


def test_a_nudge_the_server_signed_for_this_cluster_is_honoured_until_it_expires() -> None:
    token = nudges.issue(SERVER, CLUSTER, NOW)
    assert len(token) <= nudges.MAX_TOKEN_LENGTH
    nudge = nudges.verify(token, KEYS, CLUSTER, NOW + nudges.NUDGE_TTL)
    assert (nudge.cluster, nudge.iat, nudge.exp) == (CLUSTER, NOW, NOW + nudges.NUDGE_TTL)
    with pytest.raises(TicketExpired):
        nudges.verify(token, KEYS, CLUSTER, NOW + nudges.NUDGE_TTL + 1)


def test_a_nudge_for_another_cluster_is_refused() -> None:
    with pytest.raises(TicketScope):
        nudges.verify(nudges.issue(SERVER, OTHER_CLUSTER, NOW), KEYS, CLUSTER, NOW)


def test_a_nudge_signed_by_another_key_or_as_another_kind_of_token_is_refused() -> None:
    stranger = SigningKey.generate()
    with pytest.raises(TicketUnknownKey):
        nudges.verify(nudges.issue(stranger, CLUSTER, NOW), KEYS, CLUSTER, NOW)
    forged = stranger.sign(nudges.KIND, {"v": 1, "kid": SERVER.kid, "cluster": CLUSTER, "iat": NOW, "exp": NOW + 30})
    with pytest.raises(TicketError):
        nudges.verify(forged, KEYS, CLUSTER, NOW)
    # The same payload signed as a copy ticket is not a nudge: the kind is part of what is signed.
    other_kind = SERVER.sign(copies.KIND, {"v": 1, "kid": SERVER.kid, "cluster": CLUSTER, "iat": NOW, "exp": NOW + 30})
    with pytest.raises(TicketError):
        nudges.verify(other_kind, KEYS, CLUSTER, NOW)


def test_a_nudge_from_the_future_is_refused() -> None:
    with pytest.raises(TicketError):
        nudges.verify(nudges.issue(SERVER, CLUSTER, NOW + 60), KEYS, CLUSTER, NOW)


@pytest.mark.parametrize("body", [{}, {"nudge": 1}, {"nudge": ""}, {"nudge": "x" * 401}, {"nudge": "a.b", "x": 1}, []])
def test_a_nudge_request_is_one_token_in_one_field(body: object) -> None:
    with pytest.raises(ProtocolError):
        nudges.parse_request(body)


def test_a_nudge_request_round_trips() -> None:
    token = nudges.issue(SERVER, CLUSTER, NOW)
    assert nudges.parse_request(nudges.request_body(token)) == token
