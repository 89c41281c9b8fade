"""Pages of a listing that grows with an account: a ``limit``, an opaque ``after`` cursor, a ``next`` one back.

A listing is walked in a stable order, ``(created_at, id)``, and a page starts
strictly after the last record of the one before (keyset paging, never an
offset): a record deleted or added between two pages moves no other record, so
a walk sees each record that lives through it exactly once. The cursor is
opaque to clients; it names the last record seen and carries a version, so the
server may change what it holds without breaking a walk that spans an upgrade.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..encoding import DecodeError, b64decode, b64encode
from ..errors import ProtocolError
from ..ids import check_id

DEFAULT_PAGE_SIZE = 100
"""Records in a page when the request names no ``limit``."""
MAX_PAGE_SIZE = 1000
"""The most records one page may hold: the ``limit`` a client asks for to walk a listing in fewest requests."""
MAX_CURSOR_CHARS = 200
CURSOR_VERSION = 1


@dataclass(frozen=True, order=True)
class Position:
    """Where a walk stands: the ``(created_at, id)`` of the last record it was given."""

    created_at: float
    id: str


def encode_cursor(position: Position) -> str:
    """Write *position* as the opaque ``next`` cursor of a page."""
    text = json.dumps([CURSOR_VERSION, position.created_at, position.id], separators=(",", ":"))
    return b64encode(text.encode())


def decode_cursor(cursor: object) -> Position:
    """Read a cursor that :func:`encode_cursor` wrote; anything else is a 400 ``invalid_cursor``."""
    try:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
            raise DecodeError("not a string of acceptable length")
        version, created_at, record = json.loads(b64decode(cursor, max_length=MAX_CURSOR_CHARS))
        if version != CURSOR_VERSION or type(created_at) not in (int, float) or not math.isfinite(created_at):
            raise DecodeError("not a cursor of this version")
        return Position(float(created_at), check_id(record, "after"))
    except (DecodeError, ProtocolError, ValueError, TypeError) as exc:
        raise ProtocolError(
            "'after' is not a cursor this server handed out: pass back the 'next' of the previous page unchanged",
            code="invalid_cursor",
        ) from exc


@dataclass(frozen=True)
class PageRequest:
    """The query of one page: at most *limit* records, after *after* (None: from the start)."""

    limit: int = DEFAULT_PAGE_SIZE
    after: Position | None = None

    def to_params(self) -> dict[str, str]:
        params = {"limit": str(self.limit)}
        if self.after is not None:
            params["after"] = encode_cursor(self.after)
        return params

    @classmethod
    def parse(cls, params: Mapping[str, object]) -> PageRequest:
        """Read ``limit`` (1 to :data:`MAX_PAGE_SIZE`, default :data:`DEFAULT_PAGE_SIZE`) and ``after``."""
        raw = params.get("limit")
        limit = DEFAULT_PAGE_SIZE
        if raw is not None:
            if not isinstance(raw, str) or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
                raise ProtocolError(
                    f"'limit' must be a whole number from 1 to {MAX_PAGE_SIZE}, not {str(raw)[:20]!r}",
                    code="invalid_limit",
                )
            limit = int(raw)
        after = params.get("after")
        return cls(limit=limit, after=None if after is None else decode_cursor(after))

    @staticmethod
    def asked(params: Mapping[str, object]) -> bool:
        """Tell whether a request asked for a page (``limit`` or ``after``), not the bare list older clients read."""
        return "limit" in params or "after" in params
