"""Quota messages: an administrator's change, checked as the server always did, and the quota answer."""

from __future__ import annotations

from typing import Any

import pytest

from coffer.protocol.api.quotas import MAX_QUOTA, Quota, SetQuota, Usage
from coffer.protocol.errors import ProtocolError


def test_a_quota_change_keeps_only_the_limits_given() -> None:
    assert SetQuota.parse({"bytes": MAX_QUOTA}).changes == {"bytes": MAX_QUOTA}
    assert SetQuota.parse({"bytes": None, "files": 0}).to_json() == {"bytes": None, "files": 0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "give 'bytes' and/or 'files'"),
        ({"bytes": MAX_QUOTA + 1}, "'bytes' must be a non-negative integer, or null for the default"),
        ({"files": -1}, "'files' must be a non-negative integer, or null for the default"),
        ({"files": True}, "'files' must be a non-negative integer, or null for the default"),
    ],
)
def test_a_bad_quota_change_is_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        SetQuota.parse(body)
    assert (info.value.code, info.value.message, info.value.status) == ("invalid_quota", message, 400)


def test_a_quota_answer_round_trips() -> None:
    quota = Quota(Usage(10, 100), Usage(1, 5))
    assert Quota.parse(quota.to_json()) == quota


def test_a_quota_answer_without_its_figures_is_refused() -> None:
    with pytest.raises(ProtocolError):
        Quota.parse({"bytes": {"used": 1}})
