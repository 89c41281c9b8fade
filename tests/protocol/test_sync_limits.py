"""The sync status and verification answers at their caps: they fit the JSON body limit and parse back."""

from __future__ import annotations

import json

import pytest

from coffer.protocol import wire
from coffer.protocol.api.sync import (
    MAX_SYNC_ERRORS,
    MAX_SYNC_SITES,
    MAX_VERIFY_ENTRIES,
    SiteSync,
    SiteVerified,
    SyncError,
    Verification,
    VerifyEntry,
    parse_sync,
)
from coffer.protocol.errors import ProtocolError
from coffer.protocol.signing import MAX_FIGURE

ID = "ffffffff-ffff-4fff-bfff-ffffffffffff"
NAME = "z" * 63
HASH = "f" * 64
PROBLEM = "corrupt:" + ID


def largest_row() -> SiteSync:
    error = SyncError(ID, HASH, PROBLEM, MAX_FIGURE, True)
    big = float(MAX_FIGURE)
    return SiteSync(NAME, NAME, True, True, MAX_FIGURE, MAX_FIGURE, big, MAX_FIGURE, big, MAX_FIGURE, (error,) * 5)


def test_the_largest_sync_status_fits_the_json_body_limit_and_parses() -> None:
    rows = [largest_row().to_json()] * MAX_SYNC_SITES
    assert MAX_SYNC_ERRORS == 5
    assert len(json.dumps(rows).encode()) <= wire.MAX_JSON_BODY
    assert parse_sync(rows) == [largest_row()] * MAX_SYNC_SITES
    with pytest.raises(ProtocolError, match="at most"):
        parse_sync(rows + rows[:1])


def test_the_largest_verification_fits_the_json_body_limit_and_parses() -> None:
    site = SiteVerified(NAME, True, MAX_FIGURE, MAX_FIGURE, MAX_FIGURE, float(MAX_FIGURE))
    entry = VerifyEntry(ID, HASH, NAME, "CORRUPT", ID)
    result = Verification(NAME, MAX_FIGURE, (site,) * 64, (entry,) * MAX_VERIFY_ENTRIES, True)
    body = result.to_json()
    assert len(json.dumps(body).encode()) <= wire.MAX_JSON_BODY
    assert Verification.parse(body) == result and not result.clean
    with pytest.raises(ProtocolError, match="at most"):
        Verification.parse(body | {"entries": body["entries"] * 2})
