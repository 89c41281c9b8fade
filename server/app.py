"""Build the server's WSGI app: routes, middleware and error answers, around one Context."""

from __future__ import annotations

import falcon

from . import api_admin, api_auth, api_files, api_fileservers, api_lifecycle, api_sharing
from .http import AccessLog, Context, HeaderLimit, install_error_handlers
from .ratelimit.middleware import RateLimit


def create_app(ctx: Context) -> falcon.App[falcon.Request, falcon.Response]:
    app: falcon.App[falcon.Request, falcon.Response] = falcon.App(
        middleware=[HeaderLimit(), AccessLog(), RateLimit(ctx)]
    )
    app.req_options.strip_url_path_trailing_slash = True
    install_error_handlers(app)
    routes: list[tuple[str, object]] = [
        ("/api/health", api_auth.Health()),
        ("/api/info", api_auth.Info(ctx)),
        ("/api/auth/prelogin", api_auth.Prelogin(ctx)),
        ("/api/auth/login", api_auth.Login(ctx)),
        ("/api/auth/logout", api_auth.Logout(ctx)),
        ("/api/auth/sessions", api_auth.Sessions(ctx)),
        ("/api/auth/sessions/{session_id}", api_auth.Session(ctx)),
        ("/api/auth/password", api_auth.Password(ctx)),
        ("/api/me", api_auth.Me(ctx)),
        ("/api/me/keys", api_auth.MyKeys(ctx)),
        ("/api/me/quota", api_lifecycle.MyQuota(ctx)),
        ("/api/fileservers/register", api_fileservers.Register(ctx)),
        ("/api/fileservers/heartbeat", api_fileservers.Heartbeat(ctx)),
        ("/api/fileservers/reconcile", api_fileservers.Reconcile(ctx)),
        ("/api/shards", api_files.Shards(ctx)),
        ("/api/shards/{shard}/fileservers", api_files.ShardFileservers(ctx)),
        ("/api/files", api_files.Files(ctx)),
        ("/api/files/{file_id}", api_files.File(ctx)),
        ("/api/files/{file_id}/tickets", api_files.Tickets(ctx)),
        ("/api/files/{file_id}/finalize", api_files.Finalize(ctx)),
        ("/api/files/{file_id}/shares", api_sharing.FileShares(ctx)),
        ("/api/files/{file_id}/shares/{name}", api_sharing.FileShare(ctx)),
        ("/api/files/{file_id}/links", api_sharing.FileLinks(ctx)),
        ("/api/users/{name}/public-key", api_sharing.UserPublicKey(ctx)),
        ("/api/links", api_sharing.Links(ctx)),
        ("/api/links/{link_id}", api_sharing.Link(ctx)),
        ("/api/links/{link_id}/downloads", api_sharing.LinkDownloads(ctx)),
        ("/api/links/{link_id}/tickets", api_sharing.LinkTickets(ctx)),
        ("/api/admin/users", api_admin.Users(ctx)),
        ("/api/admin/users/{name}", api_lifecycle.User(ctx)),
        ("/api/admin/users/{name}/quota", api_lifecycle.UserQuota(ctx)),
        ("/api/admin/holds", api_lifecycle.Holds(ctx)),
        ("/api/admin/holds/files/{file_id}", api_lifecycle.FileHold(ctx)),
        ("/api/admin/holds/users/{name}", api_lifecycle.UserHold(ctx)),
        ("/api/admin/audit", api_lifecycle.Audit(ctx)),
        ("/api/admin/purges", api_lifecycle.Purges(ctx)),
        ("/api/admin/shares", api_sharing.AdminShares(ctx)),
        ("/api/admin/shares/{file_id}/{name}", api_sharing.AdminShare(ctx)),
        ("/api/admin/links", api_sharing.AdminLinks(ctx)),
        ("/api/admin/links/{link_id}", api_sharing.AdminLink(ctx)),
        ("/api/admin/lifecycle/sweep", api_lifecycle.Sweep(ctx)),
        ("/api/admin/apply", api_admin.Apply(ctx)),
        ("/api/admin/shards", api_admin.Shards(ctx)),
        ("/api/admin/clusters", api_admin.Clusters(ctx)),
        ("/api/admin/clusters/{name}/config", api_admin.ClusterConfig(ctx)),
        ("/api/admin/clusters/{name}/rotate", api_admin.Rotate(ctx)),
        ("/api/admin/fileservers", api_admin.Fileservers(ctx)),
    ]
    for path, resource in routes:
        app.add_route(path, resource)
    return app
