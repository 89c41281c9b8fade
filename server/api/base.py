"""What every server resource shares: the request context, JSON bodies, sessions, and error answers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import falcon

from coffer.protocol.encoding import DecodeError, parse_json_object
from coffer.protocol.errors import CofferError
from coffer.protocol.wire import BEARER_SCHEME, MAX_HEADER_BYTES, MAX_JSON_BODY
from coffer.serving.bodies import is_chunked

from ..domain import accounts, audit
from ..domain.keys import ServerKeys
from ..errors import BadRequest, BodyTimeout, Unauthorized
from ..jobs.nudger import Nudger
from ..proxies import TrustedProxies
from ..ratelimit.limiter import Limiter, LoginRefused
from ..settings import ServerSettings
from ..store.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Context:
    """Everything a request handler needs; one per worker process."""

    settings: ServerSettings
    db: Database
    keys: ServerKeys
    clock: Callable[[], float] = field(default=time.time)
    nudger: Nudger | None = None
    """Tells fileservers with new copy work to beat now (``nudges`` on); None in tests that do not want it."""
    limiter: Limiter = field(init=False)
    """The rate limits and login guard, on the database or on Redis (``redis_url``)."""
    proxies: TrustedProxies = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = Limiter.build(self.settings, self.db, self.clock)
        self.proxies = TrustedProxies.parse(self.settings.trusted_proxies)


def read_json(req: falcon.Request) -> dict[str, Any]:
    """Return the request's JSON object body, refusing anything else before reading too much.

    A chunked body (no Content-Length) is read up to the same limit, one byte past it to tell it is over.
    """
    length = req.content_length
    chunked = length is None and is_chunked(req)
    if not length and not chunked:
        raise BadRequest("this request needs a JSON object body", code="invalid_json")
    if length is not None and length > MAX_JSON_BODY:
        raise _too_large()
    try:
        data = req.stream.read(MAX_JSON_BODY + 1) if chunked else req.bounded_stream.read(length)
    except TimeoutError as exc:
        raise BodyTimeout(
            "the request body stopped arriving before its end: the connection stalled; send the request again"
        ) from exc
    if len(data) > MAX_JSON_BODY:
        raise _too_large()
    try:
        return parse_json_object(data)
    except DecodeError as exc:
        raise BadRequest(f"the body is not a JSON object: {exc}", code="invalid_json") from exc


def _too_large() -> BadRequest:
    return BadRequest(f"the JSON body is larger than {MAX_JSON_BODY} bytes", code="body_too_large", status=413)


def principal(ctx: Context, req: falcon.Request) -> accounts.Principal:
    """Return who sent the request, from its ``Authorization: Bearer`` session token."""
    header = req.get_header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme != BEARER_SCHEME or not token:
        raise Unauthorized("log in first: this needs 'Authorization: Bearer <session token>'", code="session_missing")
    with ctx.db.transaction(readonly=True) as tx:
        who = accounts.authenticate(tx, token.strip(), ctx.clock())
    if not req.context.get("user_counted"):
        req.context.user_counted = True
        ctx.limiter.check("user", who.user_id)
    return who


def client_address(ctx: Context, req: falcon.Request) -> str:
    """Return the client's address: the peer, or the client behind the ``trusted_proxies`` (cached per request)."""
    address: str | None = req.context.get("client_address")
    if address is None:
        address = req.context.client_address = ctx.proxies.client(req.remote_addr, req.get_header("X-Forwarded-For"))
    return address


def address_of(req: falcon.Request) -> str | None:
    """Return the client address the rate-limit middleware resolved, else the peer address."""
    resolved: str | None = req.context.get("client_address")
    return resolved or req.remote_addr


def actor(req: falcon.Request, who: accounts.Principal | None = None, name: str | None = None) -> audit.Actor:
    """Return who is acting for the audit log: the session's user (or a claimed name) and the peer address."""
    return audit.Actor(who.name if who is not None else name, address_of(req))


def send_json(resp: falcon.Response, value: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(value)


class HeaderLimit:
    """Refuse oversized headers with a JSON 431 (gunicorn's own, higher limit answers in plain text)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        total = sum(len(k) + len(v) + 4 for k, v in req.headers.items())
        if total > MAX_HEADER_BYTES:
            raise CofferError(
                f"the request headers exceed {MAX_HEADER_BYTES} bytes", code="headers_too_large", status=431
            )


class AccessLog:
    """One structured line per request: method, route, status, duration. Never a header value."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.monotonic()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool) -> None:
        started = getattr(req.context, "started", time.monotonic())
        log.info(
            "request",
            extra={
                "kv": {
                    "method": req.method,
                    "route": req.uri_template or req.path,
                    "status": resp.status_code,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                }
            },
        )


def install_error_handlers(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Answer every error, ours or Falcon's or unexpected, as ``{"error": code, "message": text}``."""

    def coffer_error(req: falcon.Request, resp: falcon.Response, ex: CofferError, params: dict[str, Any]) -> None:
        send_json(resp, ex.body(), ex.status)
        if ex.headers:
            resp.set_headers(ex.headers)

    def http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict[str, Any]) -> None:
        code = (ex.title or "error").lower().replace(" ", "_")
        send_json(resp, {"error": code, "message": ex.description or ex.title or "error"}, ex.status_code)
        if ex.headers:
            resp.set_headers(ex.headers)

    def unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
        log.error("unhandled error", exc_info=ex, extra={"kv": {"method": req.method, "path": req.path}})
        send_json(resp, {"error": "internal", "message": "the server failed; the error is logged"}, 500)

    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(falcon.HTTPError, http_error)
    app.add_error_handler(CofferError, coffer_error)


def with_current_password(
    ctx: Context,
    req: falcon.Request,
    who: accounts.Principal,
    action: str,
    now: float,
    check: Callable[[audit.Actor], T],
) -> T:
    """Run *check*, which proves the caller's current password, behind the same guard as a login.

    A wrong password (:class:`Unauthorized` from *check*) is counted and audited as a refused
    *action*, as is an attempt the guard turns away. SECURITY: a stolen session alone must
    not be able to guess the password at the request rate.
    """
    actor = audit.Actor(who.name, client_address(ctx, req))
    try:
        attempt = ctx.limiter.login.begin(who.name, actor.address or "-", now)
    except LoginRefused as exc:
        audit.record_refusal(ctx.db, action, now, actor, object=f"user:{who.name}", outcome=exc.outcome)
        raise
    try:
        result = check(actor)
    except Unauthorized:
        outcome = "locked" if attempt.failed() else "failed"
        audit.record_refusal(ctx.db, action, now, actor, object=f"user:{who.name}", outcome=outcome)
        raise
    attempt.succeeded()
    return result
