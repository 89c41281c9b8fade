"""Give one account thousands of file records at once, straight into the server's database.

Uploading ten thousand files through the API would test the upload path ten
thousand times; listing tests need only the rows. Records are inserted in
multi-row statements, in one transaction, on either engine. Several records
share each creation time, so the listing's tie-break on the id is exercised.
"""

from __future__ import annotations

from coffer.protocol.encoding import b64encode
from coffer.protocol.ids import new_id
from coffer.server.domain.files import FILE_COLUMNS
from coffer.server.store.db import Database

ROWS_PER_STATEMENT = 500
SAME_SECOND = 7
"""Records created in the same instant: a listing ordered by time alone would be ambiguous."""


def insert_files(
    db: Database,
    owner: str,
    count: int,
    *,
    shard: str = "default",
    state: str = "pending",
    start: float = 1_700_000_000.0,
    metadata: str = b64encode(b"sealed metadata"),
) -> list[str]:
    """Insert *count* records owned by the user *owner*; return their ids in the listing's order."""
    columns = FILE_COLUMNS.split(", ")
    with db.transaction() as tx:
        user = tx.one("SELECT id FROM users WHERE name = ?", (owner,))
        shard_row = tx.one("SELECT id FROM shards WHERE name = ?", (shard,))
        assert user is not None and shard_row is not None, "make the user and apply the topology first"
        rows = []
        for n in range(count):
            created = start + n // SAME_SECOND
            row = {
                "id": new_id(),
                "owner_id": user["id"],
                "shard_id": shard_row["id"],
                "size": 1024,
                "chunk_count": 1,
                "chunk_size": 1024,
                "metadata": metadata,
                "sealed_key": "",
                "state": state,
                "created_at": created,
                "expires_at": created + 10 * 365 * 86400,
                "completed_at": created if state == "complete" else None,
                "active_at": created,
                "hold": False,
                "key_commitment": "",
                "format_version": 1,
            }
            rows.append(tuple(row[c] for c in columns))
        marks = "(" + ", ".join("?" * len(columns)) + ")"
        for at in range(0, count, ROWS_PER_STATEMENT):
            batch = rows[at : at + ROWS_PER_STATEMENT]
            tx.execute(
                f"INSERT INTO files ({FILE_COLUMNS}) VALUES {', '.join([marks] * len(batch))}",
                tuple(value for row in batch for value in row),
            )
    return [row[0] for row in sorted(rows, key=lambda r: (r[columns.index("created_at")], r[0]))]


def share_files(db: Database, file_ids: list[str], recipient: str, *, at: float = 1_700_000_000.0) -> None:
    """Share every file in *file_ids* with *recipient* (an opaque box each), as many owners' clients would."""
    with db.transaction() as tx:
        user = tx.one("SELECT id FROM users WHERE name = ?", (recipient,))
        assert user is not None
        for start in range(0, len(file_ids), ROWS_PER_STATEMENT):
            batch = file_ids[start : start + ROWS_PER_STATEMENT]
            tx.execute(
                "INSERT INTO shares (file_id, user_id, share_key, created_at) VALUES "
                + ", ".join(["(?, ?, ?, ?)"] * len(batch)),
                tuple(v for file_id in batch for v in (file_id, user["id"], b64encode(b"box"), at)),
            )


def insert_links(db: Database, owner: str, file_id: str, count: int, *, start: float = 1_700_000_000.0) -> list[str]:
    """Insert *count* links to one file of *owner*, several made in each instant; return their ids newest first."""
    with db.transaction() as tx:
        user = tx.one("SELECT id FROM users WHERE name = ?", (owner,))
        assert user is not None
        rows = [
            (new_id(), file_id, user["id"], start + n // SAME_SECOND, start + 10 * 365 * 86400) for n in range(count)
        ]
        for at in range(0, count, ROWS_PER_STATEMENT):
            batch = rows[at : at + ROWS_PER_STATEMENT]
            tx.execute(
                "INSERT INTO links (id, file_id, owner_id, created_at, expires_at) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(batch)),
                tuple(v for row in batch for v in row),
            )
    return [row[0] for row in sorted(rows, key=lambda r: (r[3], r[0]), reverse=True)]
