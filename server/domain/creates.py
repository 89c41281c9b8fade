"""Make a file's create safe to resend: one file per owner and client-chosen create id.

A create whose answer is lost (a server instance dies inside it, a proxy answers 502,
the connection drops) leaves the client unable to tell whether the file was made. With a
``create_id`` in the body the client simply sends the same create again: the server finds
the file that id already made and answers it, never making a second one. The body is
remembered by its digest, so a resend must ask for the same file; an id reused for a
different body is a client bug and is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from coffer.protocol.api.files import CreateFile

from ..errors import Conflict
from ..store.db import Tx
from .accounts import Principal

log = logging.getLogger(__name__)


def digest(request: CreateFile) -> str:
    """Return the SHA-256 of the create's body without its create id: what a resend must repeat exactly."""
    body = request.to_json()
    body.pop("create_id", None)
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def made_before(tx: Tx, who: Principal, request: CreateFile, columns: str) -> dict[str, Any] | None:
    """Return the file (*columns* and its ``shard_name``) an earlier create with this id made, or None.

    SECURITY: ids are looked up per owner only, so one user's create id never reaches
    another's file. A reused id with another body raises :class:`Conflict`.
    """
    if not request.create_id:
        return None
    row = tx.one(
        f"SELECT {', '.join('f.' + c for c in columns.split(', '))}, f.create_digest, s.name AS shard_name "
        "FROM files f JOIN shards s ON s.id = f.shard_id WHERE f.owner_id = ? AND f.create_id = ?",
        (who.user_id, request.create_id),
    )
    if row is None:
        return None
    if row["create_digest"] != digest(request):
        raise Conflict(
            "this create_id already made another file, with a different size, layout, shard or key: a client "
            "sends one new create id per file and repeats it only to resend the very same create",
            code="create_id_reused",
        )
    log.info("file create resent", extra={"kv": {"file": row["id"], "state": row["state"]}})
    return row
