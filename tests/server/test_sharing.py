"""Sharing a file with another user: who may do what, revocation of tickets, key commitments, cascades.

The server sees only opaque boxes here (random bytes stand in for a sealed file
key); the crypto that makes and opens them is the client's and tested there.
"""

from __future__ import annotations

import os
from typing import Any

import falcon.testing

from coffer.protocol import tickets
from coffer.protocol.encoding import b64encode
from coffer.protocol.ids import new_id

from .conftest import FakeFileserver, Harness, People
from .test_files import _new_file
from .test_lifecycle import _complete_file

DAY = 86400.0
BOX = b64encode(os.urandom(103))


def share(
    harness: Harness, token: str, file_id: str, name: str, public_key: str, box: str = BOX
) -> falcon.testing.Result:
    body = {"share_key": box, "public_key": public_key}
    return harness.call("PUT", f"/api/files/{file_id}/shares/{name}", body, token)


def get_tickets(harness: Harness, token: str, file_id: str) -> set[str]:
    """Ask for get tickets of the whole file; return their ids."""
    answer = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, token)
    assert answer.status_code == 200, answer.json
    return ticket_ids(harness, answer.json)


def shared_file(harness: Harness, people: People, fs: FakeFileserver, **overrides: Any) -> str:
    """Make a complete file of alice's and share it with bob."""
    file_id = _complete_file(harness, people.alice, fs, **overrides)
    assert share(harness, people.alice, file_id, "bob", people.keys["bob"]).status_code == 201
    return file_id


def rows(harness: Harness, table: str) -> list[dict[str, Any]]:
    with harness.db.transaction(readonly=True) as tx:
        return tx.all(f"SELECT * FROM {table}")


def events(harness: Harness, action: str) -> list[dict[str, Any]]:
    with harness.db.transaction(readonly=True) as tx:
        return tx.all("SELECT * FROM audit_log WHERE action = ? ORDER BY id", (action,))


def ticket_ids(harness: Harness, answer: dict[str, Any]) -> set[str]:
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    return {tickets.verify(t["ticket"], keys, harness.clock()).jti for t in answer["tickets"]}


def revoked(harness: Harness, fs: FakeFileserver) -> set[str]:
    """Return the ids of the tickets handed out so far that the server tells fileservers to refuse."""
    return harness.revoked(fs)


def error(answer: falcon.testing.Result) -> tuple[int, str]:
    return answer.status_code, answer.json["error"]


def test_any_logged_in_user_gets_a_users_public_key(harness: Harness, people: People) -> None:
    answer = harness.call("GET", "/api/users/bob/public-key", token=people.alice)
    assert (answer.status_code, answer.json) == (200, {"name": "bob", "public_key": people.keys["bob"]})
    assert harness.call("GET", "/api/users/bob/public-key").status_code == 401
    assert error(harness.call("GET", "/api/users/Bob!/public-key", token=people.alice)) == (400, "invalid_username")


def test_a_name_that_is_no_user_and_a_user_without_keys_get_the_same_answer(harness: Harness, people: People) -> None:
    """SECURITY: any logged-in user may look names up; accounts created but never used must not show."""
    harness.make_user("dave")
    nobody = harness.call("GET", "/api/users/nobody/public-key", token=people.alice)
    dave = harness.call("GET", "/api/users/dave/public-key", token=people.alice)
    assert error(nobody) == error(dave) == (404, "user_not_found")
    assert nobody.json["message"].replace("nobody", "dave") == dave.json["message"]


