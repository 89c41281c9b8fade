"""``GET /api/links`` in pages: an account's links, newest first, walked with a cursor on both engines."""

from __future__ import annotations

from coffer.protocol.api.pages import MAX_PAGE_SIZE
from coffer.protocol.api.sharing import LinkPage
from tests.many_files import insert_files, insert_links

from .conftest import Harness

MANY = 2 * MAX_PAGE_SIZE + 1


def test_thousands_of_links_are_listed_once_each_newest_first_in_pages_of_the_largest_size(
    harness: Harness, admin: str
) -> None:
    alice = harness.make_user("alice")
    first_file, second_file = insert_files(harness.db, "alice", 2, state="complete", start=harness.clock())
    ids = insert_links(harness.db, "alice", first_file, MANY, start=harness.clock())
    other = insert_links(harness.db, "alice", second_file, 3, start=harness.clock() - 10)
    seen: list[str] = []
    sizes: list[int] = []
    after = ""
    while True:
        answer = harness.call("GET", f"/api/links?limit={MAX_PAGE_SIZE}&file={first_file}{after}", token=alice)
        assert answer.status_code == 200, answer.json
        page = LinkPage.parse(answer.json)
        seen += [link.id for link in page.links]
        sizes.append(len(page.links))
        if page.next is None:
            break
        after = f"&after={page.next}"
    assert seen == ids and sizes == [MAX_PAGE_SIZE, MAX_PAGE_SIZE, 1]
    bare = harness.call("GET", "/api/links", token=alice).json
    assert [link["id"] for link in bare] == (ids + other)[:MAX_PAGE_SIZE]
    assert harness.call("GET", "/api/links?limit=1001", token=alice).json["error"] == "invalid_limit"
    assert harness.call("GET", "/api/links?limit=5&after=junk", token=alice).json["error"] == "invalid_cursor"
    bob = harness.make_user("bob")
    assert harness.call("GET", "/api/links?limit=10", token=bob).json == {"links": [], "next": None}
