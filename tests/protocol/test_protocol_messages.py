"""Registration and heartbeat bodies, checked field by field with size limits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import (
    BACKENDS,
    MAX_CORRUPT_REPORTS,
    MAX_PURGES,
    MAX_SHARDS,
    MAX_URL,
    FilePurge,
    Heartbeat,
    ReconcileAnswer,
    ReconcileQuery,
    Registration,
    ShardAnnouncement,
    parse_heartbeat,
    parse_reconcile_answer,
    parse_reconcile_query,
    parse_registration,
    parse_shards,
)

PUBLIC_KEY = bytes(range(32))
CHUNK = "ab" * 32
FILE = "0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b"
SHARD = {"name": "europe-1", "read": True, "write": False, "backend": "s3", "free_bytes": 10**12}


def registration(**changes: Any) -> dict[str, Any]:
    return {
        "url": "https://fs1.example.org:8101",
        "public_key": b64encode(PUBLIC_KEY),
        "version": "0.1.0",
        "shards": [SHARD],
    } | changes


def heartbeat(**changes: Any) -> dict[str, Any]:
    return {
        "version": "0.1.0",
        "shards": [SHARD],
        "active_transfers": 3,
        "bytes_per_s": 125_000_000,
        "free_bytes": 10**12,
        "chunk_count": 40_000,
        "corrupt": [{"shard": "europe-1", "file": FILE, "chunk": CHUNK}],
    } | changes


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def test_registration_is_parsed_field_by_field() -> None:
    assert parse_registration(registration()) == Registration(
        url="https://fs1.example.org:8101",
        public_key=PUBLIC_KEY,
        version="0.1.0",
        shards=[ShardAnnouncement(name="europe-1", read=True, write=False, backend="s3", free_bytes=10**12)],
    )


def test_registration_url_loses_its_trailing_slashes() -> None:
    assert parse_registration(registration(url="http://127.0.0.1:8101//")).url == "http://127.0.0.1:8101"


def test_shard_backend_defaults_to_local_and_free_bytes_to_unknown() -> None:
    [shard] = parse_shards([{"name": "europe-1", "read": True, "write": True}])
    assert shard == ShardAnnouncement(name="europe-1", read=True, write=True, backend="local", free_bytes=None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_known_backend_is_accepted(backend: str) -> None:
    assert parse_shards([SHARD | {"backend": backend}])[0].backend == backend


def test_registration_round_trips_through_json() -> None:
    parsed = parse_registration(registration())
    assert parse_registration(parsed.to_json()) == parsed


BAD_REGISTRATIONS = [
    ("url", "ftp://fs1.example.org"),
    ("url", "fs1.example.org:8101"),
    ("url", "javascript:alert(1)"),
    ("url", ""),
    ("url", "https://" + "a" * MAX_URL),
    ("url", 8101),
    ("url", None),
    ("public_key", b64encode(PUBLIC_KEY[:31])),
    ("public_key", b64encode(PUBLIC_KEY + b"\x00")),
    ("public_key", b64encode(bytes(48))),
    ("public_key", b64encode(PUBLIC_KEY) + "="),
    ("public_key", PUBLIC_KEY.hex()),
    ("public_key", "not base64!"),
    ("public_key", ""),
    ("public_key", None),
    ("version", ""),
    ("version", "v" * 65),
    ("version", 1),
    ("version", None),
    ("shards", None),
    ("shards", []),
    ("shards", SHARD),
    ("shards", "europe-1"),
    ("shards", [SHARD | {"name": f"s{i}"} for i in range(MAX_SHARDS + 1)]),
]


@pytest.mark.parametrize(("field", "value"), BAD_REGISTRATIONS)
def test_registration_with_a_bad_field_is_refused(field: str, value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_registration(registration(**{field: value}))
    assert info.value.status == 400


@pytest.mark.parametrize("field", ["url", "public_key", "version", "shards"])
def test_registration_missing_a_field_is_refused(field: str) -> None:
    with pytest.raises(ProtocolError):
        parse_registration(without(registration(), field))


def test_registration_url_of_the_maximum_length_is_accepted() -> None:
    url = "https://" + "a" * (MAX_URL - len("https://"))
    assert parse_registration(registration(url=url)).url == url


def test_the_most_shards_a_fileserver_may_announce_are_accepted() -> None:
    shards = [SHARD | {"name": f"s{i}"} for i in range(MAX_SHARDS)]
    assert len(parse_registration(registration(shards=shards)).shards) == MAX_SHARDS


BAD_SHARDS = [
    pytest.param(["europe-1"], id="not-an-object"),
    pytest.param([SHARD, SHARD], id="announced-twice"),
    pytest.param([SHARD, SHARD | {"read": False}], id="announced-twice-with-other-access"),
    pytest.param([SHARD | {"name": "../x"}], id="name-traversal"),
    pytest.param([SHARD | {"name": "Europe-1"}], id="name-uppercase"),
    pytest.param([without(SHARD, "name")], id="name-missing"),
    pytest.param([SHARD | {"read": "yes"}], id="read-string"),
    pytest.param([SHARD | {"read": 1}], id="read-int"),
    pytest.param([SHARD | {"write": 0}], id="write-int"),
    pytest.param([without(SHARD, "write")], id="write-missing"),
    pytest.param([SHARD | {"backend": "ftp"}], id="backend-unknown"),
    pytest.param([SHARD | {"backend": "S3"}], id="backend-uppercase"),
    pytest.param([SHARD | {"backend": None}], id="backend-null"),
    pytest.param([SHARD | {"backend": ["s3"]}], id="backend-list"),
    pytest.param([SHARD | {"free_bytes": -1}], id="free-bytes-negative"),
    pytest.param([SHARD | {"free_bytes": True}], id="free-bytes-boolean"),
    pytest.param([SHARD | {"free_bytes": "10"}], id="free-bytes-string"),
    pytest.param([SHARD | {"free_bytes": 1.5}], id="free-bytes-float"),
]


@pytest.mark.parametrize("shards", BAD_SHARDS)
def test_bad_shard_announcement_is_refused(shards: list[Any]) -> None:
    with pytest.raises(ProtocolError):
        parse_registration(registration(shards=shards))
    with pytest.raises(ProtocolError):
        parse_heartbeat(heartbeat(shards=shards))


def test_heartbeat_is_parsed_field_by_field() -> None:
    assert parse_heartbeat(heartbeat()) == Heartbeat(
        version="0.1.0",
        shards=[ShardAnnouncement(name="europe-1", read=True, write=False, backend="s3", free_bytes=10**12)],
        active_transfers=3,
        bytes_per_s=125_000_000,
        free_bytes=10**12,
        chunk_count=40_000,
        corrupt=[("europe-1", FILE, CHUNK)],
    )


def test_heartbeat_round_trips_through_json() -> None:
    parsed = parse_heartbeat(heartbeat())
    assert parse_heartbeat(parsed.to_json()) == parsed


def test_heartbeat_without_corrupt_reports_has_none() -> None:
    assert parse_heartbeat(without(heartbeat(), "corrupt")).corrupt == []


def test_heartbeat_free_bytes_may_be_unknown() -> None:
    assert parse_heartbeat(heartbeat(free_bytes=None)).free_bytes is None
    assert parse_heartbeat(without(heartbeat(), "free_bytes")).free_bytes is None


def test_heartbeat_counters_may_be_zero() -> None:
    parsed = parse_heartbeat(heartbeat(active_transfers=0, bytes_per_s=0, chunk_count=0, free_bytes=0))
    assert (parsed.active_transfers, parsed.bytes_per_s, parsed.chunk_count, parsed.free_bytes) == (0, 0, 0, 0)


def test_heartbeat_may_report_the_most_corrupt_chunks() -> None:
    corrupt = [{"shard": "europe-1", "file": FILE, "chunk": f"{i:064x}"} for i in range(MAX_CORRUPT_REPORTS)]
    assert len(parse_heartbeat(heartbeat(corrupt=corrupt)).corrupt) == MAX_CORRUPT_REPORTS


BAD_HEARTBEATS = [
    ("version", ""),
    ("version", None),
    ("shards", []),
    ("shards", None),
    *[(counter, bad) for counter in ("active_transfers", "bytes_per_s", "chunk_count") for bad in (-1, True, "3", 1.5)],
    ("active_transfers", None),
    ("free_bytes", -1),
    ("free_bytes", False),
    ("free_bytes", "0"),
    ("corrupt", None),
    ("corrupt", {"shard": "europe-1", "chunk": CHUNK}),
    ("corrupt", [CHUNK]),
    ("corrupt", [{"shard": "../x", "chunk": CHUNK}]),
    ("corrupt", [{"shard": "europe-1", "chunk": CHUNK.upper()}]),
    ("corrupt", [{"shard": "europe-1"}]),
    ("corrupt", [{"chunk": CHUNK}]),
    ("corrupt", [{"shard": "europe-1", "file": FILE, "chunk": CHUNK}] * (MAX_CORRUPT_REPORTS + 1)),
    ("corrupt", [{"shard": "europe-1", "file": "../x", "chunk": CHUNK}]),
    ("purged", None),
    ("purged", [{"shard": "europe-1"}]),
    ("purged", [{"shard": "europe-1", "file": FILE.upper()}]),
    ("purged", [{"shard": "europe-1", "file": FILE}] * (MAX_PURGES + 1)),
]


@pytest.mark.parametrize(("field", "value"), BAD_HEARTBEATS)
def test_heartbeat_with_a_bad_field_is_refused(field: str, value: object) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_heartbeat(heartbeat(**{field: value}))
    assert info.value.status == 400


@pytest.mark.parametrize("field", ["version", "shards", "active_transfers", "bytes_per_s", "chunk_count"])
def test_heartbeat_missing_a_required_field_is_refused(field: str) -> None:
    with pytest.raises(ProtocolError):
        parse_heartbeat(without(heartbeat(), field))


names = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")
counts = st.integers(min_value=0, max_value=2**63 - 1)
shard_lists = st.lists(
    st.builds(
        ShardAnnouncement,
        name=names,
        read=st.booleans(),
        write=st.booleans(),
        backend=st.sampled_from(BACKENDS),
        free_bytes=st.none() | counts,
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda s: s.name,
)
versions = st.text(min_size=1, max_size=64)


@settings(deadline=None)
@given(
    st.builds(
        Registration,
        url=st.from_regex(r"\Ahttps?://[a-z0-9.-]{1,40}(:[0-9]{1,5})?(/[a-z0-9]{1,10})?\Z"),
        public_key=st.binary(min_size=32, max_size=32),
        version=versions,
        shards=shard_lists,
    )
)
def test_any_valid_registration_round_trips_through_json(value: Registration) -> None:
    assert parse_registration(value.to_json()) == value


@settings(deadline=None)
@given(
    st.builds(
        Heartbeat,
        version=versions,
        shards=shard_lists,
        active_transfers=counts,
        bytes_per_s=counts,
        free_bytes=st.none() | counts,
        chunk_count=counts,
        corrupt=st.lists(
            st.tuples(names, st.uuids(version=4).map(str), st.text("0123456789abcdef", min_size=64, max_size=64)),
            max_size=5,
        ),
        purged=st.lists(st.builds(FilePurge, names, st.uuids(version=4).map(str)), max_size=5),
    )
)
def test_any_valid_heartbeat_round_trips_through_json(value: Heartbeat) -> None:
    assert parse_heartbeat(value.to_json()) == value


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@settings(deadline=None)
@given(field=st.sampled_from(sorted(registration())), value=json_values)
def test_any_value_in_a_registration_field_parses_or_is_a_protocol_error(field: str, value: object) -> None:
    try:
        parse_registration(registration(**{field: value}))
    except ProtocolError:
        pass


@settings(deadline=None)
@given(field=st.sampled_from(sorted(heartbeat())), value=json_values)
def test_any_value_in_a_heartbeat_field_parses_or_is_a_protocol_error(field: str, value: object) -> None:
    try:
        parse_heartbeat(heartbeat(**{field: value}))
    except ProtocolError:
        pass


@settings(deadline=None)
@given(field=st.sampled_from(sorted(SHARD)), value=json_values)
def test_any_value_in_a_shard_field_parses_or_is_a_protocol_error(field: str, value: object) -> None:
    try:
        parse_shards([SHARD | {field: value}])
    except ProtocolError:
        pass


@settings(deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_any_json_object_is_a_registration_heartbeat_or_protocol_error(body: dict[str, Any]) -> None:
    for parse in (parse_registration, parse_heartbeat):
        try:
            parse(body)
        except ProtocolError:
            pass


def test_reconcile_query_and_answer_round_trip_and_refuse_bad_ids() -> None:
    query = ReconcileQuery("europe-1", [FILE])
    assert parse_reconcile_query(query.to_json()) == query
    answer = ReconcileAnswer([FILE], 86400.0)
    assert parse_reconcile_answer(answer.to_json()) == answer
    bad_queries: list[dict[str, Any]] = [
        {"shard": "europe-1", "files": ["x"]},
        {"shard": "europe-1", "files": [FILE] * 1001},
        {"files": []},
    ]
    for bad in bad_queries:
        with pytest.raises(ProtocolError):
            parse_reconcile_query(bad)
    with pytest.raises(ProtocolError):
        parse_reconcile_answer({"unknown": [FILE], "grace_seconds": -1})


def test_a_chunk_name_is_its_file_and_hash() -> None:
    from coffer.protocol.ids import chunk_name, split_chunk_name

    assert chunk_name(FILE, CHUNK) == f"{FILE}/{CHUNK}"
    assert split_chunk_name(f"{FILE}/{CHUNK}") == (FILE, CHUNK)
    for bad in (CHUNK, f"../{CHUNK}", f"{FILE}/{CHUNK}/x", f"{FILE}/{CHUNK.upper()}", None):
        with pytest.raises(ProtocolError):
            split_chunk_name(bad)
