"""Serve the web page: the app at ``/``, the link page at ``/s/{link_id}``, and its hashed assets.

The page is built by the Makefile (``make web``: esbuild into ``web/dist``) and only served
here, from the directory the ``web_dir`` setting names. Every answer carries a strict
Content-Security-Policy: scripts only from this server (no inline script), ``'wasm-unsafe-eval'``
because libsodium's JavaScript build compiles its WebAssembly module at load (without it
``WebAssembly.instantiate`` is refused and no password-locked link opens), and ``connect-src``
limited to this server and the fileservers' origins, which the browser fetches chunks from.
Those origins are every registered fileserver's (re-read at most every
:data:`ORIGINS_TTL` seconds) plus ``web_connect_origins``.

The page's Service Worker (``/sw.js``, which streams downloads to disk where the File System Access
API is missing) must sit at the root to control ``/`` and ``/s/…``, so it is the one file served
outside ``assets/``: under a fixed name, never cached without asking again.

SECURITY: a link's key is in the URL fragment, which browsers never send; the pages also say
``Referrer-Policy: no-referrer`` so no request the page makes names the page's address.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import falcon

from coffer.serving.origins import origin_of

from ..domain.registry import fileserver_urls
from .base import Context

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "web" / "dist"
"""Where ``make web`` writes the page in a checkout: the default of the ``web_dir`` setting."""
ORIGINS_TTL = 10.0
ASSET_NAME = re.compile(r"\A[A-Za-z0-9_-]{1,128}\.(?:js|css|wasm)\Z")
TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "wasm": "application/wasm"}
IMMUTABLE = "public, max-age=31536000, immutable"
COMMON_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Coffer: the web page is not built</title></head>
<body><h1>The web page is not built</h1>
<p>This Coffer server runs, but the web page it serves was not built, or its <code>web_dir</code>
setting names another directory. An administrator builds it with <code>make web</code> (Node.js and
npm needed) and restarts the server. The <code>coffer</code> command works meanwhile.</p></body></html>
"""


def web_dir(configured: str) -> Path:
    """Return the directory the page is served from: the setting, or the build output of this checkout."""
    return Path(configured).expanduser() if configured else DEFAULT_DIR


class ConnectOrigins:
    """The origins the page may connect to: the fileservers' (from the registry, briefly cached) and the setting's."""

    def __init__(self, ctx: Context, extra: tuple[str, ...], clock: Callable[[], float] = time.monotonic):
        self._ctx = ctx
        self._extra = extra
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, str] | None = None

    def sources(self) -> str:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._cached[0] >= ORIGINS_TTL:
                self._cached = (now, " ".join(self._read()))
            return self._cached[1]

    def _read(self) -> list[str]:
        found = list(self._extra)
        for url in fileserver_urls(self._ctx.db):
            try:
                origin = origin_of(url)
            except ValueError:
                continue  # a fileserver registered with an address no browser can reach
            if origin not in found:
                found.append(origin)
        return found


def content_security_policy(connect: str) -> str:
    """Return the page's policy; *connect* is the space-separated fileserver origins."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "worker-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {connect}".rstrip(),
            "form-action 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class _Served:
    def __init__(self, root: Path, origins: ConnectOrigins):
        self.root = root
        self.origins = origins
        self._warned = False

    def headers(self, resp: falcon.Response) -> None:
        resp.set_headers(COMMON_HEADERS)
        resp.set_header("Content-Security-Policy", content_security_policy(self.origins.sources()))

    def missing(self, resp: falcon.Response, path: Path) -> None:
        """Answer 503 with a page that says what to do, and log it once per worker."""
        if not self._warned:
            log.warning("web_page_missing", extra={"kv": {"web_dir": str(self.root), "file": path.name}})
            self._warned = True
        resp.status = 503
        resp.content_type = falcon.MEDIA_HTML
        resp.cache_control = ["no-store"]
        resp.text = NOT_BUILT


class Page(_Served):
    """One HTML page of the build (``index.html`` or ``link.html``): never cached without asking again."""

    def __init__(self, root: Path, origins: ConnectOrigins, name: str):
        super().__init__(root, origins)
        self.name = name

    def on_get(self, req: falcon.Request, resp: falcon.Response, link_id: str | None = None) -> None:
        self.headers(resp)
        path = self.root / self.name
        try:
            body = path.read_bytes()
        except OSError:
            self.missing(resp, path)
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.cache_control = ["no-cache"]
        resp.data = body


class ServiceWorker(_Served):
    """The page's Service Worker, ``sw.js``: at the root, so it may serve ``/dl/``, the only scope the page gives it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.headers(resp)
        try:
            resp.data = (self.root / "sw.js").read_bytes()
        except OSError as exc:
            raise falcon.HTTPNotFound(title="not_found", description="there is no such file") from exc
        resp.content_type = TYPES["js"]
        resp.cache_control = ["no-cache"]


class Asset(_Served):
    """A bundle under ``assets/``: its name holds its content's hash, so it is cached for good."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.headers(resp)
        if not ASSET_NAME.match(name):
            raise falcon.HTTPNotFound(title="not_found", description="there is no such file")
        path = self.root / "assets" / name
        try:
            resp.data = path.read_bytes()
        except OSError as exc:
            raise falcon.HTTPNotFound(title="not_found", description="there is no such file") from exc
        resp.content_type = TYPES[name.rsplit(".", 1)[1]]
        resp.cache_control = [IMMUTABLE]


def add_routes(app: falcon.App[falcon.Request, falcon.Response], ctx: Context) -> None:
    """Serve the page's routes from the ``web_dir`` setting's directory."""
    root = web_dir(ctx.settings.web_dir)
    origins = ConnectOrigins(ctx, ctx.settings.connect_origins())
    app.add_route("/", Page(root, origins, "index.html"))
    app.add_route("/s/{link_id}", Page(root, origins, "link.html"))
    app.add_route("/assets/{name}", Asset(root, origins))
    app.add_route("/sw.js", ServiceWorker(root, origins))
