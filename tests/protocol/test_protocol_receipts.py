"""Chunk receipts: a fileserver's signed statement that it stored a chunk."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol import PROTOCOL_VERSION, tickets
from coffer.protocol.encoding import b64encode, canonical_json
from coffer.protocol.receipts import KIND, Receipt, ReceiptInvalid, fileserver_of, sign, verify
from coffer.protocol.signing import SigningKey

FILESERVER = SigningKey(bytes(range(32)))
OTHER_FILESERVER = SigningKey(bytes(range(1, 33)))
FS_ID = "55555555-5555-4555-9555-555555555555"
RECEIPT = Receipt(
    fs=FS_ID,
    shard="europe-1",
    file="11111111-1111-4111-8111-111111111111",
    chunk="ab" * 32,
    size=8 << 20,
    iat=1_700_000_000,
)


def signed_payload(**changes: Any) -> str:
    return FILESERVER.sign(KIND, RECEIPT.payload() | changes)


def signed_without(field: str) -> str:
    payload = RECEIPT.payload()
    del payload[field]
    return FILESERVER.sign(KIND, payload)


def test_signed_receipt_verifies_to_the_same_receipt() -> None:
    assert verify(sign(FILESERVER, RECEIPT), FILESERVER.public_key) == RECEIPT


def test_receipt_payload_carries_version_and_every_documented_field() -> None:
    payload = RECEIPT.payload()
    assert payload["v"] == PROTOCOL_VERSION
    assert set(payload) == {"v", "fs", "shard", "file", "chunk", "size", "iat"}


def test_receipt_for_an_empty_chunk_is_accepted() -> None:
    assert verify(signed_payload(size=0), FILESERVER.public_key).size == 0


def test_fileserver_of_names_the_claimed_fileserver_without_checking_the_signature() -> None:
    assert fileserver_of(sign(FILESERVER, RECEIPT)) == FS_ID
    assert fileserver_of(OTHER_FILESERVER.sign(KIND, RECEIPT.payload())) == FS_ID


@pytest.mark.parametrize(
    "token",
    [
        "",
        "x",
        "a.b.c",
        "!!!.AA",
        b64encode(b"[]") + ".AA",
        b64encode(canonical_json({"v": 1})) + ".AA",
        b64encode(canonical_json({"fs": "../etc"})) + ".AA",
        b64encode(canonical_json({"fs": FS_ID.replace("5555", "AAAA", 1)})) + ".AA",
        b64encode(canonical_json({"fs": 5})) + ".AA",
        b64encode(canonical_json({"fs": None})) + ".AA",
    ],
)
def test_fileserver_of_a_malformed_receipt_is_receipt_invalid(token: str) -> None:
    with pytest.raises(ReceiptInvalid) as info:
        fileserver_of(token)
    assert info.value.code == "receipt_invalid"
    assert info.value.status == 400


def test_receipt_checked_with_another_fileservers_key_is_refused() -> None:
    with pytest.raises(ReceiptInvalid):
        verify(sign(OTHER_FILESERVER, RECEIPT), FILESERVER.public_key)


def test_receipt_claiming_another_fileserver_is_refused_with_that_fileservers_key() -> None:
    """A fileserver cannot sign receipts in another's name: the server checks the claimed one's key."""
    claimed = fileserver_of(sign(OTHER_FILESERVER, RECEIPT))
    assert claimed == FS_ID
    with pytest.raises(ReceiptInvalid):
        verify(sign(OTHER_FILESERVER, RECEIPT), FILESERVER.public_key)


def test_ticket_signed_by_the_fileserver_key_does_not_verify_as_receipt() -> None:
    token = FILESERVER.sign(tickets.KIND, RECEIPT.payload())
    with pytest.raises(ReceiptInvalid):
        verify(token, FILESERVER.public_key)


def test_receipt_with_a_tampered_payload_is_refused() -> None:
    signature = sign(FILESERVER, RECEIPT).split(".")[1]
    forged = b64encode(canonical_json(RECEIPT.payload() | {"chunk": "cd" * 32})) + "." + signature
    with pytest.raises(ReceiptInvalid):
        verify(forged, FILESERVER.public_key)


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "!!!.AA", b64encode(b"[]") + ".AA"])
def test_malformed_receipt_token_is_receipt_invalid(token: str) -> None:
    with pytest.raises(ReceiptInvalid):
        verify(token, FILESERVER.public_key)


def test_receipt_whose_signature_is_not_base64url_is_receipt_invalid() -> None:
    token = sign(FILESERVER, RECEIPT).split(".")[0] + ".!!!"
    with pytest.raises(ReceiptInvalid):
        verify(token, FILESERVER.public_key)


MALFORMED_FIELDS = [
    ("v", 2),
    ("v", "1"),
    ("v", None),
    ("fs", "../x"),
    ("fs", 1),
    ("shard", "Europe"),
    ("shard", "../x"),
    ("shard", None),
    ("file", "x"),
    ("file", None),
    ("chunk", "AB" * 32),
    ("chunk", "ab" * 31),
    ("chunk", None),
    ("size", -1),
    ("size", "1"),
    ("size", 1.5),
    ("size", None),
    ("iat", "now"),
    ("iat", 1.5),
    ("iat", None),
]


@pytest.mark.parametrize(("field", "value"), MALFORMED_FIELDS)
def test_receipt_with_a_malformed_field_is_receipt_invalid(field: str, value: object) -> None:
    with pytest.raises(ReceiptInvalid):
        verify(signed_payload(**{field: value}), FILESERVER.public_key)


@pytest.mark.parametrize("field", ["v", "fs", "shard", "file", "chunk", "size", "iat"])
def test_receipt_missing_a_field_is_receipt_invalid(field: str) -> None:
    with pytest.raises(ReceiptInvalid):
        verify(signed_without(field), FILESERVER.public_key)


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=70)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(deadline=None)
@given(field=st.sampled_from(sorted(RECEIPT.payload())), value=json_values)
def test_any_value_in_any_field_gives_a_receipt_or_receipt_invalid(field: str, value: object) -> None:
    try:
        verify(signed_payload(**{field: value}), FILESERVER.public_key)
    except ReceiptInvalid:
        pass


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_a_receipt_is_receipt_invalid(text: str) -> None:
    with pytest.raises(ReceiptInvalid):
        verify(text, FILESERVER.public_key)
    with pytest.raises(ReceiptInvalid):
        fileserver_of(text)
