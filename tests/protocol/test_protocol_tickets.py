"""Transfer tickets: the server's signed, short-lived permission to move chunks of one file."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol import PROTOCOL_VERSION, receipts, wire
from coffer.protocol.encoding import b64encode, canonical_json
from coffer.protocol.signing import SigningKey
from coffer.protocol.tickets import (
    CLOCK_SKEW,
    KIND,
    MAX_TICKET_CHUNKS,
    MAX_TOKEN_LENGTH,
    Ticket,
    TicketError,
    TicketExpired,
    TicketRevoked,
    TicketScope,
    TicketUnknownKey,
    UploadExceedsDeclared,
    issue,
    verify,
)

NOW = 1_700_000_000
FILE = "11111111-1111-4111-8111-111111111111"
OTHER_FILE = "44444444-4444-4444-8444-444444444444"
USER = "22222222-2222-4222-a222-222222222222"
JTI = "33333333-3333-4333-b333-333333333333"
SHARD = "europe-1"
CHUNK = "ab" * 32
OTHER_CHUNK = "cd" * 32

SERVER = SigningKey(bytes(range(32)))
ATTACKER = SigningKey(bytes(range(1, 33)))
TRUSTED = {SERVER.kid: SERVER.public_key}

# Pinned: a get ticket for the fields above, signed with the seed 00 01 .. 1f.
FIXED_GET_TICKET = (
    "eyJjaHVua3MiOlsiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYiJdLCJleHAi"
    "OjE3MDAwMDAzMDAsImZpbGUiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEiLCJpYXQiOjE3MDAwMDAwMDAsImp0aSI6IjMz"
    "MzMzMzMzLTMzMzMtNDMzMy1iMzMzLTMzMzMzMzMzMzMzMyIsImtpZCI6IjU2NDc1YWE3NTQ2MzQ3NGMiLCJtYXhfYnl0ZXMiOjAsIm1heF9jaHVu"
    "a3MiOjAsIm1heF90b3RhbCI6MCwib3AiOiJnZXQiLCJzaGFyZCI6ImV1cm9wZS0xIiwic3ViIjoiMjIyMjIyMjItMjIyMi00MjIyLWEyMjItMjIy"
    "MjIyMjIyMjIyIiwidiI6MX0.zRW-fcgORWOF5RtXC4VrSKsKbykaaASwEfjF59pl-9_-YrRFquYzXjOroiPYKjfqHUHyNyUlivRlqm2JhAmIAA"
)


def put_ticket(**changes: Any) -> Ticket:
    fields: dict[str, Any] = dict(
        op="put",
        file=FILE,
        shard=SHARD,
        sub=USER,
        iat=NOW,
        exp=NOW + 300,
        jti=JTI,
        max_bytes=8 << 20,
        max_chunks=4,
        max_total=20 << 20,
    )
    return Ticket(**(fields | changes))


def get_ticket(**changes: Any) -> Ticket:
    return put_ticket(**({"op": "get", "chunks": (CHUNK,), "max_bytes": 0, "max_chunks": 0, "max_total": 0} | changes))


def signed_payload(**changes: Any) -> str:
    """Return a ticket token whose payload is a valid put ticket with *changes*, signed by the server."""
    payload = put_ticket().payload() | {"kid": SERVER.kid} | changes
    return SERVER.sign(KIND, payload)


def signed_without(field: str) -> str:
    payload = put_ticket().payload() | {"kid": SERVER.kid}
    del payload[field]
    return SERVER.sign(KIND, payload)


@pytest.mark.parametrize("ticket", [put_ticket(), get_ticket()], ids=["put", "get"])
def test_issued_ticket_verifies_to_the_same_ticket_with_the_servers_kid(ticket: Ticket) -> None:
    assert verify(issue(SERVER, ticket), TRUSTED, NOW) == dataclasses.replace(ticket, kid=SERVER.kid)


def test_issue_fills_in_the_kid_of_the_signing_key_whatever_the_ticket_said() -> None:
    token = issue(SERVER, put_ticket(kid="0123456789abcdef"))
    assert verify(token, TRUSTED, NOW).kid == SERVER.kid


def test_fixed_get_ticket_is_pinned_byte_for_byte() -> None:
    assert issue(SERVER, get_ticket()) == FIXED_GET_TICKET
    assert verify(FIXED_GET_TICKET, TRUSTED, NOW).chunks == (CHUNK,)


def test_ticket_payload_carries_version_and_every_documented_field() -> None:
    payload = put_ticket().payload()
    assert payload["v"] == PROTOCOL_VERSION
    assert set(payload) == {
        "v",
        "kid",
        "op",
        "file",
        "shard",
        "sub",
        "iat",
        "exp",
        "jti",
        "chunks",
        "max_bytes",
        "max_chunks",
        "max_total",
    }


def test_put_ticket_carries_the_files_declared_chunk_count_and_bytes_signed() -> None:
    ticket = verify(issue(SERVER, put_ticket(max_chunks=3, max_total=1000)), TRUSTED, NOW)
    assert (ticket.max_chunks, ticket.max_total) == (3, 1000)


def test_put_ticket_has_room_for_chunks_up_to_exactly_what_the_file_declared() -> None:
    ticket = put_ticket(max_chunks=3, max_total=1000)
    ticket.require_room(0, 0, 1000)
    ticket.require_room(2, 600, 400)


def test_put_ticket_refuses_a_chunk_past_the_declared_chunk_count() -> None:
    ticket = put_ticket(max_chunks=3, max_total=1000)
    with pytest.raises(UploadExceedsDeclared, match="declared 3") as info:
        ticket.require_room(3, 3, 1)
    assert (info.value.status, info.value.code) == (413, "upload_exceeds_declared")


def test_put_ticket_refuses_a_chunk_past_the_declared_bytes() -> None:
    ticket = put_ticket(max_chunks=3, max_total=1000)
    with pytest.raises(UploadExceedsDeclared, match="past the 1000"):
        ticket.require_room(1, 600, 401)


def test_a_ticket_without_bounds_has_room_for_nothing() -> None:
    with pytest.raises(UploadExceedsDeclared):
        put_ticket(max_chunks=0, max_total=0).require_room(0, 0, 1)


def test_ticket_verifies_with_any_trusted_kid_during_key_rotation() -> None:
    old, new = SigningKey(bytes(32)), SERVER
    keys = {old.kid: old.public_key, new.kid: new.public_key}
    assert verify(issue(old, put_ticket()), keys, NOW).kid == old.kid
    assert verify(issue(new, put_ticket()), keys, NOW).kid == new.kid


def test_ticket_is_valid_until_the_second_it_expires() -> None:
    token = issue(SERVER, put_ticket(exp=NOW + 300))
    assert verify(token, TRUSTED, NOW + 300).exp == NOW + 300


def test_expired_ticket_is_refused() -> None:
    token = issue(SERVER, put_ticket(exp=NOW + 300))
    with pytest.raises(TicketExpired) as info:
        verify(token, TRUSTED, NOW + 300.001)
    assert info.value.code == "ticket_expired"
    assert info.value.status == 401


def test_ticket_issued_within_the_clock_skew_is_accepted() -> None:
    token = issue(SERVER, put_ticket(iat=NOW + CLOCK_SKEW))
    assert verify(token, TRUSTED, NOW).iat == NOW + CLOCK_SKEW


def test_ticket_issued_in_the_future_beyond_the_clock_skew_is_refused() -> None:
    token = issue(SERVER, put_ticket(iat=NOW + CLOCK_SKEW + 1))
    with pytest.raises(TicketError, match="future") as info:
        verify(token, TRUSTED, NOW)
    assert not isinstance(info.value, TicketExpired)


def test_ticket_signed_by_an_unknown_key_is_refused() -> None:
    with pytest.raises(TicketUnknownKey) as info:
        verify(issue(ATTACKER, put_ticket()), TRUSTED, NOW)
    assert info.value.code == "ticket_unknown_key"


@pytest.mark.parametrize("kid", [None, 1, ["x"], {"k": 1}, "", SERVER.kid.upper()])
def test_ticket_whose_kid_is_not_a_trusted_kid_is_refused(kid: object) -> None:
    with pytest.raises(TicketUnknownKey):
        verify(signed_payload(kid=kid), TRUSTED, NOW)


def test_ticket_without_a_kid_is_refused() -> None:
    with pytest.raises(TicketUnknownKey):
        verify(signed_without("kid"), TRUSTED, NOW)


def test_forged_ticket_claiming_the_trusted_kid_is_refused() -> None:
    forged = ATTACKER.sign(KIND, put_ticket().payload() | {"kid": SERVER.kid})
    with pytest.raises(TicketError) as info:
        verify(forged, TRUSTED, NOW)
    assert type(info.value) is TicketError
    assert info.value.code == "ticket_invalid"


def test_receipt_signed_by_the_server_key_does_not_verify_as_ticket() -> None:
    token = SERVER.sign(receipts.KIND, put_ticket().payload() | {"kid": SERVER.kid})
    with pytest.raises(TicketError):
        verify(token, TRUSTED, NOW)


def test_ticket_with_a_tampered_payload_is_refused() -> None:
    signature = issue(SERVER, put_ticket()).split(".")[1]
    widened = put_ticket(shard="europe-2", exp=NOW + 10**6).payload() | {"kid": SERVER.kid}
    with pytest.raises(TicketError):
        verify(b64encode(canonical_json(widened)) + "." + signature, TRUSTED, NOW)


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "!!!.AA", b64encode(b"[]") + ".AA", "A" * 20000])
def test_malformed_ticket_token_is_a_ticket_error(token: str) -> None:
    with pytest.raises(TicketError):
        verify(token, TRUSTED, NOW)


MALFORMED_FIELDS = [
    ("v", 2),
    ("v", 0),
    ("v", "1"),
    ("v", None),
    ("op", "delete"),
    ("op", "PUT"),
    ("op", None),
    ("op", ["put"]),
    ("file", "../x"),
    ("file", "AAAAAAAA-1111-4111-8111-111111111111"),
    ("file", 5),
    ("file", None),
    ("shard", "../x"),
    ("shard", "Europe-1"),
    ("shard", ""),
    ("shard", ["europe-1"]),
    ("sub", "alice"),
    ("sub", None),
    ("jti", ""),
    ("jti", 7),
    ("chunks", "ab" * 32),
    ("chunks", None),
    ("chunks", {"a": CHUNK}),
    ("chunks", [CHUNK.upper()]),
    ("chunks", ["../" + CHUNK[3:]]),
    ("chunks", [5]),
    ("chunks", [[CHUNK]]),
    ("chunks", [CHUNK] * (MAX_TICKET_CHUNKS + 1)),
    ("iat", "1700000000"),
    ("iat", 1700000000.5),
    ("iat", True),
    ("iat", None),
    ("exp", False),
    ("exp", "later"),
    ("exp", 1e12),
    ("max_bytes", True),
    ("max_bytes", 1.0),
    ("max_bytes", "8388608"),
    ("max_bytes", None),
    ("max_bytes", -1),
    ("max_chunks", True),
    ("max_chunks", 2.0),
    ("max_chunks", None),
    ("max_chunks", -1),
    ("max_total", "100"),
    ("max_total", None),
    ("max_total", -5),
]


@pytest.mark.parametrize(("field", "value"), MALFORMED_FIELDS)
def test_ticket_with_a_malformed_field_is_a_ticket_error(field: str, value: object) -> None:
    with pytest.raises(TicketError):
        verify(signed_payload(**{field: value}), TRUSTED, NOW)


@pytest.mark.parametrize(
    "field", ["v", "op", "file", "shard", "sub", "iat", "exp", "jti", "chunks", "max_bytes", "max_chunks", "max_total"]
)
def test_ticket_missing_a_field_is_a_ticket_error(field: str) -> None:
    with pytest.raises(TicketError, match=field):
        verify(signed_without(field), TRUSTED, NOW)


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=70)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
valid_hashes = st.text("0123456789abcdef", min_size=64, max_size=64)
TICKET_FIELDS = [
    *("v", "op", "file", "shard", "sub", "iat", "exp", "jti", "chunks"),
    *("max_bytes", "max_chunks", "max_total"),
]


@settings(deadline=None)
@given(field=st.sampled_from(TICKET_FIELDS), value=json_values | st.lists(valid_hashes, max_size=40))
def test_any_value_in_any_field_gives_a_ticket_or_a_ticket_error(field: str, value: object) -> None:
    try:
        ticket = verify(signed_payload(**{field: value}), TRUSTED, NOW)
    except TicketError:
        return
    assert verify(issue(SERVER, ticket), TRUSTED, NOW) == ticket


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_a_ticket_is_a_ticket_error(text: str) -> None:
    with pytest.raises(TicketError):
        verify(text, TRUSTED, NOW)


@settings(deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=12))
def test_any_signed_object_with_the_trusted_kid_gives_a_ticket_or_a_ticket_error(payload: dict[str, Any]) -> None:
    try:
        verify(SERVER.sign(KIND, payload | {"kid": SERVER.kid}), TRUSTED, NOW)
    except TicketError:
        pass


def test_put_ticket_covers_its_shard_and_file() -> None:
    put_ticket().require("put", SHARD, FILE)
    put_ticket().require("put", SHARD, FILE, CHUNK)


def test_get_ticket_covers_the_chunks_it_names() -> None:
    ticket = get_ticket(chunks=(CHUNK, OTHER_CHUNK))
    ticket.require("get", SHARD, FILE, CHUNK)
    ticket.require("get", SHARD, FILE, OTHER_CHUNK)


def test_put_ticket_does_not_allow_reading() -> None:
    with pytest.raises(TicketScope, match="put"):
        put_ticket().require("get", SHARD, FILE, CHUNK)


def test_get_ticket_does_not_allow_writing() -> None:
    with pytest.raises(TicketScope, match="get"):
        get_ticket().require("put", SHARD, FILE, CHUNK)


def test_ticket_for_another_shard_is_refused() -> None:
    with pytest.raises(TicketScope, match="shard"):
        put_ticket().require("put", "europe-2", FILE)


def test_ticket_for_another_file_is_refused() -> None:
    with pytest.raises(TicketScope, match="file"):
        get_ticket().require("get", SHARD, OTHER_FILE, CHUNK)


def test_get_ticket_for_another_chunk_is_refused() -> None:
    with pytest.raises(TicketScope, match="chunk"):
        get_ticket().require("get", SHARD, FILE, OTHER_CHUNK)


def test_scope_error_is_a_forbidden_ticket_error() -> None:
    assert issubclass(TicketScope, TicketError)
    assert TicketScope.status == 403
    assert TicketScope.code == "ticket_scope"


def test_revoked_ticket_error_is_a_ticket_error() -> None:
    assert issubclass(TicketRevoked, TicketError)
    assert TicketRevoked.code == "ticket_revoked"


@pytest.mark.parametrize("count", [0, MAX_TICKET_CHUNKS + 1])
def test_get_ticket_must_name_between_one_and_the_maximum_chunks(count: int) -> None:
    with pytest.raises(ValueError, match="chunks"):
        issue(SERVER, get_ticket(chunks=(CHUNK,) * count))


def test_put_ticket_needs_no_chunks() -> None:
    assert verify(issue(SERVER, put_ticket(chunks=())), TRUSTED, NOW).chunks == ()


def test_get_ticket_with_the_most_chunks_fits_one_http_header() -> None:
    chunks = tuple(f"{i:064x}" for i in range(MAX_TICKET_CHUNKS))
    token = issue(SERVER, get_ticket(chunks=chunks))
    header = f"Authorization: {wire.TICKET_SCHEME} {token}"
    assert len(token) <= MAX_TOKEN_LENGTH
    assert len(header.encode()) <= wire.MAX_HEADER_BYTES
    assert verify(token, TRUSTED, NOW).chunks == chunks
