"""CORS for the web page: its browsers send and fetch chunks here directly, with the same tickets as the CLI.

Only the origins an administrator configured (``web_origins``) get CORS headers; any other
origin gets none, so its pages cannot read an answer. Falcon's own CORS middleware answers
the preflight (``OPTIONS`` with ``Access-Control-Request-Method``) with the methods the
chunk route has and the request headers the page asks for: ``Authorization`` (the ticket),
``Content-Type``, ``Range``. No cookies are involved (``Access-Control-Allow-Credentials`` is
never sent): a ticket is the whole authority.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import falcon

EXPOSED = ("Content-Length", "Content-Range", "Accept-Ranges", "Retry-After")
"""Answer headers the page reads besides the safelisted ones: sizes, ranges, and when to retry a busy fileserver."""


def cors_middleware(origins: Iterable[str]) -> falcon.CORSMiddleware[Any, Any]:
    """Return the middleware that answers CORS for exactly *origins*."""
    return falcon.CORSMiddleware(allow_origins=list(origins), expose_headers=list(EXPOSED))
