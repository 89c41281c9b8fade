"""Pages of a listing: the cursor round-trips, the request's limits, and the client's reading of a page."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coffer.protocol.api.files import FileFilter, FilePage
from coffer.protocol.api.pages import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_CHARS,
    MAX_PAGE_SIZE,
    PageRequest,
    Position,
    decode_cursor,
    encode_cursor,
)
from coffer.protocol.api.sharing import LinkPage
from coffer.protocol.errors import ProtocolError
from coffer.protocol.ids import new_id

RECORD: dict[str, Any] = {
    "id": new_id(),
    "owner": "alice",
    "shard": "default",
    "size": 10,
    "chunk_count": 1,
    "chunk_size": 10,
    "metadata": "",
    "sealed_key": "",
    "state": "complete",
    "created_at": 1.0,
    "expires_at": 2.0,
    "completed_at": 1.5,
    "key_commitment": None,
    "access": "owner",
}


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False), st.uuids(version=4))
def test_a_cursor_gives_back_the_exact_position_it_was_made_from(created_at: float, record: Any) -> None:
    position = Position(created_at, str(record))
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert len(cursor) <= MAX_CURSOR_CHARS


@pytest.mark.parametrize("cursor", ["", "a+b", "x" * (MAX_CURSOR_CHARS + 1), 7, ["a"], encode_cursor(Position(1, "x"))])
def test_anything_but_a_cursor_the_server_wrote_is_invalid_cursor(cursor: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_cursor(cursor)
    assert caught.value.code == "invalid_cursor"


def test_a_page_request_defaults_and_bounds_its_limit() -> None:
    assert PageRequest.parse({}) == PageRequest(DEFAULT_PAGE_SIZE, None)
    assert PageRequest.parse({"limit": str(MAX_PAGE_SIZE)}).limit == MAX_PAGE_SIZE
    for bad in ("0", str(MAX_PAGE_SIZE + 1), "-5", "", ["10", "20"]):
        with pytest.raises(ProtocolError) as caught:
            PageRequest.parse({"limit": bad})
        assert caught.value.code == "invalid_limit", bad
    after = Position(12.5, new_id())
    assert PageRequest.parse(PageRequest(50, after).to_params()) == PageRequest(50, after)
    assert not PageRequest.asked({"shared": "true"}) and PageRequest.asked({"after": "x"})


def test_a_file_filter_accepts_a_known_state_and_a_shard_name() -> None:
    assert FileFilter.parse({"state": "pending", "shard": "hq"}).to_params() == {"state": "pending", "shard": "hq"}
    assert FileFilter.parse({}) == FileFilter()
    for params in ({"state": "gone"}, {"state": ["pending"]}, {"shard": "Bad Name"}):
        with pytest.raises(ProtocolError):
            FileFilter.parse(params)


def test_a_page_of_files_round_trips_and_holds_at_most_the_largest_page() -> None:
    page = FilePage.parse({"files": [RECORD], "next": "abc"})
    assert page.next == "abc" and FilePage.parse(page.to_json()) == page
    assert FilePage.parse({"files": [RECORD] * MAX_PAGE_SIZE, "next": None}).next is None
    with pytest.raises(ProtocolError):
        FilePage.parse({"files": [RECORD] * (MAX_PAGE_SIZE + 1), "next": None})
    with pytest.raises(ProtocolError):
        FilePage.parse({"files": [], "next": 5})


def test_a_bare_list_from_a_server_without_pages_is_the_whole_listing() -> None:
    page = FilePage.parse([RECORD] * (MAX_PAGE_SIZE + 1))
    assert len(page.files) == MAX_PAGE_SIZE + 1 and page.next is None


def test_a_page_of_links_round_trips_and_a_bare_list_is_the_whole_listing() -> None:
    link = {
        "id": new_id(),
        "file": new_id(),
        "created_at": 1.0,
        "expires_at": 2.0,
        "max_downloads": None,
        "downloads": 0,
        "protected": False,
        "state": "active",
        "revoked_at": None,
    }
    page = LinkPage.parse({"links": [link] * MAX_PAGE_SIZE, "next": "abc"})
    assert LinkPage.parse(page.to_json()) == page
    assert LinkPage.parse([link, link]).next is None
    with pytest.raises(ProtocolError):
        LinkPage.parse({"links": [link] * (MAX_PAGE_SIZE + 1), "next": None})
