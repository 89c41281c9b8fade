"""Endpoints fileservers call, authenticated by their cluster's signature, not by a session.

Every refusal is logged as a warning naming the fileserver (as it claims to be) and the
reason: a fileserver whose beats are refused drops out of the live list, and the
operator who must act reads this log, not the fileserver's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import falcon

from coffer.protocol import cluster as cluster_protocol
from coffer.protocol.errors import CofferError

from ..domain import registry, repair
from .base import Context, client_address, read_json, send_json

log = logging.getLogger(__name__)


def answer_logging_refusals(
    req: falcon.Request, resp: falcon.Response, action: cluster_protocol.Action, handle: Callable[[dict[str, Any]], Any]
) -> None:
    """Answer a signed fileserver request with *handle*; log a refusal as a warning, then let it be answered."""
    body: dict[str, Any] | None = None
    try:
        body = read_json(req)
        send_json(resp, handle(body))
    except CofferError as exc:
        log.warning(
            "a fileserver's request was refused",
            extra={
                "kv": {
                    "claimed_fileserver": cluster_protocol.claimed_fileserver(body),
                    "action": action,
                    "status": exc.status,
                    "error": exc.code,
                    "reason": exc.message,
                    "bytes": req.content_length,
                }
            },
        )
        raise


class Register:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        s = self.ctx.settings
        answer_logging_refusals(
            req,
            resp,
            "register",
            lambda body: registry.register(
                self.ctx.db,
                body,
                self.ctx.clock(),
                s.lease_seconds,
                s.heartbeat_interval,
                client_address(self.ctx, req),
            ),
        )


class Heartbeat:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        s = self.ctx.settings
        policy = repair.Policy(s.repair_grace, s.lease_seconds, s.repair_batch, s.ticket_ttl)
        answer_logging_refusals(
            req,
            resp,
            "heartbeat",
            lambda body: registry.heartbeat(
                self.ctx.db,
                body,
                self.ctx.clock(),
                s.lease_seconds,
                policy,
                self.ctx.keys.signing,
                self.ctx.nudger.files_changed if self.ctx.nudger is not None else None,
            ),
        )


class Reconcile:
    """A fileserver asks which of the files in its storage the server no longer knows (orphans)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        grace = self.ctx.settings.orphan_grace
        answer_logging_refusals(
            req, resp, "reconcile", lambda body: registry.reconcile(self.ctx.db, body, self.ctx.clock(), grace)
        )
