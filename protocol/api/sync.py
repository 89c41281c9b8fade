"""Sync between sites, seen by an administrator: ``GET /api/admin/sync`` and ``GET /api/admin/verify/{shard}``.

A site is a cluster linked to a shard. The status tells, per shard and site, what is
left to copy and how fast it goes; the verification tells, per chunk and site, what is
MISSING, EXTRA or CORRUPT, from the fileservers' own reports (docs/sites.md). Both
answers are capped: at most :data:`MAX_SYNC_SITES` rows of status, :data:`MAX_SYNC_ERRORS`
errors per row and :data:`MAX_VERIFY_ENTRIES` chunks listed by a verification (its
figures count them all; ``truncated`` says some were left out). A test pins each answer
at its caps under the JSON body limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ProtocolError
from .fields import answer_field, list_of, object_of

MAX_SYNC_SITES = 512
"""Status rows (shard and site) in one answer: more links than that are left out of it, by name order."""
MAX_SYNC_ERRORS = 5
"""Recent failed copies listed per row; ``errors`` counts them all."""
MAX_VERIFY_ENTRIES = 1000
"""Chunks listed by one verification; ``missing``, ``extra`` and ``corrupt`` count them all."""
RATE_WINDOW = 300.0
"""Seconds over which the copy rate is averaged."""
Status = Literal["MISSING", "EXTRA", "CORRUPT"]
STATUSES: tuple[Status, ...] = ("MISSING", "EXTRA", "CORRUPT")


def _num(body: Any, key: str) -> float:
    value = answer_field(body, key, (int, float))
    return float(value)


@dataclass(frozen=True)
class SyncError:
    """A copy to the site that failed lately: what the fileservers reported, and whether it was given up for now."""

    file: str
    chunk: str
    problem: str
    tries: int
    given_up: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "chunk": self.chunk,
            "problem": self.problem,
            "tries": self.tries,
            "given_up": self.given_up,
        }

    @classmethod
    def parse(cls, value: object) -> SyncError:
        body = object_of(value, "a sync error")
        return cls(
            answer_field(body, "file", str),
            answer_field(body, "chunk", str),
            answer_field(body, "problem", str),
            answer_field(body, "tries", int),
            answer_field(body, "given_up", bool),
        )


@dataclass(frozen=True)
class SiteSync:
    """One shard at one site: its backlog (chunks and bytes the site lacks), lag, errors and copy rate.

    ``lag_seconds`` is the age of the oldest complete chunk the site lacks (0 when none);
    ``bytes_per_s`` the bytes copied to the site over the last :data:`RATE_WINDOW` seconds,
    per second, from the receipts. A site with ``read = false`` keeps no copies: its
    backlog is always 0.
    """

    shard: str
    site: str
    read: bool
    write: bool
    backlog_chunks: int
    backlog_bytes: int
    lag_seconds: float
    below_copies: int
    bytes_per_s: float
    errors: int
    recent_errors: tuple[SyncError, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "site": self.site,
            "read": self.read,
            "write": self.write,
            "backlog_chunks": self.backlog_chunks,
            "backlog_bytes": self.backlog_bytes,
            "lag_seconds": self.lag_seconds,
            "below_copies": self.below_copies,
            "bytes_per_s": self.bytes_per_s,
            "errors": self.errors,
            "recent_errors": [e.to_json() for e in self.recent_errors],
        }

    @classmethod
    def parse(cls, value: object) -> SiteSync:
        body = object_of(value, "a site's sync status")
        return cls(
            shard=answer_field(body, "shard", str),
            site=answer_field(body, "site", str),
            read=answer_field(body, "read", bool),
            write=answer_field(body, "write", bool),
            backlog_chunks=answer_field(body, "backlog_chunks", int),
            backlog_bytes=answer_field(body, "backlog_bytes", int),
            lag_seconds=_num(body, "lag_seconds"),
            below_copies=answer_field(body, "below_copies", int),
            bytes_per_s=_num(body, "bytes_per_s"),
            errors=answer_field(body, "errors", int),
            recent_errors=tuple(
                SyncError.parse(e) for e in list_of(body.get("recent_errors"), "'recent_errors'", MAX_SYNC_ERRORS)
            ),
        )


def parse_sync(value: object) -> list[SiteSync]:
    """Read ``GET /api/admin/sync``: one row per shard and linked site."""
    return [SiteSync.parse(row) for row in list_of(value, "the sync status", MAX_SYNC_SITES)]


@dataclass(frozen=True)
class VerifyEntry:
    """One chunk's problem at one site. ``chunk`` is empty for a deleted file's copies not yet purged there."""

    file: str
    chunk: str
    site: str
    status: Status
    fileserver: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "chunk": self.chunk,
            "site": self.site,
            "status": self.status,
            "fileserver": self.fileserver,
        }

    @classmethod
    def parse(cls, value: object) -> VerifyEntry:
        body = object_of(value, "a verification entry")
        status = answer_field(body, "status", str)
        if status not in STATUSES:
            raise ProtocolError(f"a verification status must be one of {', '.join(STATUSES)}", code="invalid_answer")
        return cls(
            answer_field(body, "file", str),
            answer_field(body, "chunk", str),
            answer_field(body, "site", str),
            status,
            answer_field(body, "fileserver", str, optional=True) or "",
        )


@dataclass(frozen=True)
class SiteVerified:
    """One site's counts, and when its oldest live fileserver last listed its storage (``None``: never)."""

    site: str
    read: bool
    missing: int
    extra: int
    corrupt: int
    inventory_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "read": self.read,
            "missing": self.missing,
            "extra": self.extra,
            "corrupt": self.corrupt,
            "inventory_at": self.inventory_at,
        }

    @classmethod
    def parse(cls, value: object) -> SiteVerified:
        body = object_of(value, "a verified site")
        at = answer_field(body, "inventory_at", (int, float), optional=True)
        return cls(
            answer_field(body, "site", str),
            answer_field(body, "read", bool),
            answer_field(body, "missing", int),
            answer_field(body, "extra", int),
            answer_field(body, "corrupt", int),
            None if at is None else float(at),
        )


@dataclass(frozen=True)
class Verification:
    """``GET /api/admin/verify/{shard}``: clean when no site misses, holds extra or corrupt copies of any chunk."""

    shard: str
    chunks: int
    sites: tuple[SiteVerified, ...]
    entries: tuple[VerifyEntry, ...]
    truncated: bool

    @property
    def clean(self) -> bool:
        return not any(s.missing or s.extra or s.corrupt for s in self.sites)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "clean": self.clean,
            "chunks": self.chunks,
            "sites": [s.to_json() for s in self.sites],
            "entries": [e.to_json() for e in self.entries],
            "truncated": self.truncated,
        }

    @classmethod
    def parse(cls, value: object) -> Verification:
        body = object_of(value, "a verification")
        return cls(
            answer_field(body, "shard", str),
            answer_field(body, "chunks", int),
            tuple(SiteVerified.parse(s) for s in list_of(body.get("sites"), "'sites'", MAX_SYNC_SITES)),
            tuple(VerifyEntry.parse(e) for e in list_of(body.get("entries"), "'entries'", MAX_VERIFY_ENTRIES)),
            answer_field(body, "truncated", bool),
        )
