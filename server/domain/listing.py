"""The file listings of one account, a page at a time: the caller's own files, and the files shared with them.

An account may hold a hundred thousand files, so no listing is answered whole.
Each page is a keyset query over ``(created_at, id)`` (:mod:`.paging`) that
starts strictly after the cursor: no offset to count through, and records
deleted between pages move nothing. The index ``files_owner_created`` makes the
own listing a range scan.
"""

from __future__ import annotations

from typing import Any

from coffer.protocol.api.files import FileFilter
from coffer.protocol.api.pages import PageRequest

from ..store.db import Database
from . import files
from .accounts import Principal
from .paging import Page, cut, keyset

OWN_FILES_SQL = (
    f"SELECT {', '.join('f.' + c for c in files.FILE_COLUMNS.split(', '))}, s.name AS shard_name "
    "FROM files f JOIN shards s ON s.id = f.shard_id WHERE f.owner_id = ?"
)


def _narrow(only: FileFilter) -> tuple[str, list[Any]]:
    """Return the SQL that keeps only the files in the state and shard *only* names."""
    clauses: list[str] = []
    params: list[Any] = []
    if only.state is not None:
        clauses, params = [*clauses, " AND f.state = ?"], [*params, only.state]
    if only.shard is not None:
        clauses, params = [*clauses, " AND s.name = ?"], [*params, only.shard]
    return "".join(clauses), params


def own_files(db: Database, who: Principal, page: PageRequest, only: FileFilter) -> Page:
    """Return a page of the caller's files, oldest first, in one state and/or shard if *only* says so."""
    narrow, params = _narrow(only)
    tail, more = keyset(page, "f")
    with db.transaction(readonly=True) as tx:
        rows = tx.all(OWN_FILES_SQL + narrow + tail, (who.user_id, *params, *more))
    rows, cursor = cut(rows, page.limit)
    return Page([files.owner_json(r, r["shard_name"], who.name) for r in rows], cursor)


def shared_files(db: Database, who: Principal, page: PageRequest, only: FileFilter, now: float) -> Page:
    """Return a page of the files shared with the caller that can still be read (complete, unexpired), oldest first."""
    narrow, params = _narrow(only)
    tail, more = keyset(page, "f")
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            files.VISIBLE_FILE_SQL + "WHERE sh.user_id IS NOT NULL AND f.state = 'complete' "
            "AND (f.expires_at > ? OR f.hold = ?)" + narrow + tail,
            (who.user_id, now, True, *params, *more),
        )
    rows, cursor = cut(rows, page.limit)
    return Page([files.shared_json(r) for r in rows], cursor)
