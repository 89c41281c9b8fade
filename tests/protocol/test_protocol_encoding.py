"""base64url and canonical JSON: the one encoding every signer and checker shares."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol.encoding import DecodeError, b64decode, b64encode, canonical_json, parse_json_object

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_b64_round_trips_any_bytes(data: bytes) -> None:
    assert b64decode(b64encode(data)) == data


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_b64encode_is_unpadded_and_url_safe(data: bytes) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]*", b64encode(data))


def test_b64encode_uses_the_url_safe_alphabet() -> None:
    assert b64encode(b"\xfb\xff") == "-_8"
    assert b64decode("-_8") == b"\xfb\xff"


def test_b64_of_empty_bytes_is_empty_text() -> None:
    assert b64encode(b"") == ""
    assert b64decode("") == b""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("AA==", id="padded"),
        pytest.param("AAE=", id="padded-one"),
        pytest.param("+_8", id="standard-plus"),
        pytest.param("-/8", id="standard-slash"),
        pytest.param("AB", id="non-canonical-trailing-bits"),
        pytest.param("A", id="impossible-length"),
        pytest.param("AA\n", id="trailing-newline"),
        pytest.param("A A", id="inner-space"),
        pytest.param(" AA", id="leading-space"),
        pytest.param("AA!", id="punctuation"),
        pytest.param("AAé", id="non-ascii"),
        pytest.param("AA\x00", id="nul"),
    ],
)
def test_b64decode_refuses_padded_or_non_canonical_text(text: str) -> None:
    with pytest.raises(DecodeError):
        b64decode(text)


def test_b64decode_refuses_text_longer_than_its_limit() -> None:
    assert b64decode("AAAA", max_length=4) == b"\x00\x00\x00"
    with pytest.raises(DecodeError):
        b64decode("AAAA", max_length=3)


def test_b64decode_refuses_a_megabyte_by_default() -> None:
    with pytest.raises(DecodeError):
        b64decode("A" * ((1 << 20) + 4))


@pytest.mark.parametrize("value", [b"AAAA", None, 1234, ["AAAA"]])
def test_b64decode_refuses_anything_but_str(value: object) -> None:
    with pytest.raises(DecodeError):
        b64decode(value)  # type: ignore[arg-type]


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


@settings(deadline=None)
@given(st.text(max_size=60))
def test_b64decode_of_any_text_gives_its_canonical_bytes_or_decode_error(text: str) -> None:
    try:
        data = b64decode(text)
    except DecodeError:
        return
    assert b64encode(data) == text


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, 2], "c": {"z": None, "y": True}}) == (
        b'{"a":[1,2],"b":1,"c":{"y":true,"z":null}}'
    )


def test_canonical_json_escapes_non_ascii() -> None:
    assert canonical_json({"name": "é☃"}) == b'{"name":"\\u00e9\\u2603"}'


@settings(deadline=None)
@given(json_objects, st.randoms(use_true_random=False))
def test_canonical_json_does_not_depend_on_key_order(value: dict[str, object], rng: random.Random) -> None:
    items = list(value.items())
    rng.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(value)


@settings(deadline=None)
@given(json_objects)
def test_parse_json_object_reads_back_canonical_json(value: dict[str, object]) -> None:
    assert parse_json_object(canonical_json(value)) == value


@pytest.mark.parametrize("data", [b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_parse_json_object_refuses_values_that_are_not_objects(data: bytes) -> None:
    with pytest.raises(DecodeError, match="object"):
        parse_json_object(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"a": "\xff"}', id="invalid-utf8"),
        pytest.param(b"\xc3\x28", id="invalid-utf8-sequence"),
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"{'a': 1}", id="single-quotes"),
        pytest.param(b'{"a": 1,}', id="trailing-comma"),
        pytest.param(b'{"a": 1} x', id="trailing-garbage"),
    ],
)
def test_parse_json_object_refuses_invalid_json(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_json_object(data)


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_parse_json_object_of_any_bytes_is_an_object_or_decode_error(data: bytes) -> None:
    try:
        value = parse_json_object(data)
    except DecodeError:
        return
    assert isinstance(value, dict)


@settings(deadline=None)
@given(json_values)
def test_parse_json_object_of_any_json_value_is_an_object_or_decode_error(value: object) -> None:
    data = json.dumps(value).encode()
    if isinstance(value, dict):
        assert parse_json_object(data) == value
    else:
        with pytest.raises(DecodeError):
            parse_json_object(data)
