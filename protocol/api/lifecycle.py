"""Lifecycle administration answers: legal holds, a removed user, the audit log, the deletion queue, a sweep.

The server builds each answer from these models and the client parses it with them,
so the ``coffer admin`` commands read fields the protocol defines once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from .fields import answer_field, list_of, object_of

MAX_AUDIT_EVENTS = 10_000
"""Events in one audit answer: the most the server's ``limit`` parameter may ask for."""
MAX_HELD = 1_000_000
"""Held users or held files in one answer: the server caps neither, so the bound of a file listing."""
MAX_PURGE_BACKLOGS = 100_000
"""Fileservers in the deletion queue, one backlog each: the server caps no count of fileservers."""


@dataclass(frozen=True)
class HeldFile:
    """A file under legal hold, with its owner, size, state and the expiry the hold suspends."""

    id: str
    owner: str
    size: int
    state: str
    expires_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "size": self.size,
            "state": self.state,
            "expires_at": self.expires_at,
        }

    @classmethod
    def parse(cls, value: object) -> HeldFile:
        body = object_of(value, "a held file")
        return cls(
            id=answer_field(body, "id", str),
            owner=answer_field(body, "owner", str),
            size=answer_field(body, "size", int),
            state=answer_field(body, "state", str),
            expires_at=answer_field(body, "expires_at", (int, float)),
        )


@dataclass(frozen=True)
class Holds:
    """``GET /api/admin/holds``: the users held (every file of theirs) and the single files held."""

    users: tuple[str, ...]
    files: tuple[HeldFile, ...]

    def to_json(self) -> dict[str, Any]:
        return {"users": list(self.users), "files": [f.to_json() for f in self.files]}

    @classmethod
    def parse(cls, value: object) -> Holds:
        body = object_of(value, "the holds answer")
        users = list_of(body.get("users"), "'users'", MAX_HELD)
        if not all(isinstance(u, str) for u in users):
            raise ProtocolError("the server's answer has a malformed 'users'", code="invalid_answer")
        files = list_of(body.get("files"), "'files'", MAX_HELD)
        return cls(tuple(users), tuple(HeldFile.parse(f) for f in files))


@dataclass(frozen=True)
class RemovedUser:
    """``DELETE /api/admin/users/{name}``: who was removed and how many of their files went with them."""

    removed: str
    files_deleted: int

    def to_json(self) -> dict[str, Any]:
        return {"removed": self.removed, "files_deleted": self.files_deleted}

    @classmethod
    def parse(cls, value: object) -> RemovedUser:
        body = object_of(value, "the removal answer")
        return cls(answer_field(body, "removed", str), answer_field(body, "files_deleted", int))


@dataclass(frozen=True)
class AuditEvent:
    """One audit log event: when, what, its outcome, who and from where, about what, and plain facts."""

    at: float
    action: str
    outcome: str
    actor: str | None
    address: str | None
    object: str | None
    detail: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "action": self.action,
            "outcome": self.outcome,
            "actor": self.actor,
            "address": self.address,
            "object": self.object,
            "detail": dict(self.detail),
        }

    @classmethod
    def parse(cls, value: Any) -> AuditEvent:
        body = object_of(value, "an audit event")
        return cls(
            at=answer_field(body, "at", (int, float)),
            action=answer_field(body, "action", str),
            outcome=answer_field(body, "outcome", str),
            actor=answer_field(body, "actor", str, optional=True),
            address=answer_field(body, "address", str, optional=True),
            object=answer_field(body, "object", str, optional=True),
            detail=answer_field(body, "detail", dict),
        )


def parse_audit(value: object) -> list[AuditEvent]:
    """Read ``GET /api/admin/audit``: events oldest first, at most :data:`MAX_AUDIT_EVENTS`."""
    return [AuditEvent.parse(e) for e in list_of(value, "the audit answer", MAX_AUDIT_EVENTS)]


@dataclass(frozen=True)
class PurgeBacklog:
    """One fileserver's deletions waiting for its confirmation: how many, and the oldest since when."""

    fileserver: str
    url: str
    purges: int
    oldest: float

    def to_json(self) -> dict[str, Any]:
        return {"fileserver": self.fileserver, "url": self.url, "purges": self.purges, "oldest": self.oldest}

    @classmethod
    def parse(cls, value: object) -> PurgeBacklog:
        body = object_of(value, "a purge backlog")
        return cls(
            fileserver=answer_field(body, "fileserver", str),
            url=answer_field(body, "url", str),
            purges=answer_field(body, "purges", int),
            oldest=answer_field(body, "oldest", (int, float)),
        )


def parse_purges(value: object) -> list[PurgeBacklog]:
    """Read ``GET /api/admin/purges``: one backlog per fileserver that has one."""
    return [PurgeBacklog.parse(p) for p in list_of(value, "the purge answer", MAX_PURGE_BACKLOGS)]


@dataclass(frozen=True)
class SweepResult:
    """``POST /api/admin/sweep``: files expired, abandoned uploads dropped, fileservers found lost."""

    expired: int
    abandoned: int
    lost: int

    def to_json(self) -> dict[str, Any]:
        return {"expired": self.expired, "abandoned": self.abandoned, "lost": self.lost}

    @classmethod
    def parse(cls, value: object) -> SweepResult:
        body = object_of(value, "the sweep answer")
        return cls(*(answer_field(body, key, int) for key in ("expired", "abandoned", "lost")))
