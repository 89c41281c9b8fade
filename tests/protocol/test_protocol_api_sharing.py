"""Share, link and link-ticket messages: the server's checks, with the codes and messages it always answered."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.sharing import (
    MAX_ADMIN_LINKS,
    MAX_ADMIN_SHARES,
    MAX_DOWNLOADS,
    MAX_LISTED_LINKS,
    MAX_LISTED_SHARES,
    AdminShare,
    CreateLink,
    Link,
    LinkTicketsRequest,
    LinkView,
    PublicKey,
    Share,
    ShareEntry,
    parse_admin_links,
    parse_admin_shares,
    parse_links,
    parse_shares,
)
from coffer.protocol.api.tickets import MAX_REQUESTED_CHUNKS
from coffer.protocol.encoding import b64encode
from coffer.protocol.errors import ProtocolError

DOWNLOAD = "0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b"
CHUNK = "ab" * 32
KEY = b64encode(bytes(32))


def refusal(parse: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as info:
        parse(*args, **kwargs)
    assert info.value.status == 400
    return info.value.code, info.value.message


def test_a_share_round_trips() -> None:
    share = Share(b64encode(b"box" * 20), KEY)
    assert Share.parse(share.to_json()) == share


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"share_key": "", "public_key": KEY}, "invalid_share_key", "'share_key' must not be empty"),
        (
            {"share_key": "Ym94", "public_key": b64encode(bytes(31))},
            "invalid_public_key",
            "'public_key' must be 32 bytes",
        ),
        ({"share_key": "Ym94"}, "invalid_public_key", "'public_key' must be base64url"),
    ],
)
def test_a_bad_share_is_refused(body: dict[str, Any], code: str, message: str) -> None:
    assert refusal(Share.parse, body) == (code, message)


def test_a_link_request_round_trips_and_defaults_to_the_servers_expiry() -> None:
    link = CreateLink(60.0, MAX_DOWNLOADS, protected=True)
    assert CreateLink.parse(link.to_json(), max_retention=100) == link
    assert CreateLink.parse({}, max_retention=100) == CreateLink()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_in": 101}, "invalid_expires_in"),
        ({"expires_in": 1e-300}, "invalid_expires_in"),
        ({"expires_in": float("nan")}, "invalid_expires_in"),
        ({"expires_in": None}, "invalid_expires_in"),
        ({"max_downloads": MAX_DOWNLOADS + 1}, "invalid_max_downloads"),
        ({"protected": "yes"}, "invalid_protected"),
    ],
)
def test_a_bad_link_request_is_refused(body: dict[str, Any], code: str) -> None:
    assert refusal(CreateLink.parse, body, max_retention=100)[0] == code


def test_link_tickets_name_at_most_the_limit_of_chunks() -> None:
    at_max = LinkTicketsRequest(DOWNLOAD, (CHUNK,) * MAX_REQUESTED_CHUNKS)
    assert LinkTicketsRequest.parse(at_max.to_json()) == at_max
    over = {"download": DOWNLOAD, "chunks": [CHUNK] * (MAX_REQUESTED_CHUNKS + 1)}
    assert refusal(LinkTicketsRequest.parse, over)[0] == "invalid_chunks"
    assert refusal(LinkTicketsRequest.parse, {})[0] == "invalid_download"


def test_a_public_key_answer_must_carry_the_key() -> None:
    assert PublicKey.parse({"name": "bob", "public_key": KEY}) == PublicKey("bob", KEY)
    assert refusal(PublicKey.parse, {"name": "bob"})[0] == "invalid_answer"


def _link(**changes: Any) -> dict[str, Any]:
    link = Link(DOWNLOAD, DOWNLOAD, 1.0, 2.0, None, 0, False, "active").to_json()
    return link | changes


def test_a_link_round_trips_as_its_owner_sees_it() -> None:
    assert Link.parse(_link()).to_json() == _link()
    assert refusal(Link.parse, _link(protected="no"))[0] == "invalid_answer"


def test_a_link_listing_holds_at_most_the_limit_of_links() -> None:
    assert len(parse_links([_link()] * MAX_LISTED_LINKS)) == MAX_LISTED_LINKS
    assert refusal(parse_links, [_link()] * (MAX_LISTED_LINKS + 1))[0] == "invalid_answer"


def test_a_share_listing_holds_at_most_the_limit_of_recipients() -> None:
    entry = ShareEntry("bob", 12.5).to_json()
    assert entry == {"user": "bob", "created_at": 12.5, "stale": False}
    assert ShareEntry.parse({"user": "bob", "created_at": 12.5}) == ShareEntry("bob", 12.5), "an older server's"
    assert len(parse_shares([entry] * MAX_LISTED_SHARES)) == MAX_LISTED_SHARES
    assert refusal(parse_shares, [entry] * (MAX_LISTED_SHARES + 1))[0] == "invalid_answer"
    assert refusal(parse_shares, [{"user": 5, "created_at": 1}])[0] == "invalid_answer"


def link_view(chunks: int = 2, listed: int = 2) -> dict[str, Any]:
    chunk = {"index": 0, "hash": CHUNK, "size": 10, "fileservers": ["fs"]}
    return {
        "link": {
            "id": "l",
            "expires_at": 9.0,
            "max_downloads": None,
            "downloads": 0,
            "protected": False,
            "state": "active",
        },
        "file": {
            "id": "f",
            "size": 20,
            "chunk_count": chunks,
            "chunk_size": 10,
            "metadata": "bQ",
            "key_commitment": None,
            "state": "complete",
            "expires_at": 9.0,
            "format": 1,
            "shard": "hq",
            "chunks": [chunk] * listed,
        },
    }


def test_a_link_view_round_trips_in_the_servers_field_order() -> None:
    body = link_view()
    view = LinkView.parse(body)
    assert view.to_json() == body
    assert list(view.to_json()["file"]) == list(body["file"])
    newer = link_view()
    newer["file"]["cipher"] = "x"
    assert LinkView.parse(newer).to_json()["file"]["cipher"] == "x"


def test_a_linked_file_lists_at_most_its_chunk_count() -> None:
    assert len(LinkView.parse(link_view(chunks=3, listed=3)).file.chunks) == 3
    assert refusal(LinkView.parse, link_view(chunks=3, listed=4))[0] == "invalid_answer"
    broken = link_view()
    broken["link"]["protected"] = "no"
    assert refusal(LinkView.parse, broken)[0] == "invalid_answer"


def test_an_administrators_share_listing_holds_at_most_its_limit() -> None:
    entry = AdminShare(DOWNLOAD, "alice", "bob", 3.0).to_json()
    assert list(entry) == ["file", "owner", "user", "created_at"]
    assert len(parse_admin_shares([entry] * MAX_ADMIN_SHARES)) == MAX_ADMIN_SHARES
    assert refusal(parse_admin_shares, [entry] * (MAX_ADMIN_SHARES + 1))[0] == "invalid_answer"


def test_an_administrators_link_listing_names_each_owner_last_and_holds_at_most_its_limit() -> None:
    link = Link(DOWNLOAD, DOWNLOAD, 1.0, 2.0, None, 0, False, "active", owner="alice")
    body = link.to_json()
    assert list(body)[-1] == "owner"
    assert "owner" not in Link.parse({k: v for k, v in body.items() if k != "owner"}).to_json()
    assert len(parse_admin_links([body] * MAX_ADMIN_LINKS)) == MAX_ADMIN_LINKS
    assert refusal(parse_admin_links, [body] * (MAX_ADMIN_LINKS + 1))[0] == "invalid_answer"
