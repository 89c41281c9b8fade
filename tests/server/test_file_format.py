"""Every file record carries the encryption format version its client wrote it in.

The server stores the version, refuses one it does not know (400 ``unknown_format``, nothing
stored), and shows it in every view of the record; records made before the field existed
are format 1, the only format there was.
"""

from __future__ import annotations

from typing import Any

import pytest

from coffer.server.store import migrations

from .conftest import FakeFileserver, Harness, People
from .test_files import _new_file
from .test_lifecycle import _complete_file
from .test_sharing import error, rows, shared_file


def test_a_new_file_records_the_format_it_was_written_in(harness: Harness, fs: FakeFileserver, people: People) -> None:
    made = _new_file(harness, people.alice, format=1)
    assert (made.status_code, made.json["format"]) == (201, 1)
    assert harness.call("GET", f"/api/files/{made.json['id']}", token=people.alice).json["format"] == 1
    assert [f["format"] for f in harness.call("GET", "/api/files", token=people.alice).json] == [1]


def test_a_client_that_sends_no_format_writes_format_1(harness: Harness, fs: FakeFileserver, people: People) -> None:
    made = _new_file(harness, people.alice)
    assert (made.status_code, made.json["format"]) == (201, 1)
    assert [r["format_version"] for r in rows(harness, "files")] == [1]


@pytest.mark.parametrize("bad", [2, 0, -1, "1", 1.0, True, None, [1]])
def test_a_format_the_server_does_not_know_is_refused_and_nothing_is_stored(
    harness: Harness, fs: FakeFileserver, people: People, bad: Any
) -> None:
    answer = _new_file(harness, people.alice, format=bad)
    assert error(answer) == (400, "unknown_format")
    assert "format" in answer.json["message"]
    assert rows(harness, "files") == []


def test_recipients_and_link_holders_see_the_format_too(harness: Harness, fs: FakeFileserver, people: People) -> None:
    file_id = shared_file(harness, people, fs)
    assert [f["format"] for f in harness.call("GET", "/api/files?shared=true", token=people.bob).json] == [1]
    assert harness.call("GET", f"/api/files/{file_id}", token=people.bob).json["format"] == 1
    made = harness.call("POST", f"/api/files/{file_id}/links", {}, people.alice)
    assert made.status_code == 201, made.json
    assert harness.call("GET", f"/api/links/{made.json['id']}").json["file"]["format"] == 1


def test_records_made_before_the_format_column_read_as_format_1(
    harness: Harness, fs: FakeFileserver, people: People
) -> None:
    file_id = _complete_file(harness, people.alice, fs)
    with harness.db.transaction() as tx:
        tx.execute("ALTER TABLE files DROP COLUMN format_version")
        tx.execute("DELETE FROM schema_migrations WHERE version = 5")
    assert migrations.migrate(harness.db) == [5]
    assert harness.call("GET", f"/api/files/{file_id}", token=people.alice).json["format"] == 1
