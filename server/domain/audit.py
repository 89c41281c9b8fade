"""The audit log: who did what, from where, to which object, and how it ended.

Rows are only ever inserted (the database refuses an UPDATE or DELETE with a
trigger), and an event is written in the same transaction as the change it
records, so the log never claims a change that was rolled back. Events that record
a refusal (a failed login) are written in a transaction of their own, because the
refused request changes nothing else.

SECURITY: the ``detail`` of an event is plain facts (sizes, counts, names, ids).
:func:`record` refuses detail keys that look like secrets, so a slip in a caller
fails loudly in tests rather than writing a token or a key into the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from coffer.protocol.api.lifecycle import MAX_AUDIT_EVENTS, AuditEvent

from ..store.db import Database, Tx

SECRET_WORDS = ("token", "password", "secret", "key", "fragment", "auth")
MAX_LIMIT = MAX_AUDIT_EVENTS

ACTIONS = (
    "login",
    "logout",
    "session.revoked",
    "password.changed",
    "file.created",
    "file.download_ticket",
    "file.deleted",
    "file.expired",
    "upload.abandoned",
    "file.shared",
    "file.unshared",
    "link.created",
    "link.revoked",
    "link.download",
    "hold.set",
    "hold.released",
    "quota.exceeded",
    "quota.set",
    "user.created",
    "user.deleted",
    "admin.apply",
    "admin.rotate",
    "fileserver.registered",
    "fileserver.lost",
)
OUTCOMES = ("ok", "failed", "denied", "throttled", "locked")


@dataclass(frozen=True)
class Actor:
    """Who acted and from where: a user's name, or ``system`` for the server's own jobs."""

    name: str | None
    address: str | None = None


SYSTEM = Actor("system")


def record(
    tx: Tx,
    action: str,
    now: float,
    actor: Actor,
    *,
    object: str | None = None,
    outcome: str = "ok",
    **detail: Any,
) -> None:
    """Append one event; *detail* holds plain facts, never a secret."""
    if action not in ACTIONS or outcome not in OUTCOMES:
        raise ValueError(f"unknown audit action or outcome: {action}/{outcome}")
    for name in detail:
        if any(word in name for word in SECRET_WORDS):
            raise ValueError(f"audit detail {name!r} looks like a secret: the audit log never holds one")
    tx.execute(
        "INSERT INTO audit_log (at, action, outcome, actor, address, object, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now, action, outcome, actor.name, actor.address, object, json.dumps(detail, sort_keys=True)),
    )


def record_alone(db: Database, action: str, now: float, actor: Actor, **kwargs: Any) -> None:
    """Append one event in a transaction of its own (for a refusal that changes nothing else)."""
    with db.transaction() as tx:
        record(tx, action, now, actor, **kwargs)


def query(db: Database, *, since: float | None = None, user: str | None = None, limit: int = 1000) -> list[AuditEvent]:
    """Return events in the order they were written: since a time, by or about a user, the newest *limit*."""
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if user is not None:
        where.append("(actor = ? OR object = ?)")
        params += [user, f"user:{user}"]
    limit = max(1, min(limit, MAX_LIMIT))
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            f"SELECT at, action, outcome, actor, address, object, detail FROM audit_log WHERE {' AND '.join(where)} "
            f"ORDER BY id DESC LIMIT {limit}",
            tuple(params),
        )
    return [AuditEvent(**{**r, "detail": json.loads(r["detail"])}) for r in reversed(rows)]
