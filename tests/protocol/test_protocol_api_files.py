"""File and ticket messages: the server's checks of a request, the client's checks of an answer, and their limits."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.files import (
    MAX_CHUNK_LOCATIONS,
    MAX_FILE_SIZE,
    MAX_RECEIPTS_PER_CHUNK,
    MAX_SHARDS_LISTED,
    ChunkEntry,
    CreateFile,
    FileRecord,
    Finalize,
    FinalizedChunk,
    ShardSummary,
    parse_file_list,
    parse_shard_summaries,
)
from coffer.protocol.api.tickets import (
    MAX_LIVE_FILESERVERS,
    MAX_REQUESTED_CHUNKS,
    IssuedTicket,
    LiveFileserver,
    TicketRequest,
    Tickets,
    parse_live_fileservers,
)
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.tickets import MAX_TICKET_CHUNKS

FILE = "0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b"
CHUNK = "ab" * 32

LIFETIME = "'expires_in' must be a number of seconds from 60 to 3153600000"
"""The refusal of a lifetime out of bounds: the bounds quoted, never the number sent."""


def create(**changes: Any) -> dict[str, Any]:
    body = {"shard": "hq", "size": 100, "chunk_size": 64, "chunk_count": 2, "metadata": b64encode(b"m" * 40)}
    return {k: v for k, v in (body | changes).items() if v is not None}


def record(**changes: Any) -> dict[str, Any]:
    body = {
        "id": FILE,
        "owner": "alice",
        "shard": "hq",
        "size": 100,
        "chunk_count": 2,
        "chunk_size": 64,
        "metadata": "bWV0YQ",
        "sealed_key": "a2V5",
        "state": "complete",
        "created_at": 1.5,
        "expires_at": 100.0,
        "completed_at": 2.0,
        "key_commitment": "",
        "access": "owner",
    }
    return body | changes


def refusal(parse: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as info:
        parse(*args, **kwargs)
    assert info.value.status == 400
    return info.value.code, info.value.message


def test_create_file_round_trips_through_its_json() -> None:
    body = create(sealed_key=b64encode(b"k" * 80), key_commitment=b64encode(b"c" * 32), expires_in=60, format=1)
    assert CreateFile.parse(body).to_json() == body


def test_a_create_without_a_format_version_is_format_1() -> None:
    assert CreateFile.parse(create()).format_version == 1
    assert CreateFile.parse(create()).to_json()["format"] == 1


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"shard": "Bad!"}, "invalid_shard", "invalid shard: expected 1-63 lowercase letters, digits or dashes"),
        ({"size": 0}, "invalid_size", f"'size' must be an integer from 1 to {MAX_FILE_SIZE}"),
        ({"size": True}, "invalid_size", f"'size' must be an integer from 1 to {MAX_FILE_SIZE}"),
        ({"chunk_size": 65}, "invalid_chunk_size", "'chunk_size' must be an integer from 1 to 64"),
        ({"chunk_count": 1}, "invalid_layout", "size, chunk_size and chunk_count do not agree"),
        ({"metadata": "***"}, "invalid_metadata", "'metadata' must be base64url of at most 65536 bytes"),
        ({"key_commitment": b64encode(b"c" * 31)}, "invalid_key_commitment", "'key_commitment' must be 32 bytes"),
        ({"expires_in": -1}, "invalid_expires_in", LIFETIME),
        # A file gone before it could be uploaded, and numbers quoted back 300 digits long, are both refused.
        ({"expires_in": 1e-300}, "invalid_expires_in", LIFETIME),
        ({"expires_in": 1e300}, "invalid_expires_in", LIFETIME),
        ({"expires_in": 10**400}, "invalid_expires_in", LIFETIME),
        ({"expires_in": float("inf")}, "invalid_expires_in", LIFETIME),
        (
            {"format": 2},
            "unknown_format",
            "'format' must be a file format version this server knows (1), not '2': a newer client wrote it, "
            "or the request is malformed; upgrade the server to store it",
        ),
    ],
)
def test_create_file_refuses_a_bad_field_with_the_servers_code_and_message(
    changes: dict[str, Any], code: str, message: str
) -> None:
    assert refusal(CreateFile.parse, create(**changes), max_chunk_size=64) == (code, message)


def test_a_record_keeps_fields_a_newer_server_adds() -> None:
    body = record(format=2, chunks=[{"index": 0, "hash": CHUNK, "size": 64, "fileservers": []}] * 2)
    assert FileRecord.parse(body).to_json() == body


def test_a_shared_record_carries_the_recipients_box() -> None:
    parsed = FileRecord.parse(record(access="shared", sealed_key="", share_key="Ym94", owner_public_key="cGs"))
    assert (parsed.share_key, parsed.owner_public_key) == ("Ym94", "cGs")


@pytest.mark.parametrize("changes", [{"state": "lost"}, {"size": "100"}, {"id": None}, {"created_at": True}])
def test_a_malformed_record_is_refused(changes: dict[str, Any]) -> None:
    assert refusal(FileRecord.parse, record(**changes))[0] == "invalid_answer"


def test_a_records_chunk_list_may_not_exceed_its_chunk_count() -> None:
    chunk = {"index": 0, "hash": CHUNK, "size": 50, "fileservers": []}
    assert len(FileRecord.parse(record(chunks=[chunk] * 2)).chunks or ()) == 2
    assert refusal(FileRecord.parse, record(chunks=[chunk] * 3))[0] == "invalid_answer"


def test_a_chunk_is_listed_on_at_most_the_limit_of_fileservers() -> None:
    entry = {"index": 0, "hash": CHUNK, "size": 1, "fileservers": [FILE] * MAX_CHUNK_LOCATIONS}
    assert len(ChunkEntry.parse(entry).fileservers) == MAX_CHUNK_LOCATIONS
    entry["fileservers"] = [FILE] * (MAX_CHUNK_LOCATIONS + 1)
    assert refusal(ChunkEntry.parse, entry)[0] == "invalid_answer"


def test_a_listing_is_a_list_of_records() -> None:
    assert [r.id for r in parse_file_list([record(), record()])] == [FILE, FILE]
    assert refusal(parse_file_list, {"files": []})[0] == "invalid_answer"


def test_finalize_sends_every_chunk_with_its_receipts() -> None:
    body = Finalize((FinalizedChunk(0, CHUNK, 10, ("r1", "r2")),), metadata="bQ").to_json()
    assert body == {"chunks": [{"index": 0, "hash": CHUNK, "size": 10, "receipts": ["r1", "r2"]}], "metadata": "bQ"}


def finalize(count: int, receipts: int = 1, **changes: Any) -> dict[str, Any]:
    chunks = [{"index": i, "hash": CHUNK, "size": 10, "receipts": ["r"] * receipts} for i in range(count)]
    return {"chunks": chunks} | changes


LAYOUT = {"size": 30, "chunk_size": 10, "chunk_count": 3}


def test_finalize_round_trips_through_its_json() -> None:
    body = finalize(3, metadata="bQ")
    assert Finalize.parse(body, **LAYOUT).to_json() == body
    assert Finalize.parse(finalize(3), **LAYOUT).metadata is None


def test_finalize_lists_exactly_the_files_chunk_count_and_no_more() -> None:
    assert len(Finalize.parse(finalize(3), **LAYOUT).chunks) == 3
    message = "'chunks' must list all 3 chunks of the file"
    assert refusal(Finalize.parse, finalize(4), **LAYOUT) == ("invalid_chunks", message)
    assert refusal(Finalize.parse, finalize(2), **LAYOUT) == ("invalid_chunks", message)


def test_finalize_takes_each_chunk_with_at_most_the_limit_of_receipts() -> None:
    parsed = Finalize.parse(finalize(3, receipts=MAX_RECEIPTS_PER_CHUNK), **LAYOUT)
    assert [len(c.receipts) for c in parsed.chunks] == [MAX_RECEIPTS_PER_CHUNK] * 3
    assert refusal(Finalize.parse, finalize(3, receipts=MAX_RECEIPTS_PER_CHUNK + 1), **LAYOUT) == (
        "invalid_chunks",
        f"chunk 0: 'receipts' must hold 1 to {MAX_RECEIPTS_PER_CHUNK} receipts",
    )


def test_finalize_sorts_chunks_by_index_and_refuses_gaps_and_repeats() -> None:
    body = finalize(3)
    body["chunks"].reverse()
    assert [c.index for c in Finalize.parse(body, **LAYOUT).chunks] == [0, 1, 2]
    body["chunks"][0] = body["chunks"][1]
    assert refusal(Finalize.parse, body, **LAYOUT)[0] == "invalid_chunks"
    mixed = finalize(3)
    mixed["chunks"][2]["index"] = "two"
    assert refusal(Finalize.parse, mixed, **LAYOUT) == (
        "invalid_chunks",
        "chunk indexes must run from 0 to chunk_count - 1, once each",
    )


def test_finalize_checks_sizes_then_their_sum_then_the_metadata() -> None:
    big = finalize(3)
    big["chunks"][1]["size"] = 11
    assert refusal(Finalize.parse, big, **LAYOUT) == ("invalid_size", "'size' must be an integer from 1 to 10")
    short = finalize(3, metadata="not base64!")
    short["chunks"][1]["size"] = 9
    assert refusal(Finalize.parse, short, **LAYOUT)[1] == "the chunk sizes do not add up to the file size"
    assert refusal(Finalize.parse, finalize(3, metadata="not base64!"), **LAYOUT)[0] == "invalid_metadata"


def test_a_ticket_request_names_at_most_the_limit_of_chunks() -> None:
    at_max = {"op": "get", "chunks": [CHUNK] * MAX_REQUESTED_CHUNKS}
    assert len(TicketRequest.parse(at_max).chunks or ()) == MAX_REQUESTED_CHUNKS
    over = {"op": "get", "chunks": [CHUNK] * (MAX_REQUESTED_CHUNKS + 1)}
    assert refusal(TicketRequest.parse, over) == (
        "invalid_chunks",
        "'chunks' must be a non-empty list of this file's chunk hashes",
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"op": "delete"}, "invalid_op"),
        ({"op": "get", "chunks": []}, "invalid_chunks"),
        ({"op": "get", "chunks": ["x"]}, "invalid_chunk_hash"),
    ],
)
def test_a_bad_ticket_request_is_refused(body: dict[str, Any], code: str) -> None:
    assert refusal(TicketRequest.parse, body)[0] == code


def test_a_ticket_answer_round_trips_and_keeps_a_link_downloads_id() -> None:
    body = {
        "download": FILE,
        "tickets": [{"ticket": "t", "chunks": [CHUNK] * MAX_TICKET_CHUNKS, "expires_at": 9}],
        "fileservers": [LiveFileserver(FILE, "http://fs", 1, 2, 3, 4.0).to_json()],
    }
    parsed = Tickets.parse(body)
    assert parsed.extra == {"download": FILE} and parsed.to_json() == body


def test_a_ticket_names_at_most_32_chunks() -> None:
    too_many = {"ticket": "t", "chunks": [CHUNK] * (MAX_TICKET_CHUNKS + 1), "expires_at": 9}
    assert refusal(IssuedTicket.parse, too_many)[0] == "invalid_answer"


def test_the_live_list_holds_at_most_the_limit_of_fileservers() -> None:
    one = {"id": FILE, "url": "http://fs", "active_transfers": 0, "bytes_per_s": 0, "free_bytes": None}
    assert len(parse_live_fileservers([one] * MAX_LIVE_FILESERVERS)) == MAX_LIVE_FILESERVERS
    assert refusal(parse_live_fileservers, [one] * (MAX_LIVE_FILESERVERS + 1))[0] == "invalid_answer"


def test_the_shard_listing_holds_at_most_its_limit() -> None:
    shard = {"name": "hq", "description": "", "readers": 2, "writers": 0, "copies": 2}
    assert list(ShardSummary.parse(shard).to_json().items()) == list(shard.items())
    assert len(parse_shard_summaries([shard] * MAX_SHARDS_LISTED)) == MAX_SHARDS_LISTED
    for bad in ([shard] * (MAX_SHARDS_LISTED + 1), [shard | {"readers": None}]):
        with pytest.raises(ProtocolError) as info:
            parse_shard_summaries(bad)
        assert info.value.code == "invalid_answer"
