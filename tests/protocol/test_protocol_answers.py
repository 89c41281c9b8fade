"""The server's answers to registration and heartbeats, as the fileserver agent reads them."""

from __future__ import annotations

import json
import uuid

import pytest

from coffer.protocol import wire
from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import (
    MAX_PURGES,
    MAX_REVOCATIONS_PAGE,
    FilePurge,
    HeartbeatAnswer,
    RegistrationAnswer,
    Revocation,
    RevocationPage,
    parse_heartbeat_answer,
    parse_registration_answer,
)
from coffer.protocol.signing import MAX_FIGURE

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
    page = RevocationPage(4, 6, True, [Revocation(1000, 2000, holder=FS), Revocation(1000, 2000, file=FS, op="put")])
    answer = HeartbeatAnswer(30.0, 1000.5, page, [FilePurge("hq", FS)])
    assert parse_heartbeat_answer(answer.to_json()) == answer


def test_an_old_servers_bare_heartbeat_answer_changes_nothing() -> None:
    assert parse_heartbeat_answer({}) == HeartbeatAnswer(None, None)


def _longest_page() -> RevocationPage:
    entries = [
        Revocation(MAX_FIGURE, MAX_FIGURE, holder=str(uuid.UUID(int=i, version=4)), file=FS, op="get")
        for i in range(MAX_REVOCATIONS_PAGE)
    ]
    return RevocationPage(MAX_FIGURE - 1, MAX_FIGURE, True, entries)


def test_a_heartbeat_answer_at_its_largest_fits_the_json_body_limit_and_parses() -> None:
    answer = HeartbeatAnswer(30.0, 1e12, _longest_page(), [FilePurge("x" * 63, FS)] * MAX_PURGES).to_json()
    assert len(json.dumps(answer).encode()) <= wire.MAX_JSON_BODY
    page = parse_heartbeat_answer(answer).revocations
    assert page is not None and len(page.entries) == MAX_REVOCATIONS_PAGE
    too_long = answer["revocations"] | {
        "entries": [*answer["revocations"]["entries"], {"holder": FS, "before": 1, "exp": 1}]
    }
    with pytest.raises(ProtocolError, match=f"at most {MAX_REVOCATIONS_PAGE}"):
        parse_heartbeat_answer(answer | {"revocations": too_long})


def test_an_old_servers_list_of_revoked_tickets_is_ignored() -> None:
    assert parse_heartbeat_answer({"revoked_tickets": [{"jti": FS, "exp": 1}]}) == HeartbeatAnswer(None, None)


def test_a_heartbeat_answer_carries_up_to_the_limit_of_purge_orders() -> None:
    orders = [{"shard": "hq", "file": FS}] * MAX_PURGES
    assert len(parse_heartbeat_answer({"purge": orders}).purge) == MAX_PURGES
    with pytest.raises(ProtocolError, match=f"at most {MAX_PURGES}"):
        parse_heartbeat_answer({"purge": [*orders, orders[0]]})


PAGE = {"after": 0, "next": 1, "more": False}


@pytest.mark.parametrize(
    "revocations",
    [
        "not an object",
        PAGE | {"entries": "not a list"},
        PAGE | {"entries": [{"before": 1, "exp": 1}]},  # names neither a holder nor a file
        PAGE | {"entries": [{"holder": FS, "before": 1, "exp": "soon"}]},
        PAGE | {"entries": [{"holder": "x", "before": 1, "exp": 1}]},
        PAGE | {"entries": [{"file": FS, "op": "delete", "before": 1, "exp": 1}]},
        PAGE | {"entries": [1]},
        PAGE | {"entries": [], "more": "yes"},
        PAGE | {"entries": [], "after": 5, "next": 4},
    ],
)
def test_a_malformed_revocation_page_is_refused(revocations: object) -> None:
    with pytest.raises(ProtocolError):
        parse_heartbeat_answer({"revocations": revocations})
