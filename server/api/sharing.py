"""Shares and share links over HTTP: for owners and recipients, for anyone holding a link, for administrators.

The anonymous link routes (``GET /api/links/{id}``, its ``downloads`` and
``tickets``) need no session; like every route they are counted against the
client's address by the rate-limit middleware before they run.
"""

from __future__ import annotations

from typing import Any

import falcon

from coffer.protocol.api.pages import MAX_PAGE_SIZE, PageRequest
from coffer.protocol.api.sharing import CreateLink, LinkTicketsRequest, Share
from coffer.serving.bodies import has_body

from .. import metrics
from ..domain import links, sharing
from ..domain.audit import Actor
from .base import Context, actor, principal, read_json, send_json


def _optional_json(req: falcon.Request) -> dict[str, Any]:
    """Read a JSON object body that may also be left out (an empty body means ``{}``)."""
    return read_json(req) if has_body(req) else {}


class _Resource:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def transfer(self) -> links.Transfer:
        s = self.ctx.settings
        return links.Transfer(
            self.ctx.keys.signing, s.ticket_ttl, s.lease_seconds, s.link_download_window, s.link_ticket_passes
        )


class UserPublicKey(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        who = principal(self.ctx, req)
        self.ctx.limiter.check("lookups", who.user_id)
        send_json(resp, sharing.public_key_of(self.ctx.db, name))


class FileShares(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        shares = sharing.list_shares(self.ctx.db, principal(self.ctx, req), file_id)
        send_json(resp, [share.to_json() for share in shares])


class FileShare(_Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, file_id: str, name: str) -> None:
        who = principal(self.ctx, req)
        self.ctx.limiter.check("lookups", who.user_id)
        result, created = sharing.share(
            self.ctx.db, who, actor(req, who), file_id, name, Share.parse(read_json(req)), self.ctx.clock()
        )
        send_json(resp, result, 201 if created else 200)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, file_id: str, name: str) -> None:
        who = principal(self.ctx, req)
        sharing.unshare(self.ctx.db, who, actor(req, who), file_id, name, self.ctx.clock())
        resp.status = falcon.HTTP_204


class FileLinks(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        who = principal(self.ctx, req)
        s = self.ctx.settings
        link = links.create(
            self.ctx.db,
            who,
            actor(req, who),
            file_id,
            CreateLink.parse(_optional_json(req), max_retention=s.max_retention),
            default_expiry=s.link_default_expiry,
            max_retention=s.max_retention,
            now=self.ctx.clock(),
        )
        send_json(resp, link, 201)


class Links(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        paged = PageRequest.asked(req.params)
        page = PageRequest.parse(req.params) if paged else PageRequest(limit=MAX_PAGE_SIZE)
        result = links.list_links(self.ctx.db, who, req.get_param("file"), page, self.ctx.clock())
        send_json(resp, result.to_json("links") if paged else result.records)


class Link(_Resource):
    """A link: anyone holding its URL may look at it (no session); its owner may revoke it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        send_json(resp, links.inspect(self.ctx.db, link_id, self.ctx.clock()).to_json())

    def on_delete(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        who = principal(self.ctx, req)
        links.revoke(self.ctx.db, who, actor(req, who), link_id, self.ctx.clock())
        resp.status = falcon.HTTP_204


class LinkDownloads(_Resource):
    """Start (and count) an anonymous download through a link."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        _optional_json(req)
        anonymous = actor(req)
        with metrics.ticket_refusals():
            answer = links.start_download(self.ctx.db, self.transfer(), anonymous, link_id, self.ctx.clock())
        send_json(resp, metrics.tickets_issued("get", answer), 201)


class LinkTickets(_Resource):
    """Fresh tickets for an anonymous download already started; counts nothing."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        with metrics.ticket_refusals():
            request = LinkTicketsRequest.parse(read_json(req))
            answer = links.download_tickets(self.ctx.db, self.transfer(), link_id, request, self.ctx.clock())
        send_json(resp, metrics.tickets_issued("get", answer))


class _Admin(_Resource):
    def admin(self, req: falcon.Request) -> Actor:
        who = principal(self.ctx, req)
        who.require_admin()
        return actor(req, who)


class AdminShares(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        shares = sharing.admin_list(
            self.ctx.db, req.get_param("owner"), req.get_param("recipient"), req.get_param("file")
        )
        send_json(resp, [share.to_json() for share in shares])


class AdminShare(_Admin):
    def on_delete(self, req: falcon.Request, resp: falcon.Response, file_id: str, name: str) -> None:
        sharing.admin_unshare(self.ctx.db, self.admin(req), file_id, name, self.ctx.clock())
        resp.status = falcon.HTTP_204


class AdminLinks(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        found = links.admin_list(
            self.ctx.db, req.get_param("owner"), req.get_param("file"), req.get_param("state"), self.ctx.clock()
        )
        send_json(resp, [link.to_json() for link in found])


class AdminLink(_Admin):
    def on_delete(self, req: falcon.Request, resp: falcon.Response, link_id: str) -> None:
        links.admin_revoke(self.ctx.db, self.admin(req), link_id, self.ctx.clock())
        resp.status = falcon.HTTP_204
