"""Keyset pages over ``(created_at, id)``: the SQL that starts a page after its cursor, and the cut after its end.

A page reads one row past its limit to learn whether another follows, so the
last page says so without a further, empty request. Listings that grow with an
account or a deployment page this way (files, links); none counts an offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coffer.protocol.api.pages import PageRequest, Position, encode_cursor

from ..store.db import Row


@dataclass(frozen=True)
class Page:
    """One page of records as the caller may see them, and the cursor of the next page (None: this was the last)."""

    records: list[dict[str, Any]]
    next: str | None

    def to_json(self, key: str) -> dict[str, Any]:
        return {key: self.records, "next": self.next}


def keyset(page: PageRequest, table: str, *, newest_first: bool = False) -> tuple[str, tuple[Any, ...]]:
    """Return the SQL that continues a ``WHERE`` after the cursor, in the listing's order, one row past its end."""
    where = ""
    params: tuple[Any, ...] = ()
    if page.after is not None:
        where = f" AND ({table}.created_at, {table}.id) {'<' if newest_first else '>'} (?, ?)"
        params = (page.after.created_at, page.after.id)
    direction = " DESC" if newest_first else ""
    order = f" ORDER BY {table}.created_at{direction}, {table}.id{direction} LIMIT ?"
    return where + order, (*params, page.limit + 1)


def cut(rows: list[Row], limit: int) -> tuple[list[Row], str | None]:
    """Return the page's rows and, if a row was read past its end, the cursor after its last one."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(Position(float(last["created_at"]), last["id"]))
