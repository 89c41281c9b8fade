"""The audit log: who did what, from where, to which object, and how it ended.

Rows are only ever inserted (the database refuses an UPDATE or DELETE with a
trigger), and an event is written in the same transaction as the change it
records, so the log never claims a change that was rolled back. Events that record
a refusal (a failed login) are written in a transaction of their own, because the
refused request changes nothing else.

Refusals anyone can cause without an account (a wrong password, a throttled login)
are counted, not written one by one (:func:`record_refusal`): the first of each kind
from a client (an IPv4 address or an IPv6 /64) in a :data:`REFUSAL_WINDOW` is a row,
and the rest add to its ``repeats``. One address at the default rate limit would otherwise append about 17
million rows a day; now it appends at most one per kind of refusal per window.

SECURITY: the ``detail`` of an event is plain facts (sizes, counts, names, ids).
:func:`record` refuses detail keys that look like secrets, so a slip in a caller
fails loudly in tests rather than writing a token or a key into the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from coffer.protocol.api.lifecycle import MAX_AUDIT_EVENTS, AuditEvent
from coffer.serving.limits import client_key

from ..store.db import Database, Row, Tx

REFUSAL_WINDOW = 600
"""Seconds in which refusals of one kind from one address share one audit row."""
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
    "user.invited",
    "user.uninvited",
    "user.joined",
    "user.deleted",
    "keys.rotated",
    "admin.apply",
    "admin.rotate",
    "admin.export",
    "admin.fileserver_forget",
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


def record_refusal(db: Database, action: str, now: float, actor: Actor, *, outcome: str, **kwargs: Any) -> None:
    """Append a refusal, or count it against the first of its kind from the same address in this window.

    The counter row is claimed before the event is written: on PostgreSQL a second
    transaction waits on the claim and then counts, so two refusals at once never
    both write a row.
    """
    if outcome == "ok":
        raise ValueError("only refusals are counted: record a success with record()")
    key = (int(now // REFUSAL_WINDOW), action, outcome, client_key(actor.address or ""))
    with db.transaction() as tx:
        claimed = tx.execute(
            "INSERT INTO audit_repeats (window_index, action, outcome, address) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (window_index, action, outcome, address) DO NOTHING",
            key,
        )
        if not claimed:
            tx.execute(
                "UPDATE audit_repeats SET repeats = repeats + 1 "
                "WHERE window_index = ? AND action = ? AND outcome = ? AND address = ?",
                key,
            )
            return
        record(tx, action, now, actor, outcome=outcome, **kwargs)
        tx.execute(
            "UPDATE audit_repeats SET first_at = ?, first_address = ? "
            "WHERE window_index = ? AND action = ? AND outcome = ? AND address = ?",
            (now, actor.address or "", *key),
        )


def query(db: Database, *, since: float | None = None, user: str | None = None, limit: int = 1000) -> list[AuditEvent]:
    """Return events in the order they were written: since a time, by or about a user, the newest *limit*."""
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if since is not None:
        where.append("a.at >= ?")
        params.append(since)
    if user is not None:
        where.append("(a.actor = ? OR a.object = ?)")
        params += [user, f"user:{user}"]
    limit = max(1, min(limit, MAX_LIMIT))
    with db.transaction(readonly=True) as tx:
        rows = tx.all(
            "SELECT a.at, a.action, a.outcome, a.actor, a.address, a.object, a.detail, r.repeats FROM audit_log a "
            "LEFT JOIN audit_repeats r ON r.first_at = a.at AND r.action = a.action AND r.outcome = a.outcome "
            "AND r.first_address = COALESCE(a.address, '') "
            f"WHERE {' AND '.join(where)} "
            f"ORDER BY a.id DESC LIMIT {limit}",
            tuple(params),
        )
    return [_event(r) for r in reversed(rows)]


def _event(row: Row) -> AuditEvent:
    """One row as an event; a counted refusal carries ``repeats``: how many more came in its window."""
    detail = json.loads(row["detail"])
    repeats = row.pop("repeats")
    if repeats:
        detail["repeats"] = repeats
    return AuditEvent(**{**row, "detail": detail})
