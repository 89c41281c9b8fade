"""Administration: users, declarative shard config, cluster configs and credentials, the registry."""

from __future__ import annotations

from typing import Any

import falcon

from coffer.protocol import routes
from coffer.protocol.api import admin as messages
from coffer.protocol.ids import check_id
from coffer.serving.bodies import has_body

from ..domain import accounts, audit, registry, sync_status, topology
from ..errors import Gone
from .base import Context, actor, principal, read_json, send_json

FILESERVER_DEFAULTS = {
    "bind": "127.0.0.1:8101",
    "public_url": "http://127.0.0.1:8101",
    "data_dir": "var/fileserver",
    "heartbeat_interval": 10.0,
}


class _Admin:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def admin(self, req: falcon.Request) -> accounts.Principal:
        who = principal(self.ctx, req)
        who.require_admin()
        return who


class Users(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        send_json(resp, [user.to_json() for user in accounts.list_users(self.ctx.db)])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse to take a user whose password and keys someone else's client made: users are invited now.

        SECURITY: accepting them would let whoever created the account keep the user's private key.
        """
        self.admin(req)
        raise Gone(
            "users are no longer created with a password and keys made by an administrator: invite them "
            f"(`coffer admin user invite NAME`, POST {routes.ADMIN_INVITATIONS}) and they choose their own password",
            code="use_invitation",
        )


class Apply(_Admin):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = self.admin(req)
        request = messages.Apply.parse(read_json(req))
        prune, dry_run = request.prune, request.dry_run
        changes = topology.apply(
            self.ctx.db, self.ctx.keys, request.config, prune=prune, dry_run=dry_run, now=self.ctx.clock()
        )
        if changes and not dry_run:
            audit.record_alone(self.ctx.db, "admin.apply", self.ctx.clock(), actor(req, who), changes=len(changes))
        send_json(resp, messages.Applied(tuple(changes), dry_run).to_json())


class Shards(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        now, grace = self.ctx.clock(), self.ctx.settings.repair_grace
        send_json(resp, [shard.to_json() for shard in topology.list_shards(self.ctx.db, now, grace)])


class Sync(_Admin):
    """Per shard and site: the backlog, lag, chunks below the count, failed copies and the copy rate."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        rows = sync_status.status(self.ctx.db, self.ctx.clock(), self.ctx.settings.repair_grace)
        send_json(resp, [row.to_json() for row in rows])


class Verify(_Admin):
    """Each chunk of a shard MISSING, EXTRA or CORRUPT per site, from the fileservers' own reports."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.admin(req)
        s = self.ctx.settings
        result = sync_status.verify(self.ctx.db, name, self.ctx.clock(), s.repair_grace, s.lease_seconds)
        send_json(resp, result.to_json())


class Clusters(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        send_json(resp, [cluster.to_json() for cluster in topology.list_clusters(self.ctx.db)])


def _config_answer(ctx: Context, name: str) -> dict[str, Any]:
    config = topology.cluster_config(ctx.db, ctx.keys, name, ctx.settings.public_url)
    return messages.ClusterConfig(config, topology.render_toml(config, FILESERVER_DEFAULTS)).to_json()


class ClusterConfig(_Admin):
    """Export a cluster's config. SECURITY: it holds the cluster's credential, so every export is audited."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        who = self.admin(req)
        answer = _config_answer(self.ctx, name)
        audit.record_alone(self.ctx.db, "admin.export", self.ctx.clock(), actor(req, who), object=f"cluster:{name}")
        send_json(resp, answer)


class Rotate(_Admin):
    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        who = self.admin(req)
        grace = messages.Rotate.parse(read_json(req) if has_body(req) else {}).grace_seconds
        topology.rotate(self.ctx.db, self.ctx.keys, name, float(grace), self.ctx.clock())
        audit.record_alone(
            self.ctx.db, "admin.rotate", self.ctx.clock(), actor(req, who), object=f"cluster:{name}", grace_s=grace
        )
        send_json(resp, _config_answer(self.ctx, name))


class Fileservers(_Admin):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.admin(req)
        servers = registry.list_fileservers(self.ctx.db, self.ctx.clock(), self.ctx.settings.lease_seconds)
        send_json(resp, [server.to_json() for server in servers])


class ForgetFileserver(_Admin):
    """Unpin a fileserver's identity key (its identity file was lost). SECURITY: audited."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, fileserver_id: str) -> None:
        who = self.admin(req)
        fs_id = check_id(fileserver_id, "fileserver_id")
        registry.forget(self.ctx.db, fs_id, actor(req, who), self.ctx.clock())
        resp.status = falcon.HTTP_204
