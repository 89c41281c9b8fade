"""Build the server's WSGI app: routes, middleware and error answers, around one Context."""

from __future__ import annotations

import falcon

from coffer.protocol import routes
from coffer.serving.bodies import IdleBodyTimeout
from coffer.serving.metrics import RequestMetrics
from coffer.serving.requestids import RequestIds

from . import admin as api_admin
from . import auth as api_auth
from . import files as api_files
from . import fileservers as api_fileservers
from . import invitations as api_invitations
from . import keys as api_keys
from . import lifecycle as api_lifecycle
from . import sharing as api_sharing
from . import web as api_web
from .base import AccessLog, Context, HeaderLimit, install_error_handlers
from .ratelimit import RateLimit


def create_app(ctx: Context) -> falcon.App[falcon.Request, falcon.Response]:
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=[
            RequestIds(),
            RequestMetrics(),
            IdleBodyTimeout(ctx.settings.body_idle_timeout),
            HeaderLimit(),
            AccessLog(),
            RateLimit(ctx),
        ]
    )
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handlers(app)
    table: list[tuple[str, object]] = [
        (routes.HEALTH, api_auth.Health()),
        (routes.READY, api_auth.Ready(ctx)),
        (routes.INFO, api_auth.Info(ctx)),
        (routes.PRELOGIN, api_auth.Prelogin(ctx)),
        (routes.LOGIN, api_auth.Login(ctx)),
        (routes.LOGOUT, api_auth.Logout(ctx)),
        (routes.JOIN, api_invitations.Join(ctx)),
        (routes.SESSIONS, api_auth.Sessions(ctx)),
        (routes.SESSION, api_auth.Session(ctx)),
        (routes.PASSWORD, api_auth.Password(ctx)),
        (routes.ME, api_auth.Me(ctx)),
        (routes.MY_KEYS, api_auth.MyKeys(ctx)),
        (routes.MY_KEY_ROTATION, api_keys.Rotation(ctx)),
        (routes.MY_FILE_KEYS, api_keys.FileKeys(ctx)),
        (routes.MY_QUOTA, api_lifecycle.MyQuota(ctx)),
        (routes.REGISTER, api_fileservers.Register(ctx)),
        (routes.HEARTBEAT, api_fileservers.Heartbeat(ctx)),
        (routes.RECONCILE, api_fileservers.Reconcile(ctx)),
        (routes.SHARDS, api_files.Shards(ctx)),
        (routes.SHARD_FILESERVERS, api_files.ShardFileservers(ctx)),
        (routes.FILES, api_files.Files(ctx)),
        (routes.FILE_DELETIONS, api_files.FileDeletions(ctx)),
        (routes.FILE, api_files.File(ctx)),
        (routes.FILE_TICKETS, api_files.Tickets(ctx)),
        (routes.FILE_FINALIZE, api_files.Finalize(ctx)),
        (routes.FILE_SHARES, api_sharing.FileShares(ctx)),
        (routes.FILE_SHARE, api_sharing.FileShare(ctx)),
        (routes.FILE_LINKS, api_sharing.FileLinks(ctx)),
        (routes.USER_PUBLIC_KEY, api_sharing.UserPublicKey(ctx)),
        (routes.LINKS, api_sharing.Links(ctx)),
        (routes.LINK, api_sharing.Link(ctx)),
        (routes.LINK_DOWNLOADS, api_sharing.LinkDownloads(ctx)),
        (routes.LINK_TICKETS, api_sharing.LinkTickets(ctx)),
        (routes.ADMIN_USERS, api_admin.Users(ctx)),
        (routes.ADMIN_INVITATIONS, api_invitations.AdminInvitations(ctx)),
        (routes.ADMIN_INVITATION, api_invitations.AdminInvitation(ctx)),
        (routes.ADMIN_USER, api_lifecycle.User(ctx)),
        (routes.ADMIN_USER_QUOTA, api_lifecycle.UserQuota(ctx)),
        (routes.ADMIN_HOLDS, api_lifecycle.Holds(ctx)),
        (routes.ADMIN_FILE_HOLD, api_lifecycle.FileHold(ctx)),
        (routes.ADMIN_USER_HOLD, api_lifecycle.UserHold(ctx)),
        (routes.ADMIN_AUDIT, api_lifecycle.Audit(ctx)),
        (routes.ADMIN_PURGES, api_lifecycle.Purges(ctx)),
        (routes.ADMIN_SHARES, api_sharing.AdminShares(ctx)),
        (routes.ADMIN_SHARE, api_sharing.AdminShare(ctx)),
        (routes.ADMIN_LINKS, api_sharing.AdminLinks(ctx)),
        (routes.ADMIN_LINK, api_sharing.AdminLink(ctx)),
        (routes.ADMIN_SWEEP, api_lifecycle.Sweep(ctx)),
        (routes.ADMIN_APPLY, api_admin.Apply(ctx)),
        (routes.ADMIN_SHARDS, api_admin.Shards(ctx)),
        (routes.ADMIN_CLUSTERS, api_admin.Clusters(ctx)),
        (routes.ADMIN_CLUSTER_CONFIG, api_admin.ClusterConfig(ctx)),
        (routes.ADMIN_CLUSTER_ROTATE, api_admin.Rotate(ctx)),
        (routes.ADMIN_SYNC, api_admin.Sync(ctx)),
        (routes.ADMIN_VERIFY, api_admin.Verify(ctx)),
        (routes.ADMIN_FILESERVERS, api_admin.Fileservers(ctx)),
        (routes.ADMIN_FILESERVER_FORGET, api_admin.ForgetFileserver(ctx)),
    ]
    for path, resource in table:
        app.add_route(path, resource)
    api_web.add_routes(app, ctx)
    return app
