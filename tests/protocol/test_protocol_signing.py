"""Signed tokens: Ed25519 over canonical JSON, with a domain tag per kind of message."""

from __future__ import annotations

import hashlib

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol.encoding import DecodeError, b64decode, b64encode, canonical_json
from coffer.protocol.errors import ProtocolError
from coffer.protocol.signing import (
    SignatureInvalid,
    SigningKey,
    TokenMalformed,
    TokenTooLarge,
    key_id,
    open_token,
    peek_token,
)

CAP = 4096
"""A kind's length cap: each kind has its own (tests/protocol/test_protocol_limits.py pins them)."""

FIXED_SEED = bytes(range(32))
FIXED_KEY = SigningKey(FIXED_SEED)
# Pinned: the public key, kid and token for FIXED_SEED must never change, or every
# client, fileserver and stored receipt stops agreeing with this implementation.
FIXED_PUBLIC_TEXT = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
FIXED_KID = "56475aa75463474c"
FIXED_RECEIPT_TOKEN = (
    "eyJhIjoxfQ.n-BiNZ9PJrVX5GJtcpZI1UKd8zCYt0IGcO6L1LbxjJJRvvcKmQQIh9c7HkTU0O42VzysMSJdLjhjbJIVpMoRCA"
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)
kinds = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey.generate()


def _with_signature(token: str, signature: bytes) -> str:
    return token.split(".")[0] + "." + b64encode(signature)


def test_token_opens_with_the_key_that_signed_it(key: SigningKey) -> None:
    token = key.sign("receipt", {"chunk": "abc", "size": 3})
    assert open_token("receipt", token, [key.public_key], CAP) == {"chunk": "abc", "size": 3}


@settings(deadline=None)
@given(payload=json_objects, kind=kinds)
def test_any_json_object_round_trips_through_a_token(payload: dict[str, object], kind: str) -> None:
    token = FIXED_KEY.sign(kind, payload)
    assert open_token(kind, token, [FIXED_KEY.public_key], CAP) == payload


def test_token_is_base64url_canonical_payload_dot_signature(key: SigningKey) -> None:
    token = key.sign("ticket", {"b": 2, "a": 1})
    body, signature = token.split(".")
    assert b64decode(body) == canonical_json({"a": 1, "b": 2})
    assert len(b64decode(signature)) == 64


def test_signature_covers_the_domain_tag_kind_newline_and_body(key: SigningKey) -> None:
    """The signed bytes are b"coffer:" + kind + b"\\n" + base64url body, as protocol.md says."""
    token = key.sign("ticket", {"a": 1})
    body, signature = token.split(".")
    verify_key = nacl.signing.VerifyKey(key.public_key)
    verify_key.verify(b"coffer:ticket\n" + body.encode(), b64decode(signature))


def test_fixed_seed_gives_the_pinned_public_key_kid_and_token() -> None:
    assert FIXED_KEY.public_text == FIXED_PUBLIC_TEXT
    assert FIXED_KEY.kid == FIXED_KID
    assert FIXED_KEY.sign("receipt", {"a": 1}) == FIXED_RECEIPT_TOKEN


def test_token_signed_for_one_kind_does_not_open_as_another(key: SigningKey) -> None:
    token = key.sign("receipt", {"a": 1})
    with pytest.raises(SignatureInvalid):
        open_token("ticket", token, [key.public_key], CAP)


@settings(deadline=None)
@given(signed_as=kinds, opened_as=kinds)
def test_no_kind_opens_a_token_signed_for_a_different_kind(signed_as: str, opened_as: str) -> None:
    token = FIXED_KEY.sign(signed_as, {"a": 1})
    if signed_as == opened_as:
        assert open_token(opened_as, token, [FIXED_KEY.public_key], CAP) == {"a": 1}
    else:
        with pytest.raises(SignatureInvalid):
            open_token(opened_as, token, [FIXED_KEY.public_key], CAP)


def test_token_from_another_key_is_refused(key: SigningKey, other_key: SigningKey) -> None:
    token = other_key.sign("ticket", {"a": 1})
    with pytest.raises(SignatureInvalid) as info:
        open_token("ticket", token, [key.public_key], CAP)
    assert info.value.status == 401
    assert info.value.code == "bad_signature"


