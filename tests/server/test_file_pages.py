"""``GET /api/files`` in pages: an account of ten thousand files, walked with a cursor on both engines."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from coffer.protocol.api.files import FilePage
from coffer.protocol.api.pages import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Position, encode_cursor
from coffer.protocol.ids import new_id
from tests.many_files import insert_files, share_files

from .conftest import Harness

MANY = 10_000


@pytest.fixture
def alice(harness: Harness, admin: str) -> str:
    return harness.make_user("alice")


def _page(harness: Harness, token: str, **params: Any) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return harness.call("GET", f"/api/files?{query}", token=token)


def _walk(harness: Harness, token: str, limit: int, **params: Any) -> list[str]:
    """List every page in turn; return the ids in the order they came."""
    seen: list[str] = []
    after: dict[str, str] = {}
    while True:
        answer = _page(harness, token, limit=limit, **params, **after)
        assert answer.status_code == 200, answer.json
        page = FilePage.parse(answer.json)
        assert len(page.files) <= limit
        seen += [f.id for f in page.files]
        if page.next is None:
            return seen
        after = {"after": page.next}


def test_ten_thousand_files_are_listed_once_each_in_pages_of_the_largest_size(harness: Harness, alice: str) -> None:
    ids = insert_files(harness.db, "alice", MANY)
    first = _page(harness, alice, limit=MAX_PAGE_SIZE).json
    assert [f["id"] for f in first["files"]] == ids[:MAX_PAGE_SIZE]
    assert _walk(harness, alice, MAX_PAGE_SIZE) == ids


def test_a_walk_sees_each_surviving_file_once_while_files_are_deleted_between_pages(
    harness: Harness, alice: str
) -> None:
    ids = insert_files(harness.db, "alice", MANY)
    deleted: set[str] = set()
    seen: list[str] = []
    after: dict[str, str] = {}
    while True:
        page = FilePage.parse(_page(harness, alice, limit=MAX_PAGE_SIZE, **after).json)
        seen += [f.id for f in page.files]
        # Delete the last file just listed (the cursor's own row) and every 50th file still ahead.
        position = len(seen)
        doomed = [seen[-1], *ids[position + 3 :: 50]] if page.files else []
        for file_id in doomed:
            if file_id not in deleted:
                assert harness.call("DELETE", f"/api/files/{file_id}", token=alice).status_code == 204
                deleted.add(file_id)
        if page.next is None:
            break
        after = {"after": page.next}
    assert max(Counter(seen).values()) == 1
    ahead_when_deleted = deleted - set(seen)
    assert ahead_when_deleted and not ahead_when_deleted & set(seen)
    assert set(seen) == set(ids) - ahead_when_deleted


def test_a_page_holds_the_default_size_unless_asked_and_never_more_than_the_maximum(
    harness: Harness, alice: str
) -> None:
    insert_files(harness.db, "alice", MAX_PAGE_SIZE + 1)
    assert len(_page(harness, alice, after=encode_cursor(Position(0, new_id()))).json["files"]) == DEFAULT_PAGE_SIZE
    at_max = _page(harness, alice, limit=MAX_PAGE_SIZE).json
    assert len(at_max["files"]) == MAX_PAGE_SIZE and at_max["next"]
    last = _page(harness, alice, limit=MAX_PAGE_SIZE, after=at_max["next"]).json
    assert len(last["files"]) == 1 and last["next"] is None
    for limit in (0, MAX_PAGE_SIZE + 1, -1, "ten", "1.5"):
        answer = _page(harness, alice, limit=limit)
        assert (answer.status_code, answer.json["error"]) == (400, "invalid_limit"), limit


def test_a_cursor_the_server_did_not_hand_out_is_refused(harness: Harness, alice: str) -> None:
    for cursor in ("nonsense", "x" * 500, encode_cursor(Position(1.0, "not-an-id")), "WzIsMSwiYSJd"):
        answer = _page(harness, alice, limit=10, after=cursor)
        assert (answer.status_code, answer.json["error"]) == (400, "invalid_cursor"), cursor
        assert "pass back the 'next'" in answer.json["message"]


def test_a_request_without_paging_gets_the_first_page_as_the_bare_list_older_clients_read(
    harness: Harness, alice: str
) -> None:
    ids = insert_files(harness.db, "alice", MAX_PAGE_SIZE + 5)
    answer = harness.call("GET", "/api/files", token=alice).json
    assert isinstance(answer, list)
    assert [f["id"] for f in answer] == ids[:MAX_PAGE_SIZE]


def test_pages_can_be_filtered_by_state_and_shard(harness: Harness, alice: str) -> None:
    pending = insert_files(harness.db, "alice", 1500)
    complete = insert_files(harness.db, "alice", 1200, state="complete", start=1_700_000_500.0)
    archived = insert_files(harness.db, "alice", 300, shard="archive", state="complete")
    assert _walk(harness, alice, 700, state="complete", shard="default") == complete
    assert _walk(harness, alice, 700, state="pending") == pending
    assert _walk(harness, alice, 700, shard="archive") == archived
    for params, code in (({"state": "lost"}, "invalid_state"), ({"shard": "../x"}, "invalid_shard")):
        answer = _page(harness, alice, limit=10, **params)
        assert (answer.status_code, answer.json["error"]) == (400, code)


def test_a_page_lists_only_the_callers_own_files(harness: Harness, alice: str) -> None:
    insert_files(harness.db, "alice", 50)
    bob = harness.make_user("bob")
    assert _page(harness, bob, limit=MAX_PAGE_SIZE).json == {"files": [], "next": None}


def test_the_files_shared_with_a_user_are_listed_in_pages(harness: Harness, alice: str) -> None:
    ids = insert_files(harness.db, "alice", 2500, state="complete", start=harness.clock())
    bob = harness.make_user("bob")
    share_files(harness.db, ids, "bob")
    seen = _walk(harness, bob, MAX_PAGE_SIZE, shared="true")
    assert seen == ids
    assert _walk(harness, bob, MAX_PAGE_SIZE, shared="true", shard="default") == ids
    assert _walk(harness, bob, MAX_PAGE_SIZE, shared="true", shard="archive") == []
    first = _page(harness, bob, limit=MAX_PAGE_SIZE, shared="true").json["files"][0]
    assert (first["access"], first["sealed_key"], first["owner"]) == ("shared", "", "alice")
