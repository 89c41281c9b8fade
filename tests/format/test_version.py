"""A record's format version is checked before any of its bytes are read, and named when unknown."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.client.errors import exit_code
from coffer.format.errors import UnknownFormatVersion
from coffer.format.keys import UserKeys
from coffer.format.metadata import Metadata
from coffer.format.records import check_layout, open_record
from coffer.format.version import FORMAT_VERSION, record_version

FILE_ID = "6f1c3f0e-2b7a-4d55-9a43-0c3e8f1d2a10"


def test_this_code_writes_format_1() -> None:
    assert FORMAT_VERSION == 1


def test_a_record_without_the_field_predates_it_and_is_format_1() -> None:
    assert record_version({"id": FILE_ID}) == 1
    assert record_version({"id": FILE_ID, "format": 1}) == 1


@pytest.mark.parametrize("version", [2, 0, 17])
def test_a_version_this_code_does_not_read_is_named_with_what_to_do(version: int) -> None:
    with pytest.raises(UnknownFormatVersion) as raised:
        record_version({"id": FILE_ID, "format": version})
    assert raised.value.message == (
        f"file {FILE_ID} was written in format v{version}, which this version of coffer cannot read "
        "(it reads format v1): upgrade coffer"
    )
    assert (raised.value.code, exit_code(raised.value)) == ("unknown_format", 8)


@pytest.mark.parametrize("version", ["1", 1.0, True, None, [1]])
def test_a_version_that_is_not_an_integer_is_unknown_too(version: Any) -> None:
    with pytest.raises(UnknownFormatVersion, match="cannot read"):
        record_version({"id": FILE_ID, "format": version})


def test_opening_a_newer_record_fails_on_its_version_before_touching_its_key() -> None:
    """A v2 record's key and metadata may be laid out differently: reading them as v1 would blame the bytes."""
    record = {"id": FILE_ID, "format": 2, "sealed_key": "not base64!", "key_commitment": "", "metadata": ""}
    with pytest.raises(UnknownFormatVersion, match="format v2"):
        open_record(record, UserKeys.generate())


def test_a_newer_record_fails_on_its_version_before_its_layout_is_checked() -> None:
    record = {"id": FILE_ID, "format": 2, "chunk_count": 1, "chunk_size": 0, "size": 0, "shard": "s", "chunks": []}
    with pytest.raises(UnknownFormatVersion):
        check_layout(record, Metadata("x", 10, "t", 0.0, "0" * 64))