def test_token_opens_if_any_trusted_key_signed_it(key: SigningKey, other_key: SigningKey) -> None:
    token = key.sign("ticket", {"a": 1})
    assert open_token("ticket", token, [other_key.public_key, key.public_key], CAP) == {"a": 1}


def test_token_is_refused_when_no_key_is_trusted(key: SigningKey) -> None:
    with pytest.raises(SignatureInvalid):
        open_token("ticket", key.sign("ticket", {"a": 1}), [], CAP)


@pytest.mark.parametrize("bad_key", [b"", b"\x00" * 31, b"\x00" * 33], ids=["empty", "short", "long"])
def test_malformed_trusted_key_is_skipped_not_crashed_on(key: SigningKey, bad_key: bytes) -> None:
    token = key.sign("ticket", {"a": 1})
    with pytest.raises(SignatureInvalid):
        open_token("ticket", token, [bad_key], CAP)
    assert open_token("ticket", token, [bad_key, key.public_key], CAP) == {"a": 1}


def test_tampered_payload_is_refused(key: SigningKey) -> None:
    token = key.sign("ticket", {"shard": "europe-1"})
    signature = token.split(".")[1]
    forged = b64encode(canonical_json({"shard": "europe-2"})) + "." + signature
    with pytest.raises(SignatureInvalid):
        open_token("ticket", forged, [key.public_key], CAP)


def test_tampered_signature_is_refused(key: SigningKey) -> None:
    token = key.sign("ticket", {"a": 1})
    signature = bytearray(b64decode(token.split(".")[1]))
    signature[10] ^= 0x01
    with pytest.raises(SignatureInvalid):
        open_token("ticket", _with_signature(token, bytes(signature)), [key.public_key], CAP)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65, b"\x00" * 64])
def test_signature_of_wrong_length_or_zeroes_is_refused(key: SigningKey, signature: bytes) -> None:
    token = _with_signature(key.sign("ticket", {"a": 1}), signature)
    with pytest.raises(SignatureInvalid):
        open_token("ticket", token, [key.public_key], CAP)


def test_signature_of_one_token_does_not_fit_another(key: SigningKey) -> None:
    first, second = key.sign("ticket", {"a": 1}), key.sign("ticket", {"a": 2})
    spliced = second.split(".")[0] + "." + first.split(".")[1]
    with pytest.raises(SignatureInvalid):
        open_token("ticket", spliced, [key.public_key], CAP)


GOOD_BODY = b64encode(b'{"a":1}')


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param(GOOD_BODY, id="no-dot"),
        pytest.param(GOOD_BODY + ".AA.AA", id="two-dots"),
        pytest.param("!!!.AA", id="payload-not-base64"),
        pytest.param(GOOD_BODY + "==.AA", id="payload-padded"),
        pytest.param(b64encode(b"[1]") + ".AA", id="payload-array"),
        pytest.param(b64encode(b'"a"') + ".AA", id="payload-string"),
        pytest.param(b64encode(b"{") + ".AA", id="payload-not-json"),
        pytest.param(b64encode(b'{"a":"\xff"}') + ".AA", id="payload-invalid-utf8"),
        pytest.param(".AA", id="payload-empty"),
        pytest.param(GOOD_BODY + "." + "A" * CAP, id="oversized"),
    ],
)
def test_malformed_token_is_refused_before_any_signature_check(token: str) -> None:
    with pytest.raises(TokenMalformed) as info:
        peek_token(token, CAP)
    assert info.value.status == 400
    assert info.value.code == "malformed_token"
    with pytest.raises(TokenMalformed):
        open_token("ticket", token, [FIXED_KEY.public_key], CAP)


@pytest.mark.parametrize("token", [None, 42, b"abc.def", ["a", "b"]])
def test_token_that_is_not_a_string_is_malformed(token: object) -> None:
    with pytest.raises(TokenMalformed):
        peek_token(token, CAP)  # type: ignore[arg-type]