def test_owner_shares_a_complete_file_and_a_new_box_replaces_the_old(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    first = share(harness, people.alice, file_id, "bob", people.keys["bob"])
    assert (first.status_code, first.json) == (201, {"file": file_id, "user": "bob", "created_at": harness.clock()})
    harness.clock.now += 10
    other_box = b64encode(os.urandom(103))
    again = share(harness, people.alice, file_id, "bob", people.keys["bob"], other_box)
    assert again.status_code == 200
    assert again.json["created_at"] == first.json["created_at"]
    assert [r["share_key"] for r in rows(harness, "shares")] == [other_box]
    share(harness, people.alice, file_id, "carol", people.keys["carol"])
    listed = harness.call("GET", f"/api/files/{file_id}/shares", token=people.alice).json
    assert [s["user"] for s in listed] == ["bob", "carol"]
    assert set(listed[0]) == {"user", "created_at", "stale"}


def test_recipient_sees_the_shared_form_of_the_record(harness: Harness, fs: FakeFileserver, people: People) -> None:
    commitment = b64encode(os.urandom(32))
    file_id = shared_file(harness, people, fs, key_commitment=commitment, sealed_key=b64encode(b"owner box"))
    mine = harness.call("GET", f"/api/files/{file_id}", token=people.alice).json
    assert (mine["access"], mine["key_commitment"], mine["owner"]) == ("owner", commitment, "alice")
    assert mine["sealed_key"] == b64encode(b"owner box") and "share_key" not in mine
    theirs = harness.call("GET", f"/api/files/{file_id}", token=people.bob).json
    assert theirs["access"] == "shared"
    assert (theirs["owner"], theirs["sealed_key"], theirs["share_key"]) == ("alice", "", BOX)
    assert theirs["owner_public_key"] == people.keys["alice"]
    assert theirs["key_commitment"] == commitment
    assert theirs["chunks"] == mine["chunks"]


def test_shared_files_are_listed_for_the_recipient_while_they_can_be_read(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    short = shared_file(harness, people, fs, expires_in=DAY)
    harness.clock.now += 1
    long = shared_file(harness, people, fs)
    _complete_file(harness, people.alice, fs)
    listed = harness.call("GET", "/api/files?shared=true", token=people.bob).json
    assert [f["id"] for f in listed] == [short, long]
    assert all(f["access"] == "shared" and "chunks" not in f for f in listed)
    assert harness.call("GET", "/api/files", token=people.bob).json == []
    assert harness.call("GET", "/api/files?shared=false", token=people.bob).json == []
    assert harness.call("GET", "/api/files?shared=true", token=people.alice).json == []
    assert len(harness.call("GET", "/api/files", token=people.alice).json) == 3
    harness.clock.now += DAY
    bob = harness.login("bob")
    assert [f["id"] for f in harness.call("GET", "/api/files?shared=true", token=bob).json] == [long]
    assert harness.call("GET", "/api/files?shared=maybe", token=bob).status_code == 400


def test_recipient_downloads_tickets_for_a_shared_file(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = shared_file(harness, people, fs)
    answer = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, people.bob)
    assert answer.status_code == 200, answer.json
    assert [f["id"] for f in answer.json["fileservers"]] == [fs.id]
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    ticket = tickets.verify(answer.json["tickets"][0]["ticket"], keys, harness.clock())
    bob_id = harness.call("GET", "/api/me", token=people.bob).json["id"]
    assert (ticket.op, ticket.file, ticket.sub) == ("get", file_id, bob_id)
    holders = {r["jti"]: r["holder"] for r in rows(harness, "tickets")}
    assert holders[ticket.jti] == bob_id
    assert [e["actor"] for e in events(harness, "file.download_ticket")] == ["bob"]


def test_recipient_cannot_put_delete_share_or_link(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = shared_file(harness, people, fs)
    share(harness, people.alice, file_id, "carol", people.keys["carol"])
    refused = {
        "put tickets": harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, people.bob),
        "delete": harness.call("DELETE", f"/api/files/{file_id}", token=people.bob),
        "finalize": harness.call("POST", f"/api/files/{file_id}/finalize", {"chunks": []}, people.bob),
        "share": share(harness, people.bob, file_id, "carol", people.keys["carol"]),
        "list shares": harness.call("GET", f"/api/files/{file_id}/shares", token=people.bob),
        "end another's share": harness.call("DELETE", f"/api/files/{file_id}/shares/carol", token=people.bob),
        "link": harness.call("POST", f"/api/files/{file_id}/links", {}, people.bob),
    }
    for what, answer in refused.items():
        assert error(answer) == (403, "not_owner"), what
    assert harness.call("GET", f"/api/files/{file_id}", token=people.alice).status_code == 200
    assert len(rows(harness, "shares")) == 2
    assert rows(harness, "links") == []


def test_a_stranger_gets_file_not_found(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = shared_file(harness, people, fs)
    for target in (file_id, new_id()):
        for method, path, body in (
            ("GET", f"/api/files/{target}", None),
            ("POST", f"/api/files/{target}/tickets", {"op": "get"}),
            ("DELETE", f"/api/files/{target}", None),
            ("GET", f"/api/files/{target}/shares", None),
            ("PUT", f"/api/files/{target}/shares/bob", {"share_key": BOX, "public_key": people.keys["bob"]}),
            ("DELETE", f"/api/files/{target}/shares/bob", None),
            ("POST", f"/api/files/{target}/links", {}),
        ):
            assert error(harness.call(method, path, body, people.carol)) == (404, "file_not_found"), (method, path)
    assert len(rows(harness, "shares")) == 1


def test_after_unshare_new_tickets_are_refused_and_old_ones_revoked(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    bobs = get_tickets(harness, people.bob, file_id)
    alices = get_tickets(harness, people.alice, file_id)
    assert revoked(harness, fs) == set()
    assert harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice).status_code == 204
    assert revoked(harness, fs) == bobs, "only the recipient's tickets go; the owner's stay valid"
    assert not alices & revoked(harness, fs)
    again = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, people.bob)
    assert error(again) == (404, "file_not_found")
    assert harness.call("GET", "/api/files?shared=true", token=people.bob).json == []
    gone = harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice)
    assert error(gone) == (404, "share_not_found")
    assert error(harness.call("DELETE", f"/api/files/{file_id}/shares/nobody", token=people.alice)) == (
        404,
        "share_not_found",
    )


def test_a_recipient_may_leave_a_share(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = shared_file(harness, people, fs)
    bobs = get_tickets(harness, people.bob, file_id)
    assert harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.bob).status_code == 204
    assert revoked(harness, fs) == bobs
    assert rows(harness, "shares") == []
    assert [e["actor"] for e in events(harness, "file.unshared")] == ["bob"]


def test_only_complete_living_files_are_shared_and_held_ones_are(
    harness: Harness, admin: str, fs: FakeFileserver, people: People
) -> None:
    pending = _new_file(harness, people.alice, chunks=1, size=1024).json["id"]
    assert error(share(harness, people.alice, pending, "bob", people.keys["bob"])) == (409, "file_incomplete")
    short = _complete_file(harness, people.alice, fs, expires_in=DAY)
    held = _complete_file(harness, people.alice, fs, expires_in=DAY)
    assert harness.call("PUT", f"/api/admin/holds/files/{held}", token=admin).status_code == 204
    harness.clock.now += DAY
    alice = harness.login("alice")
    assert error(share(harness, alice, short, "bob", people.keys["bob"])) == (410, "file_expired")
    assert share(harness, alice, held, "bob", people.keys["bob"]).status_code == 201, "a hold only stops deletion"
    assert [r["file_id"] for r in rows(harness, "shares")] == [held]


def test_a_share_needs_another_user_with_the_key_it_was_sealed_to(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    harness.make_user("dave")
    cases = {
        "self": (share(harness, people.alice, file_id, "alice", people.keys["alice"]), 400, "cannot_share_with_self"),
        "unknown user": (share(harness, people.alice, file_id, "nobody", people.keys["bob"]), 404, "user_not_found"),
        "no keys yet": (share(harness, people.alice, file_id, "dave", people.keys["bob"]), 404, "user_not_found"),
        "another key": (share(harness, people.alice, file_id, "bob", people.keys["carol"]), 409, "public_key_changed"),
    }
    for what, (answer, status, code) in cases.items():
        assert error(answer) == (status, code), what
    assert rows(harness, "shares") == []
    assert events(harness, "file.shared") == []


def test_every_bad_input_changes_nothing(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    good = {"share_key": BOX, "public_key": people.keys["bob"]}
    bodies: dict[str, tuple[object, str]] = {
        "box not base64url": (good | {"share_key": "a+b/"}, "invalid_share_key"),
        "box too long": (good | {"share_key": b64encode(b"x" * 257)}, "invalid_share_key"),
        "empty box": (good | {"share_key": ""}, "invalid_share_key"),
        "no box": ({"public_key": people.keys["bob"]}, "invalid_share_key"),
        "box not a string": (good | {"share_key": 5}, "invalid_share_key"),
        "short public key": (good | {"public_key": b64encode(b"k" * 31)}, "invalid_public_key"),
        "padded public key": (good | {"public_key": people.keys["bob"] + "="}, "invalid_public_key"),
        "no public key": ({"share_key": BOX}, "invalid_public_key"),
        "not an object": ([good], "invalid_json"),
    }
    for what, (body, code) in bodies.items():
        answer = harness.call("PUT", f"/api/files/{file_id}/shares/bob", body, people.alice)
        assert error(answer) == (400, code), what
    for path in (f"/api/files/{file_id}/shares/Bob!", "/api/files/not-an-id/shares/bob"):
        assert harness.call("PUT", path, good, people.alice).status_code == 400, path
    admin = harness.login("root")
    for query in ("owner=No!", "recipient=..", "file=x"):
        assert harness.call("GET", f"/api/admin/shares?{query}", token=admin).status_code == 400, query
    assert rows(harness, "shares") == []
    assert events(harness, "file.shared") == []


def test_key_commitment_is_stored_and_checked_for_shape(harness: Harness, fs: FakeFileserver, people: People) -> None:
    commitment = b64encode(os.urandom(32))
    record = _new_file(harness, people.alice, key_commitment=commitment)
    assert (record.status_code, record.json["key_commitment"], record.json["access"]) == (201, commitment, "owner")
    assert _new_file(harness, people.alice).json["key_commitment"] == ""
    for bad in (b64encode(os.urandom(31)), b64encode(os.urandom(33)), "a+b/", None, 32):
        answer = _new_file(harness, people.alice, key_commitment=bad)
        assert error(answer) == (400, "invalid_key_commitment"), bad
    assert len(harness.call("GET", "/api/files", token=people.alice).json) == 2


def test_user_removal_leaves_no_shares_or_links(
    harness: Harness, admin: str, fs: FakeFileserver, people: People
) -> None:
    to_bob = shared_file(harness, people, fs)
    bobs_file = _complete_file(harness, people.bob, fs)
    assert share(harness, people.bob, bobs_file, "carol", people.keys["carol"]).status_code == 201
    assert harness.call("POST", f"/api/files/{bobs_file}/links", {}, people.bob).status_code == 201
    assert harness.call("POST", f"/api/files/{to_bob}/links", {}, people.alice).status_code == 201
    bobs = get_tickets(harness, people.bob, to_bob)
    assert harness.call("DELETE", "/api/admin/users/bob", token=admin).status_code == 200
    with harness.db.transaction(readonly=True) as tx:
        bob_left = tx.all(
            "SELECT 'share' AS kind FROM shares WHERE file_id = ? OR user_id NOT IN (SELECT id FROM users) "
            "UNION ALL SELECT 'link' FROM links WHERE file_id = ? OR owner_id NOT IN (SELECT id FROM users)",
            (bobs_file, bobs_file),
        )
    assert bob_left == []
    assert [r["file_id"] for r in rows(harness, "links")] == [to_bob], "alice's own link stays"
    assert bobs <= revoked(harness, fs), "tickets of files shared with a removed user are revoked"
    assert harness.call("DELETE", "/api/admin/users/alice", token=admin).status_code == 200
    assert rows(harness, "shares") == [] and rows(harness, "links") == []


def test_deleting_a_file_removes_its_shares_links_and_downloads(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    link = harness.call("POST", f"/api/files/{file_id}/links", {}, people.alice).json
    started = harness.call("POST", f"/api/links/{link['id']}/downloads")
    assert started.status_code == 201
    linked = ticket_ids(harness, started.json)
    assert harness.call("DELETE", f"/api/files/{file_id}", token=people.alice).status_code == 204
    for table in ("shares", "links", "link_downloads"):
        assert rows(harness, table) == [], table
    assert linked <= revoked(harness, fs)
    assert error(harness.call("GET", f"/api/links/{link['id']}")) == (404, "link_not_found")
