"""Ids and names: anything that could reach a path or an SQL row is refused at the edge."""

from __future__ import annotations

import uuid

import pytest

from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import check_chunk_hash, check_id, check_name, check_username, new_id

# Strings that try to leave a directory, hide in one, or slip past a naive check.
HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "..\\x",
    "a/b",
    "a\\b",
    "/abs",
    "%2e%2e",
    "%2e%2e%2f",
    "a\x00",
    "a b",
    "abc\n",
    "\nabc",
    "abc\r",
    "ａｂｃ",
]


def test_chunk_hash_is_64_lowercase_hex_digits() -> None:
    value = "0123456789abcdef" * 4
    assert check_chunk_hash(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "0" * 63,
        "0" * 65,
        "A" * 64,
        "0123456789ABCDEF" * 4,
        "g" * 64,
        "0" * 64 + "\n",
        " " + "0" * 63,
        "../" + "0" * 61,
        None,
        64,
        b"0" * 64,
        *HOSTILE,
    ],
)
def test_malformed_chunk_hash_is_refused(value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        check_chunk_hash(value)
    assert info.value.code == "invalid_chunk_hash"
    assert info.value.status == 400


def test_new_id_is_a_valid_lowercase_uuid4() -> None:
    value = new_id()
    assert check_id(value) == value
    assert uuid.UUID(value).version == 4


def test_new_ids_differ() -> None:
    assert len({new_id() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "value",
    [
        # Made anew each run, under fixed ids: every xdist worker must collect the same test names.
        pytest.param(str(uuid.uuid4()).upper(), id="uppercase-uuid4"),
        pytest.param(str(uuid.uuid1()), id="uuid1"),
        "00000000-0000-0000-0000-000000000000",
        "11111111-1111-4111-7111-111111111111",
        "11111111111141118111111111111111",
        "{11111111-1111-4111-8111-111111111111}",
        "11111111-1111-4111-8111-111111111111\n",
        "11111111-1111-4111-8111-11111111111",
        "../11111111-1111-4111-8111-111111111",
        None,
        uuid.UUID("11111111-1111-4111-8111-111111111111"),
        *HOSTILE,
    ],
)
def test_malformed_id_is_refused(value: object) -> None:
    with pytest.raises(ProtocolError):
        check_id(value)


def test_id_error_code_names_what_was_checked() -> None:
    with pytest.raises(ProtocolError) as info:
        check_id("nope", "file_id")
    assert info.value.code == "invalid_file_id"
    assert "file_id" in info.value.message


@pytest.mark.parametrize("value", ["a", "0", "europe-1", "a-", "a" * 63, "shard-2024-b"])
def test_shard_and_cluster_names_are_accepted(value: str) -> None:
    assert check_name(value) == value


@pytest.mark.parametrize(
    "value",
    ["a" * 64, "-a", "Europe", "a_b", "a.b", "europe-1\n", None, 7, *HOSTILE],
)
def test_malformed_name_is_refused(value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        check_name(value, "shard")
    assert info.value.code == "invalid_shard"


@pytest.mark.parametrize("value", ["alice", "a", "0", "alice.smith", "a_b-c", "a..b", "a" * 64])
def test_usernames_are_accepted(value: str) -> None:
    assert check_username(value) == value


@pytest.mark.parametrize(
    "value",
    ["a" * 65, "Alice", ".alice", "_alice", "-alice", "alice@example", "alice\n", None, 1, *HOSTILE],
)
def test_malformed_username_is_refused(value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        check_username(value)
    assert info.value.code == "invalid_username"