@pytest.mark.parametrize("signature", ["!!!", "AA==", "A", "AA AA"])
def test_signature_that_is_not_base64url_is_malformed(key: SigningKey, signature: str) -> None:
    token = key.sign("ticket", {"a": 1}).split(".")[0] + "." + signature
    with pytest.raises(TokenMalformed):
        open_token("ticket", token, [key.public_key], CAP)


def test_signing_refuses_a_token_over_the_cap_it_is_given(key: SigningKey) -> None:
    with pytest.raises(TokenTooLarge, match="ticket"):
        key.sign("ticket", {"pad": "x" * CAP}, max_length=CAP)
    assert len(key.sign("ticket", {"pad": "x"}, max_length=CAP)) <= CAP


def test_token_of_exactly_the_maximum_length_is_read() -> None:
    body = b64encode(canonical_json({"pad": "x" * 100}))
    token = body + "." + "A" * (CAP - len(body) - 1)
    assert len(token) == CAP
    assert peek_token(token, CAP) == {"pad": "x" * 100}


def test_peek_reads_the_payload_without_checking_the_signature(key: SigningKey) -> None:
    forged = b64encode(canonical_json({"kid": "k"})) + ".AA"
    assert peek_token(forged, CAP) == {"kid": "k"}
    with pytest.raises(SignatureInvalid):
        open_token("ticket", forged, [key.public_key], CAP)


@settings(deadline=None)
@given(st.text(max_size=200))
def test_open_token_on_any_text_raises_only_protocol_errors(text: str) -> None:
    with pytest.raises((TokenMalformed, SignatureInvalid)):
        open_token("ticket", text, [FIXED_KEY.public_key], CAP)


@settings(deadline=None)
@given(body=st.binary(max_size=120), signature=st.binary(max_size=80))
def test_open_token_on_any_base64_parts_raises_only_protocol_errors(body: bytes, signature: bytes) -> None:
    with pytest.raises((TokenMalformed, SignatureInvalid)):
        open_token("ticket", b64encode(body) + "." + b64encode(signature), [FIXED_KEY.public_key], CAP)


def test_both_token_errors_are_protocol_errors() -> None:
    assert issubclass(SignatureInvalid, ProtocolError)
    assert issubclass(TokenMalformed, ProtocolError)


def test_key_id_is_16_hex_digits_of_the_public_key_sha256(key: SigningKey) -> None:
    assert key_id(key.public_key) == hashlib.sha256(key.public_key).hexdigest()[:16]
    assert key.kid == key_id(key.public_key)


def test_key_id_is_stable_for_the_same_key(key: SigningKey) -> None:
    assert SigningKey(key.seed).kid == key.kid
    assert SigningKey.from_text(key.to_text()).kid == key.kid


def test_different_keys_have_different_key_ids(key: SigningKey, other_key: SigningKey) -> None:
    assert key.kid != other_key.kid


def test_generated_keys_differ() -> None:
    assert SigningKey.generate().seed != SigningKey.generate().seed


def test_signing_key_repr_shows_the_kid_and_never_the_seed(key: SigningKey) -> None:
    for shown in (repr(key), str(key), f"{key}", repr([key])):
        assert key.kid in shown
        assert key.to_text() not in shown
        assert key.seed.hex() not in shown
        assert repr(key.seed) not in shown


def test_seed_text_round_trips(key: SigningKey) -> None:
    text = key.to_text()
    assert len(b64decode(text)) == 32
    assert SigningKey.from_text(text) == key


def test_public_text_is_the_base64url_public_key(key: SigningKey) -> None:
    assert b64decode(key.public_text) == key.public_key
    assert len(key.public_key) == 32


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_seed_text_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(DecodeError, match="32 bytes"):
        SigningKey.from_text(b64encode(bytes(length)))


@pytest.mark.parametrize("text", ["not base64!", FIXED_KEY.to_text() + "=", FIXED_KEY.to_text() + "\n"])
def test_seed_text_that_is_not_base64url_is_refused(text: str) -> None:
    with pytest.raises(DecodeError):
        SigningKey.from_text(text)
