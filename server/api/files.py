"""Shards and files, for logged-in users: where to send chunks, file records, tickets, finalize."""

from __future__ import annotations

import logging
import time
from typing import Any

import falcon

from coffer.protocol.api.deletions import DeleteFiles
from coffer.protocol.api.files import CreateFile, FileFilter, ShardSummary
from coffer.protocol.api.files import Finalize as FinalizeBody
from coffer.protocol.api.pages import MAX_PAGE_SIZE, PageRequest
from coffer.protocol.api.tickets import TicketRequest
from coffer.protocol.ids import check_name

from .. import metrics
from ..domain import files, listing
from ..domain.accounts import Principal
from ..domain.registry import live_fileservers
from ..errors import BadRequest
from .base import Context, actor, principal, read_json, send_json

log = logging.getLogger(__name__)

WITH_TICKETS = "tickets"
"""The query flag that asks a file's create (put) or record (get) to answer with its tickets and live fileservers too,
as ``POST /api/files/{id}/tickets`` would: a transfer starts one round trip sooner."""


def issue_tickets(
    ctx: Context, req: falcon.Request, who: Principal, file_id: str, request: TicketRequest
) -> dict[str, Any]:
    """Sign the tickets *request* asks for, for *who*: ``{"tickets", "fileservers"}``, counted in the metrics."""
    with metrics.ticket_refusals():
        answer = files.issue_tickets(
            ctx.db,
            ctx.keys.signing,
            who,
            actor(req, who),
            file_id,
            request,
            ttl=ctx.settings.ticket_ttl,
            lease=ctx.settings.lease_seconds,
            now=ctx.clock(),
            upload_deadline=ctx.settings.upload_deadline,
        )
    return metrics.tickets_issued(request.op, answer)


class Shards:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal(self.ctx, req)
        now, lease = self.ctx.clock(), self.ctx.settings.lease_seconds
        with self.ctx.db.transaction(readonly=True) as tx:
            rows = tx.all("SELECT name, description, copies FROM shards ORDER BY name")
            result = [
                ShardSummary(
                    r["name"],
                    r["description"],
                    len(live_fileservers(tx, r["name"], "read", now, lease)),
                    len(live_fileservers(tx, r["name"], "write", now, lease)),
                    r["copies"],
                )
                for r in rows
            ]
        send_json(resp, [shard.to_json() for shard in result])


class ShardFileservers:
    """The live fileservers of a shard with their last reported load, for client-side balancing."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, shard: str) -> None:
        principal(self.ctx, req)
        op = req.get_param("op") or "read"
        if op not in ("read", "write"):
            raise BadRequest("'op' must be 'read' or 'write'", code="invalid_op")
        with self.ctx.db.transaction(readonly=True) as tx:
            servers = live_fileservers(
                tx, check_name(shard, "shard"), op, self.ctx.clock(), self.ctx.settings.lease_seconds
            )
        send_json(resp, servers)


class Files:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """List a page of the caller's own files, or with ``?shared=true`` of the files others shared with the caller.

        A request with ``limit`` or ``after`` gets ``{"files", "next"}``; one with neither,
        as every client sent before pages, gets the first page at the largest size as a bare list.
        """
        who = principal(self.ctx, req)
        paged = PageRequest.asked(req.params)
        page = PageRequest.parse(req.params) if paged else PageRequest(limit=MAX_PAGE_SIZE)
        only = FileFilter.parse(req.params)
        if req.get_param_as_bool("shared", default=False):
            result = listing.shared_files(self.ctx.db, who, page, only, self.ctx.clock())
        else:
            result = listing.own_files(self.ctx.db, who, page, only)
        send_json(resp, result.to_json("files") if paged else result.records)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Create a pending file (201); a resend with the create id of one already made answers that file (200)."""
        who = principal(self.ctx, req)
        s = self.ctx.settings
        limits = files.Limits(s.max_chunk_size, s.max_retention, s.default_quota_bytes, s.default_quota_files)
        request = CreateFile.parse(read_json(req), max_chunk_size=s.max_chunk_size)
        record, made = files.create(self.ctx.db, who, actor(req, who), request, limits, self.ctx.clock())
        if req.get_param_as_bool(WITH_TICKETS, default=False) and record["state"] == "pending":
            record |= issue_tickets(self.ctx, req, who, record["id"], TicketRequest("put"))
        if s.fault_create_pause:
            # Fault injection (tests): the file is made, its answer not sent; a kill now loses the answer.
            log.warning("fault injection: create answer paused", extra={"kv": {"file": record["id"], "made": made}})
            time.sleep(s.fault_create_pause)
        send_json(resp, record, 201 if made else 200)


class File:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        """Return the record; with ``?tickets=true``, a complete file's get tickets and live readers beside it."""
        who = principal(self.ctx, req)
        record = files.get(self.ctx.db, who, file_id)
        if req.get_param_as_bool(WITH_TICKETS, default=False) and record["state"] == "complete":
            record |= issue_tickets(self.ctx, req, who, file_id, TicketRequest("get"))
        send_json(resp, record)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        who = principal(self.ctx, req)
        files.delete(self.ctx.db, who, actor(req, who), file_id, self.ctx.clock())
        resp.status = falcon.HTTP_204


class FileDeletions:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Delete up to a page of the caller's files; each deleted or refused on its own, as its DELETE would be."""
        who = principal(self.ctx, req)
        request = DeleteFiles.parse(read_json(req))
        send_json(resp, files.delete_many(self.ctx.db, who, actor(req, who), request, self.ctx.clock()).to_json())


class Tickets:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        with metrics.ticket_refusals():
            who = principal(self.ctx, req)
            request = TicketRequest.parse(read_json(req))
        send_json(resp, issue_tickets(self.ctx, req, who, file_id, request))


class Finalize:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        """Complete a pending file: the file is looked up before its body is checked, as the server always did."""
        who = principal(self.ctx, req)
        body = read_json(req)
        layout = files.pending_layout(self.ctx.db, who, file_id)
        request = FinalizeBody.parse(
            body, size=layout.size, chunk_size=layout.chunk_size, chunk_count=layout.chunk_count
        )
        done = files.finalize(self.ctx.db, who, file_id, request, self.ctx.clock())
        if self.ctx.nudger is not None:
            self.ctx.nudger.files_changed([file_id])  # the other sites' fileservers beat now, not in up to 10 s
        send_json(resp, done)
