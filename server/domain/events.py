"""File and fileserver events: built here as versioned JSON, written to the outbox with the change.

An event row is inserted in the same transaction as the change it tells of, so an
event is never published for a change that was rolled back, nor lost for one that
committed: the publishing job (:mod:`coffer.server.jobs.events`) reads the outbox in
order, publishes each row to NATS JetStream and removes it only once acknowledged.
When the server's events are off (``events_url`` empty) the transaction's ``outbox``
flag is false and nothing is written.

The body is version 1 of the schema in docs/events.md: ``v``, ``id`` (also the
JetStream ``Nats-Msg-Id``), ``type``, ``at`` (Unix seconds) and plain facts: ids,
sizes, user, shard and cluster names. A link's id is left out: with it anyone can
fetch the file's ciphertext and spend the link's downloads.

SECURITY: an event never holds a key, a token, a link fragment, a file name or the
encrypted metadata that holds it. :func:`build` refuses any field not in
:data:`FIELDS`, so a caller cannot slip one in.
"""

from __future__ import annotations

import json
from typing import Any

from coffer.protocol.ids import new_id

from ..store.db import Tx

VERSION = 1
TYPES = (
    "file.created",
    "file.completed",
    "file.deleted",
    "file.expired",
    "file.shared",
    "file.unshared",
    "link.created",
    "link.revoked",
    "user.created",
    "user.deleted",
    "fileserver.up",
    "fileserver.down",
)
FIELDS = {
    "file": str,
    "size": int,
    "chunks": int,
    "user": str,
    "shard": str,
    "recipient": str,
    "expires_at": float,
    "fileserver": str,
    "url": str,
    "cluster": str,
    "shards": list,
    "reason": str,
    "role": str,
    "files": int,
}
"""The facts an event may carry, and their types (see docs/events.md)."""


def build(event_type: str, at: float, event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """Return one event's body; refuse an unknown type, or a field the schema does not allow."""
    if event_type not in TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    for name, value in fields.items():
        kind = FIELDS.get(name)
        if kind is None:
            raise ValueError(f"event field {name!r} is not in the schema: an event carries only plain facts")
        if not isinstance(value, kind) and not (kind is float and isinstance(value, int)):
            raise ValueError(f"event field {name!r} must be {kind.__name__}")
    return {"v": VERSION, "id": event_id or new_id(), "type": event_type, "at": at, **fields}


def encode(event: dict[str, Any]) -> bytes:
    """Return the event as the bytes published: compact JSON, keys sorted."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def subject(prefix: str, event_type: str) -> str:
    """Return the subject an event of *event_type* is published on: ``<prefix>.<type>``."""
    return f"{prefix}.{event_type}"


def record(tx: Tx, event_type: str, now: float, **fields: Any) -> None:
    """Write one event to the outbox in *tx*, if events are on (the event is built, and checked, either way)."""
    event = build(event_type, now, **fields)
    if not tx.outbox:
        return
    tx.execute(
        "INSERT INTO event_outbox (id, type, at, body) VALUES (?, ?, ?, ?)",
        (event["id"], event_type, now, encode(event).decode()),
    )
