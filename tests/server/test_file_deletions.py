"""``POST /api/files/deletions``: an account of ten thousand files is emptied a page at a time."""

from __future__ import annotations

from typing import Any

from coffer.protocol.api.deletions import MAX_DELETIONS, Deletions
from coffer.protocol.api.files import FilePage
from coffer.protocol.ids import new_id
from tests.many_files import insert_files

from .conftest import Harness

DELETIONS = "/api/files/deletions"


def _delete(harness: Harness, token: str, ids: list[Any]) -> Any:
    return harness.call("POST", DELETIONS, {"ids": ids}, token)


def test_ten_thousand_files_are_listed_and_deleted_a_page_at_a_time(harness: Harness, admin: str) -> None:
    alice = harness.make_user("alice")
    pending = insert_files(harness.db, "alice", 10_000)
    kept = insert_files(harness.db, "alice", 300, state="complete")
    after = ""
    removed: list[str] = []
    while True:
        page = FilePage.parse(
            harness.call("GET", f"/api/files?limit={MAX_DELETIONS}&state=pending{after}", token=alice).json
        )
        answer = _delete(harness, alice, [f.id for f in page.files])
        assert answer.status_code == 200, answer.json
        result = Deletions.parse(answer.json)
        assert result.refused == () and len(result.deleted) == MAX_DELETIONS
        removed += result.deleted
        if page.next is None:
            break
        after = f"&after={page.next}"
    assert removed == pending
    left = harness.call("GET", f"/api/files?limit={MAX_DELETIONS}", token=alice).json
    assert [f["id"] for f in left["files"]] == kept and left["next"] is None


def test_a_batch_deletes_what_it_may_and_names_each_file_it_refused(harness: Harness, admin: str) -> None:
    alice = harness.make_user("alice")
    bob = harness.make_user("bob")
    mine = insert_files(harness.db, "alice", 3)
    bobs = insert_files(harness.db, "bob", 1)
    assert harness.call("PUT", f"/api/admin/holds/files/{mine[1]}", token=admin).status_code == 204
    stranger = new_id()
    result = Deletions.parse(_delete(harness, alice, [mine[0], mine[1], bobs[0], stranger, mine[2]]).json)
    assert result.deleted == (mine[0], mine[2])
    assert [(r.id, r.error, r.status) for r in result.refused] == [
        (mine[1], "file_on_hold", 403),
        (bobs[0], "file_not_found", 404),
        (stranger, "file_not_found", 404),
    ]
    assert "legal hold" in result.refused[0].message
    assert [f["id"] for f in harness.call("GET", "/api/files", token=alice).json] == [mine[1]]
    assert [f["id"] for f in harness.call("GET", "/api/files", token=bob).json] == bobs


def test_a_batch_that_breaks_the_protocol_deletes_nothing(harness: Harness, admin: str) -> None:
    alice = harness.make_user("alice")
    mine = insert_files(harness.db, "alice", MAX_DELETIONS + 1)
    for ids in ([], mine, [mine[0], mine[0]], [mine[0], "not-an-id"], "all"):
        answer = _delete(harness, alice, ids)  # type: ignore[arg-type]
        assert (answer.status_code, answer.json["error"]) == (400, "invalid_ids"), ids
    assert len(harness.call("GET", "/api/files", token=alice).json) == MAX_DELETIONS
    assert harness.call("POST", DELETIONS, {"ids": [mine[0]]}).status_code == 401
