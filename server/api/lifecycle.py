"""Quotas, legal holds, user removal, the audit log and the deletion queue, over HTTP."""

from __future__ import annotations

from datetime import datetime

import falcon

from coffer.protocol.api.lifecycle import RemovedUser, SweepResult
from coffer.protocol.api.quotas import SetQuota
from coffer.serving.bodies import has_body

from ..domain import audit, deletion, holds, quotas, user_admin
from ..errors import BadRequest
from ..jobs import retention
from .base import Context, actor, principal, read_json, send_json


class _Admin:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def admin(self, req: falcon.Request) -> audit.Actor:
        who = principal(self.ctx, req)
        who.require_admin()
        return actor(req, who)


class MyQuota:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = principal(self.ctx, req)
        s = self.ctx.settings
        with self.ctx.db.transaction(readonly=True) as tx:
            quota = quotas.of_user(
                tx, who.user_id, default_bytes=s.default_quota_bytes, default_files=s.default_quota_files
            )
        send_json(resp, quota.to_json())


class UserQuota(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.admin(req)
        send_json(resp, user_admin.quota(self.ctx.db, self.ctx.settings, name))

    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        who = self.admin(req)
        send_json(
            resp,
            user_admin.set_quota(
                self.ctx.db, self.ctx.settings, who, name, SetQuota.parse(read_json(req)), self.ctx.clock()
            ),
        )


class User(_Admin):
    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        who = principal(self.ctx, req)
        who.require_admin()
        dropped = user_admin.remove(self.ctx.db, who, actor(req, who), name, self.ctx.clock())
        send_json(resp, RemovedUser(name, dropped).to_json())


class Holds(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        send_json(resp, holds.list_holds(self.ctx.db).to_json())


def _reason(req: falcon.Request) -> object:
    return read_json(req).get("reason") if has_body(req) else None


class FileHold(_Admin):
    def on_put(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        holds.set_file(self.ctx.db, self.admin(req), file_id, True, _reason(req), self.ctx.clock())
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, file_id: str) -> None:
        holds.set_file(self.ctx.db, self.admin(req), file_id, False, _reason(req), self.ctx.clock())
        resp.status = falcon.HTTP_204


class UserHold(_Admin):
    def on_put(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        holds.set_user(self.ctx.db, self.admin(req), name, True, _reason(req), self.ctx.clock())
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        holds.set_user(self.ctx.db, self.admin(req), name, False, _reason(req), self.ctx.clock())
        resp.status = falcon.HTTP_204


LATEST_SINCE = 253402300799.0
"""The last second of the year 9999, the last time an ISO 8601 date can name."""
_SINCE_HINT = f"'since' must be Unix seconds from 0 to {LATEST_SINCE:.0f} or an ISO 8601 time (2026-11-23)"


def parse_since(value: str | None) -> float | None:
    """Accept Unix seconds or an ISO 8601 time (``2026-11-23``, ``2026-11-23T10:00:00+00:00``).

    Seconds must be a real time: ``nan``, ``inf`` and numbers past the year 9999 are refused.
    """
    if value is None:
        return None
    try:
        since = float(value)
    except ValueError:
        since = None
    if since is None:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError as exc:
            raise BadRequest(_SINCE_HINT, code="invalid_since") from exc
    if not 0 <= since <= LATEST_SINCE:  # also false for nan
        raise BadRequest(_SINCE_HINT, code="invalid_since")
    return since


class Audit(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        limit = req.get_param_as_int("limit", min_value=1, max_value=audit.MAX_LIMIT) or 1000
        events = audit.query(
            self.ctx.db, since=parse_since(req.get_param("since")), user=req.get_param("user"), limit=limit
        )
        send_json(resp, [event.to_json() for event in events])


class Purges(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        with self.ctx.db.transaction(readonly=True) as tx:
            backlogs = deletion.pending(tx)
        send_json(resp, [backlog.to_json() for backlog in backlogs])


class Sweep(_Admin):
    """Run the lifecycle sweep now rather than at its next scheduled time."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        s = self.ctx.settings
        result = retention.sweep(
            self.ctx.db,
            self.ctx.clock(),
            upload_grace=s.upload_grace,
            lease=s.lease_seconds,
            upload_deadline=s.upload_deadline,
        )
        send_json(resp, SweepResult(result.expired, result.abandoned, result.lost).to_json())
