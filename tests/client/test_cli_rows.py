"""How `coffer ls` shows a file whose name it cannot read: never as a silent blank."""

from __future__ import annotations

import dataclasses

from coffer.client.cli.files import _row, parse_duration
from coffer.client.coffer import FileInfo

BASE = FileInfo(
    id="0b8f5a52-5c2b-4d67-9a55-8d1c1d2f9f00",
    name="report.pdf",
    size=1234,
    type="application/pdf",
    mtime=0.0,
    sha256="0" * 64,
    shard="default",
    state="complete",
    chunk_count=1,
    stored_size=1262,
    created_at=0.0,
    expires_at=0.0,
    completed_at=0.0,
)


def test_a_readable_file_shows_its_name() -> None:
    assert _row(BASE).endswith("report.pdf")


def test_a_pending_upload_says_its_name_comes_at_the_end() -> None:
    assert "upload in progress" in _row(dataclasses.replace(BASE, name="", state="pending"))


def test_a_complete_file_whose_metadata_fails_says_so() -> None:
    assert "does not decrypt" in _row(dataclasses.replace(BASE, name=""))


def test_durations_read_units_and_plain_seconds() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "30m", "12h", "7d", "1w")] == [90, 90, 1800, 43200, 604800, 604800]
