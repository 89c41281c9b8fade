"""Every signed message at the maximum of every list and field it allows fits its kind's cap, and is opened.

A cap that a valid message can exceed takes a fileserver out for good (its heartbeat is
refused as malformed every time); a cap far above the largest valid message protects
nothing. So each cap is pinned from both sides against the largest message its limits allow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from coffer.protocol import cluster, copies, receipts, tickets, wire
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError
from coffer.protocol.messages import (
    BACKENDS,
    MAX_CORRUPT_REPORTS,
    MAX_PURGES,
    MAX_RECONCILE_CHUNKS,
    MAX_RECONCILE_FILES,
    MAX_REVOCATIONS_PAGE,
    MAX_SHARDS,
    MAX_URL,
    FilePurge,
    Heartbeat,
    HeartbeatAnswer,
    ReconcileQuery,
    Registration,
    Revocation,
    RevocationPage,
    ShardAnnouncement,
    parse_heartbeat,
    parse_heartbeat_answer,
    parse_reconcile_query,
    parse_registration,
)
from coffer.protocol.signing import MAX_FIGURE, SigningKey, TokenMalformed, TokenTooLarge

KEY = SigningKey(bytes(range(32)))
ID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
LONGEST_NAME = "z" * 63
HASH = "f" * 64
NOW = 1_767_225_600.1234567
"""A time whose text is as long as a float near now gets."""
CAP_SLACK = 1.25
"""A cap may exceed its largest message by this factor, no more: it is derived from the limits, not guessed."""


def longest_shards() -> list[ShardAnnouncement]:
    longest_backend = max(BACKENDS, key=len)
    names = [f"{i:03d}{LONGEST_NAME}"[:63] for i in range(MAX_SHARDS)]
    return [ShardAnnouncement(n, True, True, longest_backend, *[MAX_FIGURE] * 5) for n in names]


def largest_heartbeat() -> Heartbeat:
    return Heartbeat(
        version="v" * 64,
        shards=longest_shards(),
        active_transfers=MAX_FIGURE,
        bytes_per_s=MAX_FIGURE,
        free_bytes=MAX_FIGURE,
        chunk_count=MAX_FIGURE,
        corrupt=[(LONGEST_NAME, ID, HASH)] * MAX_CORRUPT_REPORTS,
        purged=[FilePurge(LONGEST_NAME, ID)] * MAX_PURGES,
        copied=[largest_receipt()] * copies.MAX_COPY_REPORTS,
        copy_failed=[copies.CopyFailure(ID, HASH, ID, "unreachable")] * copies.MAX_COPY_REPORTS,
    )


def largest_receipt() -> str:
    return receipts.sign(KEY, receipts.Receipt(ID, LONGEST_NAME, ID, HASH, MAX_FIGURE, MAX_FIGURE))


def largest_registration() -> Registration:
    return Registration("https://" + "h" * (MAX_URL - 8), b"\xff" * 32, "v" * 64, longest_shards())


def largest_reconcile_query() -> ReconcileQuery:
    """The most file ids, and an inventory of the most chunk hashes spread two to a file."""
    files = [ID[:-4] + f"{i:04x}" for i in range(MAX_RECONCILE_FILES)]
    held = {f: [HASH, HASH] for f in files[: MAX_RECONCILE_CHUNKS // 2]}
    return ReconcileQuery(LONGEST_NAME, files, held)


def largest_cluster_request(action: cluster.Action) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the largest body *action* allows, and the HTTP body that carries it signed and proven."""
    if action == "heartbeat":
        body = largest_heartbeat().to_json()
    elif action == "register":
        body = largest_registration().to_json()
    else:
        body = largest_reconcile_query().to_json()
    return body, cluster.prove(KEY, cluster.sign_request(KEY, ID, MAX_FIGURE, ID, action, body, NOW))


PARSERS: dict[cluster.Action, Callable[[dict[str, Any]], Any]] = {
    "heartbeat": parse_heartbeat,
    "register": parse_registration,
    "reconcile": parse_reconcile_query,
}


@pytest.mark.parametrize("action", list(PARSERS))
def test_largest_cluster_request_fits_its_cap_and_the_server_body_limit_and_opens(action: cluster.Action) -> None:
    body, http_body = largest_cluster_request(action)
    assert len(http_body["token"]) <= cluster.MAX_TOKEN_LENGTH
    assert len(json.dumps(http_body).encode()) <= wire.MAX_JSON_BODY
    request = cluster.open_request(http_body, KEY.public_key, action, NOW)
    cluster.check_proof(http_body, KEY.public_key)
    assert PARSERS[action](request.body).to_json() == body


def test_cluster_cap_is_derived_from_the_largest_heartbeat() -> None:
    largest = max(len(largest_cluster_request(action)[1]["token"]) for action in PARSERS)
    assert largest <= cluster.MAX_TOKEN_LENGTH <= largest * CAP_SLACK


