"""``POST /api/files/deletions``: delete a page of the caller's files in one request, each on its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from ..ids import check_id
from .fields import answer_field, list_of, object_of
from .pages import MAX_PAGE_SIZE

MAX_DELETIONS = MAX_PAGE_SIZE
"""Files one request may delete: a whole page of the listing, so listing and deleting walk in step."""


@dataclass(frozen=True)
class DeleteFiles:
    """The ids of the files to delete, 1 to :data:`MAX_DELETIONS` of them, each once."""

    ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"ids": list(self.ids)}

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> DeleteFiles:
        ids = body.get("ids")
        if not isinstance(ids, list) or not 0 < len(ids) <= MAX_DELETIONS:
            raise ProtocolError(f"'ids' must list 1 to {MAX_DELETIONS} file ids", code="invalid_ids")
        checked = tuple(check_id(i, "ids") for i in ids)
        if len(set(checked)) != len(checked):
            raise ProtocolError("'ids' names a file twice: list each file once", code="invalid_ids")
        return cls(checked)


@dataclass(frozen=True)
class Refusal:
    """A file the server did not delete, with the error a ``DELETE /api/files/{id}`` would have answered."""

    id: str
    error: str
    message: str
    status: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "error": self.error, "message": self.message, "status": self.status}

    @classmethod
    def parse(cls, value: object) -> Refusal:
        body = object_of(value, "a refused deletion")
        return cls(
            id=answer_field(body, "id", str),
            error=answer_field(body, "error", str),
            message=answer_field(body, "message", str),
            status=answer_field(body, "status", int),
        )


@dataclass(frozen=True)
class Deletions:
    """The answer: the files deleted, and those refused (not found, not the caller's, under hold), in request order."""

    deleted: tuple[str, ...]
    refused: tuple[Refusal, ...]

    def to_json(self) -> dict[str, Any]:
        return {"deleted": list(self.deleted), "refused": [r.to_json() for r in self.refused]}

    @classmethod
    def parse(cls, value: object) -> Deletions:
        body = object_of(value, "the deletions")
        deleted = list_of(body.get("deleted"), "'deleted'", MAX_DELETIONS)
        refused = list_of(body.get("refused"), "'refused'", MAX_DELETIONS)
        return cls(tuple(str(i) for i in deleted), tuple(Refusal.parse(r) for r in refused))
