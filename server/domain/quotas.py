"""Per-user quotas on stored bytes and files: the rule, the usage, and the answer when it is passed.

Usage is not a counter kept beside the files: it is the sum over the user's file
records, pending ones included. Creating a file record is the reservation (its
declared size counts from that moment, before any chunk moves); dropping the
record, whatever the reason (abort, abandoned upload, expiry, deletion, user
removal), is the release. So the figures cannot drift, whatever fails half way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coffer.protocol.units import human_bytes

from ..errors import QuotaExceeded
from ..store.db import Tx


@dataclass(frozen=True)
class Quota:
    """A user's limits and what they use now."""

    bytes_limit: int
    files_limit: int
    bytes_used: int
    files_used: int

    def to_json(self) -> dict[str, Any]:
        return {
            "bytes": {"used": self.bytes_used, "limit": self.bytes_limit},
            "files": {"used": self.files_used, "limit": self.files_limit},
        }

    def check(self, size: int) -> None:
        """Refuse a new file of *size* bytes that would pass either limit, naming the quota and the figures."""
        if self.files_used + 1 > self.files_limit:
            raise QuotaExceeded(
                f"file quota reached: you store {self.files_used} of {self.files_limit} files, and this upload "
                "needs 1 more. Delete files you no longer need, or ask an administrator for a larger quota",
                details={"quota": "files", "used": self.files_used, "limit": self.files_limit, "requested": 1},
            )
        if self.bytes_used + size > self.bytes_limit:
            used, limit, asked = (human_bytes(n) for n in (self.bytes_used, self.bytes_limit, size))
            raise QuotaExceeded(
                f"byte quota exceeded: you use {used} of {limit}, and this upload needs {asked} more. "
                "Delete files you no longer need, or ask an administrator for a larger quota",
                details={"quota": "bytes", "used": self.bytes_used, "limit": self.bytes_limit, "requested": size},
            )


def of_user(tx: Tx, user_id: str, *, default_bytes: int, default_files: int, lock: bool = False) -> Quota:
    """Read a user's quota and usage; *lock* holds the user's row so concurrent reservations queue.

    The usage is two counters on the user's row that triggers on ``files`` keep (migration 17), so
    a create's check, inside its write transaction, costs the same at ten files as at a million.

    SQLite writes are already serialized by ``BEGIN IMMEDIATE``; on PostgreSQL the
    row lock stops two uploads of one user from both passing the check.
    """
    row = tx.one(
        "SELECT quota_bytes, quota_files, used_bytes, used_files FROM users WHERE id = ?"
        + (" FOR UPDATE" if lock and tx.dialect == "postgresql" else ""),
        (user_id,),
    )
    if row is None:
        raise LookupError(user_id)
    return Quota(
        bytes_limit=default_bytes if row["quota_bytes"] is None else row["quota_bytes"],
        files_limit=default_files if row["quota_files"] is None else row["quota_files"],
        bytes_used=int(row["used_bytes"]),
        files_used=int(row["used_files"]),
    )
