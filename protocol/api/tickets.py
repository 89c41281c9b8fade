"""Tickets: asking for them, the signed tickets handed back, and the live fileservers beside them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ProtocolError
from ..ids import check_chunk_hash
from ..tickets import MAX_TICKET_CHUNKS
from .fields import answer_field, list_of, object_of

MAX_REQUESTED_CHUNKS = 16384
"""Chunk hashes one ticket request may name: more than fit in a 1 MiB body, so never the binding limit."""
MAX_ISSUED_TICKETS = 1 << 19
"""Tickets in one answer: a whole file of the largest chunk count, 32 chunks a ticket."""
MAX_LIVE_FILESERVERS = 4096
"""Live fileservers listed for one shard."""


@dataclass(frozen=True)
class TicketRequest:
    """``POST /api/files/{id}/tickets``: one put ticket, or get tickets for all or some chunks."""

    op: Literal["put", "get"]
    chunks: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"op": self.op}
        if self.chunks is not None:
            body["chunks"] = list(self.chunks)
        return body

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> TicketRequest:
        op = body.get("op")
        if op == "put":
            return cls("put", parse_wanted(body.get("chunks")))
        if op == "get":
            return cls("get", parse_wanted(body.get("chunks")))
        raise ProtocolError("'op' must be 'put' or 'get'", code="invalid_op")


def parse_wanted(value: object) -> tuple[str, ...] | None:
    """Read the optional list of chunk hashes a get names (a file's own or a link's tickets)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_REQUESTED_CHUNKS:
        raise ProtocolError("'chunks' must be a non-empty list of this file's chunk hashes", code="invalid_chunks")
    return tuple(check_chunk_hash(h) for h in value)


@dataclass(frozen=True)
class IssuedTicket:
    """One signed ticket and the chunks it names (none for a put).

    SECURITY: ``ticket`` is a bearer capability until ``expires_at``; never log it.
    """

    ticket: str
    chunks: tuple[str, ...]
    expires_at: int

    def to_json(self) -> dict[str, Any]:
        return {"ticket": self.ticket, "chunks": list(self.chunks), "expires_at": self.expires_at}

    @classmethod
    def parse(cls, value: object) -> IssuedTicket:
        body = object_of(value, "each ticket")
        chunks = list_of(body.get("chunks"), "a ticket's 'chunks'", MAX_TICKET_CHUNKS)
        return cls(
            ticket=answer_field(body, "ticket", str),
            chunks=tuple(str(h) for h in chunks),
            expires_at=answer_field(body, "expires_at", int),
        )


@dataclass(frozen=True)
class LiveFileserver:
    """A fileserver that may serve a shard now, with the load it last reported, for client-side balancing."""

    id: str
    url: str
    active_transfers: int = 0
    bytes_per_s: int = 0
    free_bytes: int | None = None
    last_seen: float | None = None
    cluster: str | None = None
    """The cluster it belongs to: a client keeps to its own site's (absent from servers older than sites)."""

    def to_json(self) -> dict[str, Any]:
        body = {
            "id": self.id,
            "url": self.url,
            "active_transfers": self.active_transfers,
            "bytes_per_s": self.bytes_per_s,
            "free_bytes": self.free_bytes,
            "last_seen": self.last_seen,
        }
        return body if self.cluster is None else body | {"cluster": self.cluster}

    @classmethod
    def parse(cls, value: object) -> LiveFileserver:
        body = object_of(value, "each fileserver")
        return cls(
            id=answer_field(body, "id", str),
            url=answer_field(body, "url", str),
            active_transfers=answer_field(body, "active_transfers", int, optional=True) or 0,
            bytes_per_s=answer_field(body, "bytes_per_s", int, optional=True) or 0,
            free_bytes=answer_field(body, "free_bytes", int, optional=True),
            last_seen=answer_field(body, "last_seen", (int, float), optional=True),
            cluster=answer_field(body, "cluster", str, optional=True),
        )


def parse_live_fileservers(value: object) -> list[LiveFileserver]:
    """Read ``GET /api/shards/{shard}/fileservers`` (and the list beside tickets)."""
    return [LiveFileserver.parse(s) for s in list_of(value, "the live fileservers", MAX_LIVE_FILESERVERS)]


@dataclass(frozen=True)
class Tickets:
    """The answer to a ticket request (a file's, or a link's): the tickets and the shard's live fileservers."""

    tickets: tuple[IssuedTicket, ...]
    fileservers: tuple[LiveFileserver, ...]
    extra: Mapping[str, Any]
    """Other fields of the answer (a link download's id and counts), as the server sent them."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "tickets": [t.to_json() for t in self.tickets],
            "fileservers": [s.to_json() for s in self.fileservers],
        }

    @classmethod
    def parse(cls, value: object) -> Tickets:
        body = object_of(value, "a ticket answer")
        issued = list_of(body.get("tickets"), "'tickets'", MAX_ISSUED_TICKETS)
        return cls(
            tickets=tuple(IssuedTicket.parse(t) for t in issued),
            fileservers=tuple(parse_live_fileservers(body.get("fileservers"))),
            extra={k: v for k, v in body.items() if k not in ("tickets", "fileservers")},
        )
