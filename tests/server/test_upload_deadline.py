"""A pending upload has a deadline: its put tickets never outlive it, and the sweep collects it after.

Renewing put tickets keeps an upload from counting as abandoned; the deadline is
what stops a pending file, and whatever its tickets stored, from living for ever.
The clock is the harness's: tests move it, nothing sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.settings import SettingsError
from coffer.server.jobs import housekeeper as jobs
from coffer.server.settings import ServerSettings

from .conftest import FakeFileserver, Harness
from .test_files import _new_file

HOUR = 3600.0


@pytest.fixture
def fs(harness: Harness, admin: str) -> FakeFileserver:
    server = harness.fileserver(admin)
    assert harness.register(server).status_code == 200
    return server


def _put_ticket(harness: Harness, token: str, file_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, token).json
    return answer


def _purged(harness: Harness) -> list[str]:
    with harness.db.transaction(readonly=True) as tx:
        return [r["file_id"] for r in tx.all("SELECT file_id FROM purges")]


def _sweep(harness: Harness) -> int:
    result = jobs.Housekeeper(harness.db, harness.settings, harness.clock).run_once()
    assert result is not None
    return result.abandoned


def test_a_put_ticket_never_lives_past_the_uploads_deadline(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    created = harness.clock()
    file_id = _new_file(harness, token).json["id"]
    harness.clock.now = created + harness.settings.upload_deadline - 60
    answer = _put_ticket(harness, harness.login("alice"), file_id)
    assert answer["tickets"][0]["expires_at"] == int(created + harness.settings.upload_deadline)


def test_no_put_ticket_is_issued_once_the_deadline_has_passed(harness: Harness, fs: FakeFileserver) -> None:
    token = harness.make_user("alice")
    file_id = _new_file(harness, token).json["id"]
    harness.clock.now += harness.settings.upload_deadline
    result = harness.call("POST", f"/api/files/{file_id}/tickets", {"op": "put"}, harness.login("alice"))
    assert result.status_code == 410 and result.json["error"] == "upload_expired"
    assert "upload the file again" in result.json["message"].lower()


def test_an_upload_renewing_its_tickets_is_collected_at_its_deadline_and_frees_the_quota(
    harness: Harness, fs: FakeFileserver
) -> None:
    token = harness.make_user("alice")
    created = harness.clock()
    file_id = _new_file(harness, token).json["id"]
    deadline = created + harness.settings.upload_deadline
    while harness.clock() + HOUR < deadline:
        harness.clock.now += HOUR
        assert "tickets" in _put_ticket(harness, harness.login("alice"), file_id)
        assert _sweep(harness) == 0, "an upload that keeps going is not abandoned before its deadline"
    harness.clock.now = deadline
    assert _sweep(harness) == 1
    assert _purged(harness) == [file_id]
    quota = harness.call("GET", "/api/me/quota", token=harness.login("alice")).json
    assert (quota["bytes"]["used"], quota["files"]["used"]) == (0, 0)


def test_upload_deadline_must_be_positive() -> None:
    with pytest.raises(SettingsError, match="upload_deadline"):
        ServerSettings(upload_deadline=0)
