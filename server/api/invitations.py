"""Invitations: an administrator invites, the invited user's client joins (``coffer.server.domain.invitations``)."""

from __future__ import annotations

import falcon

from coffer.protocol.api.invitations import Invite
from coffer.protocol.api.invitations import Join as JoinRequest
from coffer.serving.limits import client_key

from ..domain import audit, invitations
from ..errors import Unauthorized
from ..ratelimit.limiter import LoginRefused
from .base import Context, actor, client_address, principal, read_json, send_json

JOIN_GUARD_PREFIX = "~join:"
"""The login guard's name for join attempts from one address: no user name starts with ``~``."""


class AdminInvitations:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal(self.ctx, req).require_admin()
        send_json(resp, [i.to_json() for i in invitations.list_open(self.ctx.db, self.ctx.clock())])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        who.require_admin()
        request = Invite.parse(read_json(req))
        answer = invitations.invite(self.ctx.db, request, self.ctx.clock(), actor(req, who))
        send_json(resp, answer.to_json(), 201)


class AdminInvitation:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        who = principal(self.ctx, req)
        who.require_admin()
        invitations.revoke(self.ctx.db, name, self.ctx.clock(), actor(req, who))
        resp.status = falcon.HTTP_204


class Join:
    """Spend an invitation code, behind the login guard.

    SECURITY: a code is a secret, so wrong codes are counted and slowed down like wrong
    passwords; with no name to count against, both of the guard's counters are the address's.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = JoinRequest.parse(read_json(req))
        db, now = self.ctx.db, self.ctx.clock()
        address = client_address(self.ctx, req) or "-"
        who = audit.Actor(None, address)
        try:
            attempt = self.ctx.limiter.login.begin(JOIN_GUARD_PREFIX + client_key(address), address, now)
        except LoginRefused as exc:
            audit.record_refusal(db, "user.joined", now, who, outcome=exc.outcome, scope=exc.scope)
            raise
        try:
            user = invitations.join(db, request, now, address)
        except Unauthorized:
            outcome = "locked" if attempt.failed() else "failed"
            audit.record_refusal(db, "user.joined", now, who, outcome=outcome, failures=attempt.failures)
            raise
        attempt.succeeded()
        send_json(resp, user.to_json(), 201)
