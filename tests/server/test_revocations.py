"""Revocations scale with what was ended, not with what was minted; fileservers fetch only what is new."""

from __future__ import annotations

import json

import pytest

from coffer.protocol.messages import MAX_REVOCATIONS_PAGE, parse_heartbeat_answer
from coffer.server.domain import revocations, tickets
from coffer.server.jobs import retention

from .conftest import FakeFileserver, Harness, People
from .test_lifecycle import _complete_file
from .test_sharing import get_tickets, share, shared_file

MINTED = 104_000
"""As many get tickets as one user minted in 67 s before minting was bounded."""


def _user_id(harness: Harness, name: str) -> str:
    with harness.db.transaction(readonly=True) as tx:
        row = tx.one("SELECT id FROM users WHERE name = ?", (name,))
    assert row is not None
    return str(row["id"])


def _mint_directly(harness: Harness, holder: str, file_id: str, count: int) -> None:
    """Record *count* live get tickets of *file_id* for *holder* in one statement, past any bound."""
    with harness.db.transaction() as tx:
        tx.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO tickets (jti, file_id, op, expires_at, revoked, holder) "
            "SELECT CAST(? AS TEXT) || CAST(i AS TEXT), CAST(? AS TEXT), 'get', CAST(? AS DOUBLE PRECISION), "
            "CAST(? AS BOOLEAN), CAST(? AS TEXT) FROM n",
            (count, f"minted-{holder}-", file_id, harness.clock() + 900, False, holder),
        )


def test_a_hundred_thousand_minted_tickets_revoked_at_once_are_one_entry_and_purges_still_flow(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    bob = _user_id(harness, "bob")
    _mint_directly(harness, bob, file_id, MINTED)
    assert harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice).status_code == 204
    doomed = _complete_file(harness, people.alice, fs)
    assert harness.call("DELETE", f"/api/files/{doomed}", token=people.alice).status_code == 204
    answer = harness.beat(fs)
    assert answer.status_code == 200
    beat = parse_heartbeat_answer(answer.json)  # the fileserver reads the whole answer: nothing is refused
    assert beat.revocations is not None and not beat.revocations.more
    assert [(e.holder, e.file, e.op) for e in beat.revocations.entries] == [(bob, file_id, None)]
    assert {(p.shard, p.file) for p in beat.purge} == {("default", doomed)}
    assert len(json.dumps(answer.json)) < 10_000


def test_a_long_revocation_list_goes_a_page_at_a_time_and_purge_orders_do_not_wait_for_it(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    holders = [f"link-{i}" for i in range(MAX_REVOCATIONS_PAGE + 5)]
    with harness.db.transaction() as tx:
        for holder in holders:
            tx.execute(
                "INSERT INTO tickets (jti, file_id, op, expires_at, revoked, holder) VALUES (?, ?, 'get', ?, ?, ?)",
                (f"t-{holder}", file_id, harness.clock() + 900, False, holder),
            )
            revocations.revoke(tx, harness.clock(), holder=holder, file_id=file_id)
    doomed = _complete_file(harness, people.alice, fs)
    harness.call("DELETE", f"/api/files/{doomed}", token=people.alice)

    first = harness.beat(fs).json
    assert [p["file"] for p in first["purge"]] == [doomed]
    page = first["revocations"]
    assert (page["after"], len(page["entries"]), page["more"]) == (0, MAX_REVOCATIONS_PAGE, True)
    rest = harness.beat(fs, revocations_after=page["next"]).json["revocations"]
    assert (rest["after"], len(rest["entries"]), rest["more"]) == (page["next"], 5, False)
    seen = [e["holder"] for e in page["entries"] + rest["entries"]]
    assert seen == holders
    assert harness.beat(fs, revocations_after=rest["next"]).json["revocations"]["entries"] == []


def test_a_cursor_the_server_never_issued_starts_over_from_the_beginning(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    get_tickets(harness, people.bob, file_id)
    harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice)
    page = harness.beat(fs, revocations_after=10**6).json["revocations"]
    assert page["after"] == 0 and len(page["entries"]) == 1


def test_revocations_are_dropped_once_every_ticket_they_cover_has_expired(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    first, second = shared_file(harness, people, fs), shared_file(harness, people, fs)
    for file_id in (first, second):
        get_tickets(harness, people.bob, file_id)
        harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice)
    assert len(harness.beat(fs).json["revocations"]["entries"]) == 2
    harness.clock.now += harness.settings.ticket_ttl + revocations.CLOCK_MARGIN + 1
    page = harness.beat(fs).json["revocations"]
    assert page["entries"] == []
    retention.sweep(harness.db, harness.clock(), upload_grace=86400, lease=30)
    with harness.db.transaction(readonly=True) as tx:
        kept = tx.all("SELECT seq FROM revocations")
    assert len(kept) == 1, "the newest is kept so the numbering never goes back"


def test_ending_a_share_with_no_live_tickets_adds_no_revocation(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice)
    assert harness.beat(fs).json["revocations"]["entries"] == []


def test_tickets_issued_after_a_revocation_are_not_covered_by_it(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = shared_file(harness, people, fs)
    before = get_tickets(harness, people.bob, file_id)
    harness.call("DELETE", f"/api/files/{file_id}/shares/bob", token=people.alice)
    harness.clock.now += 1
    assert share(harness, people.alice, file_id, "bob", people.keys["bob"]).status_code == 201
    after = get_tickets(harness, people.bob, file_id)
    assert harness.revoked(fs) == before and not after & harness.revoked(fs)


def test_minting_is_bounded_per_file_and_holder_until_tickets_expire(
    harness: Harness, fs: FakeFileserver, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tickets, "MAX_LIVE_TICKETS", 3)
    file_id, other_file = shared_file(harness, people, fs), shared_file(harness, people, fs)
    for _ in range(3):
        get_tickets(harness, people.bob, file_id)
    refused = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "get"}, people.bob)
    assert (refused.status_code, refused.json["error"]) == (429, "too_many_tickets")
    assert "use the tickets you have" in refused.json["message"]
    assert int(refused.headers["Retry-After"]) > 0
    get_tickets(harness, people.alice, file_id)  # another holder of the same file
    get_tickets(harness, people.bob, other_file)  # the same holder, another file
    harness.clock.now += harness.settings.ticket_ttl + 1
    get_tickets(harness, people.bob, file_id)
