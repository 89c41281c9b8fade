"""Lifecycle administration answers: holds, a removal, audit events, purge backlogs, a sweep, and their limits."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.lifecycle import (
    MAX_AUDIT_EVENTS,
    MAX_HELD,
    MAX_PURGE_BACKLOGS,
    AuditEvent,
    Holds,
    PurgeBacklog,
    RemovedUser,
    SweepResult,
    parse_audit,
    parse_purges,
)
from coffer.protocol.errors import ProtocolError

FILE = "0b7c4c2e-3f1a-4d5e-9a6b-7c8d9e0f1a2b"


def refused(parse: Any, value: object) -> str:
    with pytest.raises(ProtocolError) as info:
        parse(value)
    return info.value.code


def held_file() -> dict[str, Any]:
    return {"id": FILE, "owner": "alice", "size": 10, "state": "complete", "expires_at": 5.0}


def test_holds_round_trip_in_the_servers_field_order() -> None:
    body = {"users": ["bob"], "files": [held_file()]}
    assert Holds.parse(body).to_json() == body
    assert list(Holds.parse(body).to_json()["files"][0]) == list(held_file())


def test_holds_list_at_most_the_limit_of_users_and_files() -> None:
    at_max = Holds.parse({"users": ["bob"] * MAX_HELD, "files": [held_file()] * MAX_HELD})
    assert (len(at_max.users), len(at_max.files)) == (MAX_HELD, MAX_HELD)
    assert refused(Holds.parse, {"users": ["bob"] * (MAX_HELD + 1), "files": []}) == "invalid_answer"
    assert refused(Holds.parse, {"users": [], "files": [held_file()] * (MAX_HELD + 1)}) == "invalid_answer"
    assert refused(Holds.parse, {"users": [3], "files": []}) == "invalid_answer"


def test_a_removed_user_and_a_sweep_round_trip() -> None:
    assert RemovedUser.parse({"removed": "bob", "files_deleted": 2}).to_json() == {"removed": "bob", "files_deleted": 2}
    sweep = {"expired": 1, "abandoned": 2, "lost": 0}
    assert SweepResult.parse(sweep).to_json() == sweep
    assert refused(SweepResult.parse, sweep | {"lost": "0"}) == "invalid_answer"


def event() -> dict[str, Any]:
    return {
        "at": 1.5,
        "action": "login",
        "outcome": "ok",
        "actor": "alice",
        "address": None,
        "object": "user:alice",
        "detail": {"session": FILE},
    }


def test_an_audit_answer_holds_at_most_the_servers_largest_limit() -> None:
    assert AuditEvent.parse(event()).to_json() == event()
    assert len(parse_audit([event()] * MAX_AUDIT_EVENTS)) == MAX_AUDIT_EVENTS
    assert refused(parse_audit, [event()] * (MAX_AUDIT_EVENTS + 1)) == "invalid_answer"
    assert refused(parse_audit, [event() | {"detail": []}]) == "invalid_answer"


def test_a_purge_answer_holds_at_most_the_limit_of_backlogs() -> None:
    backlog = {"fileserver": FILE, "url": "http://fs", "purges": 3, "oldest": 7.0}
    assert PurgeBacklog.parse(backlog).to_json() == backlog
    assert len(parse_purges([backlog] * MAX_PURGE_BACKLOGS)) == MAX_PURGE_BACKLOGS
    assert refused(parse_purges, [backlog] * (MAX_PURGE_BACKLOGS + 1)) == "invalid_answer"
