"""The error body every answer carries, and the codes the client maps back to exceptions."""

from __future__ import annotations

import pytest

from coffer.protocol import cluster, receipts, signing, tickets
from coffer.protocol.errors import CofferError, ProtocolError, parse_error_body

PROTOCOL_ERRORS = [
    ProtocolError,
    signing.SignatureInvalid,
    signing.TokenMalformed,
    tickets.TicketError,
    tickets.TicketExpired,
    tickets.TicketUnknownKey,
    tickets.TicketScope,
    tickets.TicketRevoked,
    receipts.ReceiptInvalid,
    cluster.RequestStale,
]


def test_error_body_carries_code_and_message() -> None:
    assert ProtocolError("bad field").body() == {"error": "bad_request", "message": "bad field"}


def test_error_code_and_status_can_be_set_per_instance_without_changing_the_class() -> None:
    error = ProtocolError("no", code="invalid_shard", status=422)
    assert (error.code, error.status) == ("invalid_shard", 422)
    assert (ProtocolError.code, ProtocolError.status) == ("bad_request", 400)


def test_error_str_is_its_message() -> None:
    assert str(CofferError("what to do")) == "what to do"


def test_base_error_is_a_server_error() -> None:
    assert (CofferError.code, CofferError.status) == ("error", 500)


@pytest.mark.parametrize("error_class", PROTOCOL_ERRORS)
def test_every_protocol_error_is_a_client_error_with_a_body(error_class: type[ProtocolError]) -> None:
    error = error_class("message")
    assert issubclass(error_class, CofferError)
    assert 400 <= error.status < 500
    assert parse_error_body(error.body()) == (error.code, "message")


def test_every_protocol_error_has_its_own_code() -> None:
    codes = [error_class.code for error_class in PROTOCOL_ERRORS]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "error",
        {},
        {"error": "x"},
        {"message": "x"},
        {"error": 1, "message": "x"},
        {"error": "x", "message": 2},
    ],
)
def test_parse_error_body_returns_none_for_anything_but_an_error_body(body: object) -> None:
    assert parse_error_body(body) is None


def test_parse_error_body_ignores_extra_fields() -> None:
    assert parse_error_body({"error": "x", "message": "y", "detail": 1}) == ("x", "y")
