"""Share links: limits, atomic download counting, revocation and expiry, the anonymous routes, admin, audit.

Nothing here sends a link's fragment: the server never sees one. The clock is
the harness's; nothing sleeps.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import falcon.testing

from coffer.protocol import tickets
from coffer.protocol.ids import new_id
from coffer.server.jobs import retention

from .conftest import PASSWORD, FakeFileserver, Harness, People
from .test_files import _finalize_body, _new_file
from .test_lifecycle import _complete_file
from .test_sharing import BOX, DAY, error, events, get_tickets, revoked, rows, share, shared_file, ticket_ids


def link(harness: Harness, token: str, file_id: str, **body: Any) -> falcon.testing.Result:
    return harness.call("POST", f"/api/files/{file_id}/links", body, token)


def start(harness: Harness, link_id: str, body: Any = None, **kw: Any) -> falcon.testing.Result:
    return harness.call("POST", f"/api/links/{link_id}/downloads", body, **kw)


def more(harness: Harness, link_id: str, download: str, **body: Any) -> falcon.testing.Result:
    return harness.call("POST", f"/api/links/{link_id}/tickets", {"download": download} | body)


def downloads(harness: Harness, link_id: str) -> int:
    with harness.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT downloads FROM links WHERE id = ?", (link_id,))
    assert row is not None
    return int(row["downloads"])


def test_owner_makes_a_link_with_the_default_limits(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    made = link(harness, people.alice, file_id)
    assert made.status_code == 201, made.json
    now = harness.clock()
    assert made.json == {
        "id": made.json["id"],
        "file": file_id,
        "created_at": now,
        "expires_at": now + harness.settings.link_default_expiry,
        "max_downloads": None,
        "downloads": 0,
        "protected": False,
        "state": "active",
        "revoked_at": None,
    }
    no_body = harness.call("POST", f"/api/files/{file_id}/links", token=people.alice)
    assert no_body.status_code == 201, "the body may be left out"
    limited = link(harness, people.alice, file_id, expires_in=3600, max_downloads=3, protected=True).json
    assert (limited["expires_at"], limited["max_downloads"], limited["protected"]) == (now + 3600, 3, True)


def test_link_expires_with_its_file(harness: Harness, admin: str, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs, expires_in=DAY)
    made = link(harness, people.alice, file_id, expires_in=harness.settings.max_retention).json
    assert made["expires_at"] == harness.clock() + DAY
    held = _complete_file(harness, people.alice, fs, expires_in=DAY)
    held_link = link(harness, people.alice, held).json
    harness.call("PUT", f"/api/admin/holds/files/{held}", token=admin)
    harness.clock.now += DAY
    assert error(harness.call("GET", f"/api/links/{made['id']}")) == (410, "file_expired")
    assert error(start(harness, made["id"])) == (410, "file_expired")
    assert error(harness.call("GET", f"/api/links/{held_link['id']}")) == (410, "link_expired"), "a hold keeps no link"
    alice = harness.login("alice")
    assert {entry["state"] for entry in harness.call("GET", "/api/links", token=alice).json} == {"expired"}
    assert error(link(harness, alice, file_id)) == (410, "file_expired")
    assert error(link(harness, alice, held)) == (410, "file_expired"), "a link to it would be born expired"


def test_anyone_with_the_link_sees_it_without_counting(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    made = link(harness, people.alice, file_id, max_downloads=1, protected=True).json
    answer = harness.call("GET", f"/api/links/{made['id']}")
    assert answer.status_code == 200, answer.json
    assert answer.json["link"] == {
        "id": made["id"],
        "expires_at": made["expires_at"],
        "max_downloads": 1,
        "downloads": 0,
        "protected": True,
        "state": "active",
    }
    record = harness.call("GET", f"/api/files/{file_id}", token=people.alice).json
    assert answer.json["file"] == {
        key: record[key]
        for key in (
            "id",
            "shard",
            "size",
            "chunk_count",
            "chunk_size",
            "metadata",
            "key_commitment",
            "format",
            "state",
            "expires_at",
            "chunks",
        )
    }
    harness.call("GET", f"/api/links/{made['id']}")
    assert downloads(harness, made["id"]) == 0


def test_link_download_is_counted_once_across_ticket_requests(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id).json["id"]
    started = start(harness, link_id, {})
    assert started.status_code == 201, started.json
    assert set(started.json) == {"download", "expires_at", "tickets", "fileservers"}
    assert started.json["expires_at"] == harness.clock() + harness.settings.link_download_window
    assert [f["id"] for f in started.json["fileservers"]] == [fs.id]
    keys = {harness.keys.signing.kid: harness.keys.signing.public_key}
    ticket = tickets.verify(started.json["tickets"][0]["ticket"], keys, harness.clock())
    assert (ticket.op, ticket.file, ticket.sub) == ("get", file_id, link_id)
    chunk = started.json["tickets"][0]["chunks"][0]
    for _ in range(3):
        again = more(harness, link_id, started.json["download"], chunks=[chunk])
        assert again.status_code == 200, again.json
        assert again.json["tickets"][0]["chunks"] == [chunk]
    assert downloads(harness, link_id) == 1
    assert {r["holder"] for r in rows(harness, "tickets") if r["op"] == "get"} == {link_id}
    counted = events(harness, "link.download")
    assert [(e["actor"], e["object"], json.loads(e["detail"])) for e in counted] == [
        (None, f"link:{link_id}", {"file": file_id})
    ]
    assert counted[0]["address"]


def test_max_downloads_stops_new_downloads_but_not_one_already_counted(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id, max_downloads=2).json["id"]
    first = start(harness, link_id).json["download"]
    assert start(harness, link_id).status_code == 201
    assert error(start(harness, link_id)) == (410, "link_exhausted")
    assert error(harness.call("GET", f"/api/links/{link_id}")) == (410, "link_exhausted")
    assert more(harness, link_id, first).status_code == 200
    assert downloads(harness, link_id) == 2
    assert len(events(harness, "link.download")) == 2
    assert harness.call("GET", "/api/links", token=people.alice).json[0]["state"] == "exhausted"


def _four_chunk_file(harness: Harness, token: str, fs: FakeFileserver) -> str:
    file_id: str = _new_file(harness, token, chunks=4).json["id"]
    body = _finalize_body(fs, file_id, [os.urandom(1024) for _ in range(4)], harness.clock())
    assert harness.call("POST", f"/api/files/{file_id}/finalize", body, token).status_code == 200
    return file_id


def _chunks(answer: falcon.testing.Result) -> list[str]:
    return [h for t in answer.json["tickets"] for h in t["chunks"]]


def test_one_started_download_gets_tickets_for_its_passes_over_the_file_and_no_more(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    """SECURITY: one counted start must not fetch the file without end for the whole download window."""
    file_id = _four_chunk_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id, max_downloads=1).json["id"]
    started = start(harness, link_id).json
    download, every = started["download"], [h for t in started["tickets"] for h in t["chunks"]]
    ttl, passes = harness.settings.ticket_ttl, harness.settings.link_ticket_passes
    assert passes == 3
    for _ in range(passes - 1):  # each lifetime, a whole pass renewed: each is counted
        harness.clock.now += ttl
        assert _chunks(more(harness, link_id, download)) == every
    harness.clock.now += ttl
    assert error(more(harness, link_id, download)) == (410, "download_used_up")
    assert error(more(harness, link_id, download, chunks=every[:1])) == (410, "download_used_up")
    assert downloads(harness, link_id) == 1


def test_renewals_while_the_tickets_hold_expire_with_them_and_count_nothing(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = _four_chunk_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id).json["id"]
    started = start(harness, link_id).json
    expiry = started["tickets"][0]["expires_at"]
    for _ in range(20):  # a client refreshing its live list during an outage
        harness.clock.now += 1
        again = more(harness, link_id, started["download"])
        assert again.status_code == 200 and again.json["tickets"][0]["expires_at"] == expiry
    with harness.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT chunk_tickets FROM link_downloads WHERE id = ?", (started["download"],))
    assert row is not None and row["chunk_tickets"] == 4, "only the start's pass is counted"


def test_a_slow_download_renewing_only_what_it_lacks_gets_further_than_one_renewing_everything(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    """Four chunks, three passes: 12 chunk tickets; the start takes 4, renewals of the lacking 3, 2, 1 take 6."""
    file_id = _four_chunk_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id, max_downloads=1).json["id"]
    started = start(harness, link_id).json
    every = [h for t in started["tickets"] for h in t["chunks"]]
    for lacking in (every[1:], every[2:], every[3:]):
        harness.clock.now += harness.settings.ticket_ttl
        assert _chunks(more(harness, link_id, started["download"], chunks=lacking)) == lacking


def test_max_downloads_is_enforced_under_concurrent_starts(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    """Eight starts at once for three downloads: exactly three win (a read-then-write count lets more through)."""
    file_id = _complete_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id, max_downloads=3).json["id"]
    barrier = threading.Barrier(8, timeout=30)
    statuses: list[int] = []

    def race() -> None:
        barrier.wait()
        statuses.append(start(harness, link_id).status_code)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * 3 + [410] * 5
    assert downloads(harness, link_id) == 3
    assert len(events(harness, "link.download")) == 3
    assert len(rows(harness, "link_downloads")) == 3


def test_revoked_link_refuses_a_download_in_progress(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id).json["id"]
    started = start(harness, link_id).json
    handed = ticket_ids(harness, started) | ticket_ids(harness, more(harness, link_id, started["download"]).json)
    own = get_tickets(harness, people.alice, file_id)
    assert harness.call("DELETE", f"/api/links/{link_id}", token=people.alice).status_code == 204
    assert revoked(harness, fs) == handed, "the owner's own tickets stay valid"
    assert not own & revoked(harness, fs)
    assert error(more(harness, link_id, started["download"])) == (410, "link_revoked")
    assert error(start(harness, link_id)) == (410, "link_revoked")
    assert error(harness.call("GET", f"/api/links/{link_id}")) == (410, "link_revoked")
    assert harness.call("DELETE", f"/api/links/{link_id}", token=people.alice).status_code == 204, "idempotent"
    assert len(events(harness, "link.revoked")) == 1
    listed = harness.call("GET", "/api/links", token=people.alice).json
    assert (listed[0]["state"], listed[0]["revoked_at"]) == ("revoked", harness.clock())


def test_an_expired_link_refuses_a_download_in_progress(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id, expires_in=600).json["id"]
    started = start(harness, link_id).json
    assert all(t["expires_at"] <= harness.clock() + 600 for t in started["tickets"]), "no ticket outlives its link"
    assert started["expires_at"] == harness.clock() + 600
    harness.clock.now += 600
    assert error(more(harness, link_id, started["download"])) == (410, "link_expired")
    assert error(start(harness, link_id)) == (410, "link_expired")


def test_a_download_has_a_window_and_belongs_to_its_link(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    link_id = link(harness, people.alice, file_id).json["id"]
    other = link(harness, people.alice, file_id).json["id"]
    download = start(harness, link_id).json["download"]
    assert error(more(harness, other, download)) == (404, "download_not_found")
    assert error(more(harness, link_id, new_id())) == (404, "download_not_found")
    harness.clock.now += harness.settings.link_download_window
    assert error(more(harness, link_id, download)) == (410, "download_expired")
    s = harness.settings
    retention.sweep(harness.db, harness.clock(), upload_grace=s.upload_grace, lease=s.lease_seconds)
    assert rows(harness, "link_downloads") == [], "the sweep forgets closed downloads"
    assert rows(harness, "links") != []


def test_only_the_owner_lists_and_revokes_links(harness: Harness, fs: FakeFileserver, people: People) -> None:
    first = _complete_file(harness, people.alice, fs)
    second = _complete_file(harness, people.alice, fs)
    older = link(harness, people.alice, first).json["id"]
    harness.clock.now += 1
    newer = link(harness, people.alice, second).json["id"]
    assert [entry["id"] for entry in harness.call("GET", "/api/links", token=people.alice).json] == [newer, older]
    of_first = harness.call("GET", f"/api/links?file={first}", token=people.alice).json
    assert [entry["id"] for entry in of_first] == [older]
    assert harness.call("GET", "/api/links", token=people.bob).json == []
    assert harness.call("GET", f"/api/links?file={first}", token=people.bob).json == []
    assert error(harness.call("DELETE", f"/api/links/{older}", token=people.bob)) == (404, "link_not_found")
    assert harness.call("GET", "/api/links").status_code == 401
    assert harness.call("DELETE", f"/api/links/{older}").status_code == 401
    assert harness.call("GET", f"/api/links/{older}").status_code == 200


def test_links_are_made_by_the_owner_of_a_complete_living_file(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    pending = _new_file(harness, people.alice, chunks=1, size=1024).json["id"]
    assert error(link(harness, people.alice, pending)) == (409, "file_incomplete")
    file_id = shared_file(harness, people, fs, expires_in=DAY)
    assert error(link(harness, people.bob, file_id)) == (403, "not_owner")
    assert error(link(harness, people.carol, file_id)) == (404, "file_not_found")
    harness.clock.now += DAY
    assert error(link(harness, harness.login("alice"), file_id)) == (410, "file_expired")
    assert rows(harness, "links") == []


def test_unknown_or_malformed_links_are_refused(harness: Harness) -> None:
    unknown = new_id()
    for method, path, body in (
        ("GET", f"/api/links/{unknown}", None),
        ("POST", f"/api/links/{unknown}/downloads", None),
        ("POST", f"/api/links/{unknown}/tickets", {"download": new_id()}),
    ):
        assert error(harness.call(method, path, body)) == (404, "link_not_found"), path
    for method, path, body in (
        ("GET", "/api/links/not-a-link", None),
        ("POST", "/api/links/not-a-link/downloads", None),
        ("POST", f"/api/links/{unknown}/tickets", {"download": "x"}),
        ("POST", f"/api/links/{unknown}/tickets", {}),
    ):
        assert harness.call(method, path, body).status_code == 400, path


def test_every_bad_input_changes_nothing(harness: Harness, admin: str, fs: FakeFileserver, people: People) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    bad: dict[str, tuple[dict[str, Any], str]] = {
        "zero lifetime": ({"expires_in": 0}, "invalid_expires_in"),
        "negative lifetime": ({"expires_in": -5}, "invalid_expires_in"),
        "past the maximum retention": ({"expires_in": harness.settings.max_retention + 1}, "invalid_expires_in"),
        "lifetime as text": ({"expires_in": "1d"}, "invalid_expires_in"),
        "lifetime as bool": ({"expires_in": True}, "invalid_expires_in"),
        "no downloads": ({"max_downloads": 0}, "invalid_max_downloads"),
        "too many downloads": ({"max_downloads": 1_000_001}, "invalid_max_downloads"),
        "fractional downloads": ({"max_downloads": 1.5}, "invalid_max_downloads"),
        "downloads as bool": ({"max_downloads": True}, "invalid_max_downloads"),
        "protected as text": ({"protected": "yes"}, "invalid_protected"),
    }
    for what, (body, code) in bad.items():
        assert error(link(harness, people.alice, file_id, **body)) == (400, code), what
    assert harness.call("POST", f"/api/files/{file_id}/links", [1], people.alice).status_code == 400
    assert harness.call("POST", "/api/files/nope/links", {}, people.alice).status_code == 400
    assert harness.call("GET", "/api/links?file=nope", token=people.alice).status_code == 400
    for query in ("state=gone", "owner=No!", "file=nope"):
        assert harness.call("GET", f"/api/admin/links?{query}", token=admin).status_code == 400, query
    assert rows(harness, "links") == []
    assert events(harness, "link.created") == []
    link_id = link(harness, people.alice, file_id, max_downloads=1).json["id"]
    assert harness.call("POST", f"/api/links/{link_id}/downloads", [1]).status_code == 400
    assert harness.call("POST", f"/api/links/{link_id}/tickets", {"download": "x"}).status_code == 400
    download = start(harness, link_id).json["download"]
    foreign = more(harness, link_id, download, chunks=["0" * 64])
    assert error(foreign) == (400, "invalid_chunks")
    assert downloads(harness, link_id) == 1
    assert len(events(harness, "link.download")) == 1


def test_anonymous_link_routes_are_rate_limited_per_address(database_url: str) -> None:
    harness = Harness(database_url, rate_limit_per_address=20)
    try:
        unknown = new_id()
        answers = [
            harness.call("GET", f"/api/links/{unknown}", remote_addr="203.0.113.7").status_code for _ in range(21)
        ]
        assert answers == [404] * 20 + [429]
        assert harness.call("POST", f"/api/links/{unknown}/downloads", remote_addr="203.0.113.7").status_code == 429
        assert harness.call("GET", f"/api/links/{unknown}", remote_addr="203.0.113.8").status_code == 404
    finally:
        harness.db.close()


def test_audit_records_every_share_and_link_event_without_keys(
    harness: Harness, admin: str, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice)
    link_id = link(harness, people.alice, file_id, protected=True).json["id"]
    download = start(harness, link_id).json["download"]
    more(harness, link_id, download)
    harness.call("DELETE", f"/api/links/{link_id}", token=people.alice)
    wanted = ("file.shared", "file.unshared", "link.created", "link.download", "link.revoked")
    answer = harness.call("GET", "/api/admin/audit", token=admin).json
    seen = [(e["action"], e["actor"], e["object"], e["detail"]) for e in answer if e["action"] in wanted]
    assert seen == [
        ("file.shared", "alice", f"file:{file_id}", {"user": "bob"}),
        ("file.unshared", "alice", f"file:{file_id}", {"user": "bob"}),
        ("link.created", "alice", f"link:{link_id}", {"file": file_id}),
        ("link.download", None, f"link:{link_id}", {"file": file_id}),
        ("link.revoked", "alice", f"link:{link_id}", {"file": file_id}),
    ]
    with harness.db.transaction(readonly=True) as tx:
        dump = json.dumps(tx.all("SELECT * FROM audit_log"))
    for secret in (BOX, people.keys["bob"], people.alice, PASSWORD):
        assert secret not in dump


def test_admin_lists_and_revokes_shares_and_links(
    harness: Harness, admin: str, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    share(harness, people.alice, file_id, "carol", people.keys["carol"])
    bobs_file = _complete_file(harness, people.bob, fs)
    share(harness, people.bob, bobs_file, "carol", people.keys["carol"])
    listed = harness.call("GET", "/api/admin/shares", token=admin).json
    assert sorted((s["file"], s["owner"], s["user"]) for s in listed) == sorted(
        [(file_id, "alice", "bob"), (file_id, "alice", "carol"), (bobs_file, "bob", "carol")]
    )
    assert all(set(s) == {"file", "owner", "user", "created_at"} for s in listed)
    to_carol = harness.call("GET", "/api/admin/shares?recipient=carol&owner=alice", token=admin).json
    assert [(s["file"], s["user"]) for s in to_carol] == [(file_id, "carol")]
    assert len(harness.call("GET", f"/api/admin/shares?file={bobs_file}", token=admin).json) == 1
    carols = get_tickets(harness, people.carol, file_id)
    assert harness.call("DELETE", f"/api/admin/shares/{file_id}/carol", token=admin).status_code == 204
    assert carols <= revoked(harness, fs)
    assert error(harness.call("DELETE", f"/api/admin/shares/{file_id}/carol", token=admin)) == (404, "share_not_found")

    active = link(harness, people.alice, file_id).json["id"]
    used = link(harness, people.alice, file_id, max_downloads=1).json["id"]
    start(harness, used)
    bobs_link = link(harness, people.bob, bobs_file, expires_in=60).json["id"]
    harness.clock.now += 60
    admin = harness.login("root")
    every = harness.call("GET", "/api/admin/links", token=admin).json
    assert {(entry["id"], entry["owner"], entry["state"]) for entry in every} == {
        (active, "alice", "active"),
        (used, "alice", "exhausted"),
        (bobs_link, "bob", "expired"),
    }
    for query, expected in (
        ("state=active", [active]),
        ("state=exhausted", [used]),
        ("state=expired", [bobs_link]),
        ("state=revoked", []),
        ("owner=bob", [bobs_link]),
        (f"file={bobs_file}", [bobs_link]),
    ):
        assert [entry["id"] for entry in harness.call("GET", f"/api/admin/links?{query}", token=admin).json] == (
            expected
        ), query
    assert harness.call("DELETE", f"/api/admin/links/{active}", token=admin).status_code == 204
    revoked_now = harness.call("GET", "/api/admin/links?state=revoked", token=admin).json
    assert [entry["id"] for entry in revoked_now] == [active]
    assert error(harness.call("DELETE", f"/api/admin/links/{new_id()}", token=admin)) == (404, "link_not_found")
    admin_events = events(harness, "file.unshared") + events(harness, "link.revoked")
    assert [(e["actor"], e["object"]) for e in admin_events] == [
        ("root", f"file:{file_id}"),
        ("root", f"link:{active}"),
    ]
    alice = harness.login("alice")
    for method, path in (
        ("GET", "/api/admin/shares"),
        ("DELETE", f"/api/admin/shares/{file_id}/bob"),
        ("GET", "/api/admin/links"),
        ("DELETE", f"/api/admin/links/{used}"),
    ):
        assert harness.call(method, path, token=alice).status_code == 403, path