def test_a_heartbeat_beyond_the_list_limits_is_refused_by_the_sender_not_sent() -> None:
    beat = largest_heartbeat().to_json()
    beat["purged"] = beat["purged"] * 4
    with pytest.raises(TokenTooLarge, match="cluster-request"):
        cluster.sign_request(KEY, ID, 1, ID, "heartbeat", beat, NOW)


def test_a_cluster_request_over_the_cap_is_malformed() -> None:
    body = b64encode(json.dumps({"pad": "x" * cluster.MAX_TOKEN_LENGTH}).encode())
    with pytest.raises(TokenMalformed, match="more than"):
        cluster.claimed_sender({"token": body + ".AA"})


def largest_ticket() -> str:
    ticket = tickets.Ticket(
        op="get",
        file=ID,
        shard=LONGEST_NAME,
        sub=ID,
        iat=MAX_FIGURE,
        exp=MAX_FIGURE,
        jti=ID,
        chunks=(HASH,) * tickets.MAX_TICKET_CHUNKS,
        max_bytes=MAX_FIGURE,
    )
    return tickets.issue(KEY, ticket)


def test_largest_ticket_fits_its_cap_and_the_fileserver_header_limit_with_room_for_the_rest() -> None:
    token = largest_ticket()
    assert len(token) <= tickets.MAX_TOKEN_LENGTH <= len(token) * CAP_SLACK
    header = f"Authorization: {wire.TICKET_SCHEME} {tickets.MAX_TOKEN_LENGTH * 'x'}"
    assert len(header) + 2048 <= wire.MAX_HEADER_BYTES
    assert tickets.verify(token, {KEY.kid: KEY.public_key}, MAX_FIGURE).chunks == (HASH,) * tickets.MAX_TICKET_CHUNKS


def test_largest_receipt_fits_its_cap_and_opens() -> None:
    receipt = receipts.Receipt(ID, LONGEST_NAME, ID, HASH, MAX_FIGURE, MAX_FIGURE)
    token = receipts.sign(KEY, receipt)
    assert len(token) <= receipts.MAX_TOKEN_LENGTH <= len(token) * CAP_SLACK
    assert receipts.verify(token, KEY.public_key) == receipt


@pytest.mark.parametrize("figure", [MAX_FIGURE + 1, -1])
def test_a_figure_beyond_64_bits_is_refused_so_the_sizes_above_hold(figure: int) -> None:
    beat = largest_heartbeat().to_json() | {"chunk_count": figure}
    with pytest.raises(ProtocolError, match="64-bit"):
        parse_heartbeat(beat)


def largest_copy_ticket() -> str:
    ticket = copies.CopyTicket(ID, ID, LONGEST_NAME, ID, HASH, MAX_FIGURE, MAX_FIGURE, MAX_FIGURE, ID)
    return copies.issue(KEY, ticket)


def test_largest_copy_ticket_fits_its_cap_and_the_fileserver_header_limit_and_opens() -> None:
    token = largest_copy_ticket()
    assert len(token) <= copies.MAX_TOKEN_LENGTH <= len(token) * CAP_SLACK
    assert len(f"Authorization: {wire.TICKET_SCHEME} {token}") + 2048 <= wire.MAX_HEADER_BYTES
    opened = copies.verify(token, {KEY.kid: KEY.public_key}, MAX_FIGURE)
    assert (opened.target, opened.chunk, opened.size) == (ID, HASH, MAX_FIGURE)


def test_a_copy_ticket_over_its_cap_is_refused_as_malformed() -> None:
    token = largest_copy_ticket()
    padded = b64encode(json.dumps({"pad": "x" * copies.MAX_TOKEN_LENGTH}).encode()) + "." + token.split(".")[1]
    with pytest.raises(tickets.TicketError, match="malformed"):
        copies.verify(padded, {KEY.kid: KEY.public_key}, 0)


def test_largest_heartbeat_answer_with_every_copy_order_fits_the_json_body_limit_and_parses() -> None:
    order = copies.CopyOrder(
        LONGEST_NAME, ID, HASH, MAX_FIGURE, ID, "https://" + "h" * (MAX_URL - 8), largest_copy_ticket(), MAX_FIGURE
    )
    entry = Revocation(MAX_FIGURE, MAX_FIGURE, ID, ID, "put")
    answer = HeartbeatAnswer(
        lease_seconds=1e300,
        server_time=NOW,
        revocations=RevocationPage(MAX_FIGURE, MAX_FIGURE, True, [entry] * MAX_REVOCATIONS_PAGE),
        purge=[FilePurge(LONGEST_NAME, ID)] * MAX_PURGES,
        copy=[order] * copies.MAX_COPY_ORDERS,
    ).to_json()
    assert len(json.dumps(answer).encode()) <= wire.MAX_JSON_BODY
    assert parse_heartbeat_answer(answer).copy == [order] * copies.MAX_COPY_ORDERS
    with pytest.raises(ProtocolError, match="at most"):
        parse_heartbeat_answer(answer | {"copy": answer["copy"] * 2})
