"""Public endpoints and sessions: health, server info, prelogin, login, logout."""

from __future__ import annotations

import falcon

from coffer.protocol import __version__
from coffer.protocol.api.auth import ChangePassword, ServerInfo, WrappedKeys
from coffer.protocol.api.auth import Login as LoginRequest
from coffer.protocol.api.auth import Prelogin as PreloginRequest
from coffer.protocol.ids import check_id
from coffer.protocol.wire import MAX_CHUNK_SIZE

from .. import metrics
from ..domain import accounts, audit
from ..errors import NotReady, Unauthorized, Unavailable
from ..ratelimit.limiter import LoginRefused
from .base import Context, client_address, principal, read_json, send_json, with_current_password


class Health:
    """Tell load balancers and monitors the server is up; HEAD, which many probes send, answers alike without a body."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, {"status": "ok", "version": __version__})

    on_head = on_get


class Ready:
    """Tell a load balancer whether this instance can serve: 200 once its database answers, else 503 saying why.

    Liveness is :class:`Health` (the process answers); readiness adds what serving
    needs. HEAD answers alike without a body.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.ctx.db.ping()
        except Unavailable as exc:
            raise NotReady("not ready: the database does not answer; the server's log says why") from exc
        send_json(resp, {"status": "ready", "checks": {"database": "ok"}})

    on_head = on_get


class Info:
    """What a client or fileserver needs to know before it talks to us."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        s = self.ctx.settings
        info = ServerInfo(
            version=__version__,
            public_key=self.ctx.keys.signing.public_text,
            kid=self.ctx.keys.signing.kid,
            lease_seconds=s.lease_seconds,
            heartbeat_interval=s.heartbeat_interval,
            max_chunk_size=min(s.max_chunk_size, MAX_CHUNK_SIZE),
            default_chunk_size=s.default_chunk_size,
            max_retention=s.max_retention,
        )
        send_json(resp, info.to_json())


class Prelogin:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request = PreloginRequest.parse(read_json(req))
        send_json(resp, accounts.prelogin(self.ctx.db, self.ctx.keys, request).to_json())


class Login:
    """Open a session, behind the brute-force guard; every attempt is audited, refusals counted per address."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        login = LoginRequest.parse(read_json(req))
        name, auth_key = login.username, login.auth_key
        db, now = self.ctx.db, self.ctx.clock()
        who = audit.Actor(name, client_address(self.ctx, req))
        try:
            attempt = self.ctx.limiter.login.begin(name, who.address or "-", now)
        except LoginRefused as exc:
            metrics.LOGIN_FAILURES.labels(exc.outcome).inc()
            audit.record_refusal(
                db, "login", now, who, object=f"user:{name}", outcome=exc.outcome, scope=exc.scope, wait=exc.retry_after
            )
            raise
        try:
            result = accounts.login(db, name, auth_key, self.ctx.settings.session_ttl, now, actor=who)
        except Unauthorized:
            locked = attempt.failed()
            outcome = "locked" if locked else "failed"
            metrics.LOGIN_FAILURES.labels(outcome).inc()
            audit.record_refusal(
                db, "login", now, who, object=f"user:{name}", outcome=outcome, failures=attempt.failures
            )
            raise
        attempt.succeeded()
        send_json(resp, result.to_json())


class Logout:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        accounts.revoke_session(
            self.ctx.db,
            who,
            who.session_id,
            self.ctx.clock(),
            audit.Actor(who.name, client_address(self.ctx, req)),
            "logout",
        )
        resp.status = falcon.HTTP_204


class Sessions:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        sessions = accounts.list_sessions(self.ctx.db, principal(self.ctx, req), self.ctx.clock())
        send_json(resp, [session.to_json() for session in sessions])


class Session:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_delete(self, req: falcon.Request, resp: falcon.Response, session_id: str) -> None:
        who = principal(self.ctx, req)
        actor = audit.Actor(who.name, client_address(self.ctx, req))
        accounts.revoke_session(self.ctx.db, who, check_id(session_id, "session_id"), self.ctx.clock(), actor)
        resp.status = falcon.HTTP_204


class Me:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, accounts.me(self.ctx.db, principal(self.ctx, req)).to_json())


class MyKeys:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        accounts.set_keys(self.ctx.db, who, WrappedKeys.parse(read_json(req)))
        resp.status = falcon.HTTP_204


class Password:
    """Change the password: a new salt and auth key, and the private key re-wrapped by the client.

    SECURITY: the current password is checked behind the same guard as a login, so a
    stolen session cannot be used to guess it at the request rate.
    """

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        change = ChangePassword.parse(read_json(req))
        now = self.ctx.clock()
        with_current_password(
            self.ctx,
            req,
            who,
            "password.changed",
            now,
            lambda actor: accounts.change_password(self.ctx.db, who, change, now, actor),
        )
        resp.status = falcon.HTTP_204
