"""Count every API request against its address before any handler runs.

``/api/health`` and ``/api/ready`` are exempt, so load balancers and monitors never trip a limit.
``/api/fileservers/*`` (registration, heartbeats, chunk reports) is counted in a
bucket of its own with a much higher limit: those requests are signed by a
cluster, arrive at a steady pace from every fileserver of a site (often behind
one address), and must not compete with that site's users. They are not exempt,
so a flood of unsigned requests to them is still cut off before any signature is
checked. The per-user limit is applied where the session is known
(:func:`coffer.server.api.base.principal`).
"""

from __future__ import annotations

import falcon

from coffer.protocol import routes

from .base import Context, client_address

EXEMPT = frozenset({routes.HEALTH, routes.READY})
FILESERVER_PREFIX = routes.FILESERVERS_PREFIX


class RateLimit:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        path = req.path.rstrip("/") or "/"
        if path in EXEMPT:
            return
        bucket = "fileservers" if path.startswith(FILESERVER_PREFIX) else "address"
        self.ctx.limiter.check(bucket, client_address(self.ctx, req))
