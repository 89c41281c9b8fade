"""The fileserver's WSGI app: health, chunk transfers checked against server-signed tickets, the server's nudges.

:func:`create_app` is the factory each gunicorn worker calls after it is forked;
tests call it in-process with :class:`falcon.testing.TestClient`. Every error,
whether raised by this code (a :class:`CofferError`), by Falcon (unknown route,
wrong method, bad header) or unexpected (a bug: 500, logged with its trace), is
answered by :func:`answer_error` as ``{"error": code, "message": text}``.
"""

from __future__ import annotations

import http
import logging
import time
from collections.abc import Callable
from typing import Any

import falcon

from coffer.protocol import __version__, routes
from coffer.protocol.errors import CofferError
from coffer.serving.bodies import IdleBodyTimeout
from coffer.serving.metrics import RequestMetrics
from coffer.serving.requestids import RequestIds

from ..beacon import Beacon
from ..counters import SlotCounters, private_counters
from ..doorbell import Doorbell
from ..errors import NotReady
from ..identity import Identity, load_or_create
from ..revocations import FILE_NAME as REVOKED_FILE
from ..revocations import RevocationList
from ..settings import Settings
from ..shards import Shards
from .auth import TicketGate
from .chunks import ChunkResource
from .cors import cors_middleware
from .middleware import HeaderLimit, TransferLog
from .nudge import NudgeResource

log = logging.getLogger(__name__)

CHUNK_ROUTE = routes.CHUNK
READY_BEATS = 3
"""Heartbeat intervals after the server's last acceptance that a fileserver still counts as registered (its lease)."""


class HealthResource:
    """Tell the agent, load balancers and monitors the fileserver is up; HEAD answers alike without a body."""

    def __init__(self, identity: Identity, shards: Shards):
        self._body = {
            "status": "ok",
            "fileserver_id": identity.fileserver_id,
            "version": __version__,
            "shards": [{"name": s.name, "read": s.read, "write": s.write, "backend": s.backend.kind} for s in shards],
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._body

    on_head = on_get


class ReadyResource:
    """Tell a load balancer whether this fileserver can serve: every writable shard takes a write, and the server
    accepted its registration or a heartbeat within three beats. 503 names what is not ready; HEAD answers alike.
    """

    def __init__(self, shards: Shards, beacon: Beacon | None, max_age: float, clock: Callable[[], float]):
        self._shards = shards
        self._beacon = beacon
        self._max_age = max_age
        self._clock = clock

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        problems = []
        for shard in self._shards:
            if not shard.write:
                continue
            try:
                shard.backend.check_writable()
            except OSError as exc:
                log.warning("readiness: a shard cannot be written", extra={"kv": {"shard": shard.name, "error": exc}})
                problems.append(f"shard {shard.name!r} cannot be written ({type(exc).__name__})")
        if self._beacon is None or not self._beacon.fresh(self._max_age, self._clock):
            problems.append("the server has not accepted this fileserver's registration or heartbeat lately")
        if problems:
            raise NotReady("not ready: " + "; ".join(problems) + ": the fileserver's log says more")
        resp.media = {"status": "ready", "checks": {"storage": "ok", "registered": "ok"}}

    on_head = on_get


def create_app(
    settings: Settings,
    *,
    identity: Identity | None = None,
    counters: SlotCounters | None = None,
    clock: Callable[[], float] = time.time,
    beacon: Beacon | None = None,
    doorbell: Doorbell | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Return the fileserver app for *settings* (identity read from ``data_dir`` unless given)."""
    identity = identity or load_or_create(settings.data_dir)
    shards = Shards.open(settings)
    revoked = RevocationList(settings.data_dir / REVOKED_FILE)
    gate = TicketGate(settings.server.ticket_keys, revoked, clock, identity.fileserver_id)
    origins = settings.fileserver.cors_origins()
    cors = [cors_middleware(origins)] if origins else []
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=[
            RequestIds(),
            RequestMetrics(),
            *cors,
            IdleBodyTimeout(settings.fileserver.body_idle_timeout),
            TransferLog(),
            HeaderLimit(),
        ]
    )
    app.add_route(routes.HEALTH, HealthResource(identity, shards))
    max_age = READY_BEATS * settings.fileserver.heartbeat_interval
    app.add_route(routes.READY, ReadyResource(shards, beacon, max_age, clock))
    app.add_route(
        CHUNK_ROUTE,
        ChunkResource(
            shards=shards,
            gate=gate,
            identity=identity,
            counters=counters or private_counters(settings.fileserver.transfer_cap),
            max_chunk_size=settings.fileserver.max_chunk_size,
            clock=clock,
        ),
    )
    keys = settings.server.ticket_keys
    app.add_route(routes.NUDGE, NudgeResource(keys, settings.cluster.id, doorbell, clock))
    app.add_error_handler(Exception, answer_error)
    app.add_error_handler(falcon.HTTPError, answer_error)
    return app


def answer_error(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    """Answer any exception as ``{"error": code, "message": text}`` with its status and headers."""
    headers: dict[str, str] = {}
    details: dict[str, Any] = {}
    if isinstance(ex, CofferError):
        status, code, message = ex.status, ex.code, ex.message
        headers, details = ex.headers, ex.details
    elif isinstance(ex, falcon.HTTPError):
        status, code, message = ex.status_code, _falcon_code(ex), _falcon_message(req, ex)
        headers = dict(ex.headers or ())
    else:
        log.error("unhandled error", exc_info=ex, extra={"kv": {"method": req.method, "path": req.path}})
        status, code = 500, "internal"
        message = "the fileserver failed unexpectedly and logged why: retry, or ask its administrator to read the log"
    if status >= 500 and isinstance(ex, CofferError):
        log.warning(
            "request failed", extra={"kv": {"method": req.method, "path": req.path, "error": code, "reason": message}}
        )
    req.context.error_code = code
    resp.status = status
    resp.set_headers(headers)
    resp.media = {**details, "error": code, "message": message}


def _falcon_code(ex: falcon.HTTPError) -> str:
    if isinstance(ex, falcon.HTTPRouteNotFound):
        return "no_such_endpoint"
    try:
        phrase = http.HTTPStatus(ex.status_code).phrase
    except ValueError:
        return "http_error"
    return phrase.lower().replace(" ", "_").replace("-", "_")


def _falcon_message(req: falcon.Request, ex: falcon.HTTPError) -> str:
    if isinstance(ex, falcon.HTTPRouteNotFound):
        return f"there is no {req.path} on a fileserver: see the fileserver API in docs/api.md"
    if isinstance(ex, falcon.HTTPMethodNotAllowed):
        allowed = dict(ex.headers or ()).get("Allow", "")
        return f"{req.path} does not take {req.method}; it takes {allowed}"
    detail = ex.description or ex.title or "the request is malformed"
    return str(detail)
