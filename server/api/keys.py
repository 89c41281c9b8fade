"""The caller's key rotation: start it behind the login guard, send file keys sealed again, finish it."""

from __future__ import annotations

import falcon

from coffer.protocol.api.keys import Reseal, Resealed, RotateKeys

from ..domain import key_rotation
from .base import Context, principal, read_json, send_json, with_current_password


class Rotation:
    """Start (POST) or finish (DELETE) a key rotation.

    SECURITY: starting checks the current password behind the same guard as a login, so a
    stolen session cannot guess it, nor swap the keys without it.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        request = RotateKeys.parse(read_json(req))
        now = self.ctx.clock()
        stale = with_current_password(
            self.ctx,
            req,
            who,
            "keys.rotated",
            now,
            lambda actor: key_rotation.start(self.ctx.db, who, request, now, actor),
        )
        send_json(resp, {"stale_shares": stale}, 201)

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        done = key_rotation.finish(self.ctx.db, principal(self.ctx, req))
        send_json(resp, done.to_json())


class FileKeys:
    """Take a page of the caller's file keys sealed to their new public key, during a rotation."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        updated = key_rotation.reseal(self.ctx.db, who, Reseal.parse(read_json(req)))
        send_json(resp, Resealed(updated).to_json())
