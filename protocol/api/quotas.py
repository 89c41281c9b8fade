"""Quotas: a user's byte and file limits, what they use, and an administrator setting them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from .fields import answer_field, object_of

MAX_QUOTA = 1 << 60
KEYS = ("bytes", "files")


def _limit(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_QUOTA):
        raise ProtocolError(f"'{key}' must be a non-negative integer, or null for the default", code="invalid_quota")
    return value


@dataclass(frozen=True)
class SetQuota:
    """``PUT /api/admin/users/{name}/quota``: the limits to change; ``None`` returns one to the server default."""

    changes: Mapping[str, int | None]
    """The limits given, by key (``bytes``, ``files``): a limit left out stays as it is."""

    def to_json(self) -> dict[str, Any]:
        return dict(self.changes)

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> SetQuota:
        if not any(key in body for key in KEYS):
            raise ProtocolError("give 'bytes' and/or 'files'", code="invalid_quota")
        return cls({key: _limit(body, key) for key in KEYS if key in body})


@dataclass(frozen=True)
class Usage:
    used: int
    limit: int

    def to_json(self) -> dict[str, int]:
        return {"used": self.used, "limit": self.limit}

    @classmethod
    def parse(cls, value: object) -> Usage:
        body = object_of(value, "a quota figure")
        return cls(answer_field(body, "used", int), answer_field(body, "limit", int))


@dataclass(frozen=True)
class Quota:
    """A user's quota as the server answers it: bytes and files, each used and allowed."""

    bytes: Usage
    files: Usage

    def to_json(self) -> dict[str, Any]:
        return {"bytes": self.bytes.to_json(), "files": self.files.to_json()}

    @classmethod
    def parse(cls, value: object) -> Quota:
        body = object_of(value, "a quota")
        return cls(Usage.parse(body.get("bytes")), Usage.parse(body.get("files")))
