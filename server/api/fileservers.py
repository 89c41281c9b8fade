"""Endpoints fileservers call, authenticated by their cluster's signature, not by a session."""

from __future__ import annotations

import falcon

from ..domain import registry
from .base import Context, client_address, read_json, send_json


class Register:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        s = self.ctx.settings
        send_json(
            resp,
            registry.register(
                self.ctx.db,
                read_json(req),
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
        send_json(
            resp, registry.heartbeat(self.ctx.db, read_json(req), self.ctx.clock(), self.ctx.settings.lease_seconds)
        )


class Reconcile:
    """A fileserver asks which of the files in its storage the server no longer knows (orphans)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(
            resp, registry.reconcile(self.ctx.db, read_json(req), self.ctx.clock(), self.ctx.settings.orphan_grace)
        )
