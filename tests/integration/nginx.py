"""nginx in front of a test network, its config made from the one in ``deploy/nginx/`` (one source).

The deploy file is read block by block and changed only where a machine differs
from production: the upstreams list the addresses started here, each TLS
``listen`` becomes a plain one on a free port of 127.0.0.1, certificates and HSTS
go, and the fileserver site is repeated once per fileserver. Every proxy setting
(timeouts, body sizes, streaming chunk routes, forwarded headers, upstream
keep-alive) is the deploy file's own, so the tests run what an operator installs.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from coffer.devnet.procs import Service, http_ok
from tests.services import unavailable

DEPLOY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "coffer.conf"
SERVER_UPSTREAM = "coffer_server"
FS_UPSTREAM = "coffer_fs_a"
TLS_ONLY = ("ssl_", "add_header Strict-Transport-Security", "listen [::]")


@dataclass(frozen=True)
class Site:
    """One fileserver as nginx serves it: nginx listens on *port* and passes to *upstream*."""

    port: int
    upstream: str


def blocks(text: str) -> list[str]:
    """Split an nginx file into its top-level blocks (``upstream x { ... }``, ``server { ... }``), comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    found: list[str] = []
    current: list[str] = []
    depth = 0
    for line in lines:
        if not current and not line.strip():
            continue
        current.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0 and current:
            found.append("\n".join(current))
            current = []
    assert depth == 0 and not current, "unbalanced braces in the deploy config"
    return found


def _upstream(block: str, name: str, addresses: list[str]) -> str:
    """Give upstream *block* the name *name* and *addresses* as its servers, keeping its other directives."""
    kept = [line for line in block.splitlines()[1:-1] if not line.strip().startswith("server ")]
    servers = [f"    server {address};" for address in addresses]
    return "\n".join([f"upstream {name} {{", *servers, *kept, "}"])


def _site(block: str, port: int) -> str:
    """Serve *block* in plain HTTP on 127.0.0.1:*port*: drop TLS and the names, keep every proxy setting."""
    out = []
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith(TLS_ONLY) or stripped.startswith("server_name "):
            continue
        if stripped.startswith("listen "):
            line = f"    listen 127.0.0.1:{port};"
        out.append(line)
    return "\n".join(out)


def render(servers: list[str], server_port: int, fileservers: dict[str, Site]) -> str:
    """Return the ``http`` block for *servers* behind port *server_port* and *fileservers* (address: site)."""
    rendered = []
    for block in blocks(DEPLOY_CONF.read_text()):
        head = block.splitlines()[0]
        if head.startswith(f"upstream {SERVER_UPSTREAM} "):
            rendered.append(_upstream(block, SERVER_UPSTREAM, servers))
        elif head.startswith(f"upstream {FS_UPSTREAM} "):
            rendered += [_upstream(block, site.upstream, [addr]) for addr, site in fileservers.items()]
        elif head.startswith("upstream "):
            raise AssertionError(f"the deploy config has an upstream the tests do not know: {head}")
        elif "return 301" in block:
            continue  # the plain-HTTP redirect: the test sites are plain HTTP themselves
        elif f"proxy_pass http://{FS_UPSTREAM};" in block:
            for site in fileservers.values():
                rendered.append(_site(block, site.port).replace(f"http://{FS_UPSTREAM};", f"http://{site.upstream};"))
        else:
            rendered.append(_site(block, server_port))
    return "\n\n".join(rendered) + "\n"


def main_config(root: Path, http: str) -> str:
    """Wrap *http* in a whole nginx config whose every file lives under *root*."""
    temp = "\n".join(
        f"    {kind}_temp_path {root / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    body = re.sub(r"^", "    ", http, flags=re.M)
    # Started as root, workers would run as nobody, who cannot enter the test's private directories.
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 2;\n"
        f"error_log {root / 'error.log'} warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    access_log {root / 'access.log'};\n"
        f"{temp}\n"
        f"{body}\n"
        "}\n"
    )


def start(root: Path, servers: list[str], server_port: int, fileservers: dict[str, Site]) -> Service:
    """Start nginx (in the foreground, its own process group) with the rendered config; wait until it answers."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if binary is None:
        unavailable("nginx is not installed", "CI needs it: make test-tools installs nginx-light")
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(main_config(root, render(servers, server_port, fileservers)))
    pid = root / "nginx.pid"
    args = [binary, "-e", str(root / "error.log"), "-c", str(conf), "-g", f"daemon off; pid {pid};"]
    service = Service("nginx", args, root / "nginx.log").start()
    service.wait_ready(lambda: http_ok(f"http://127.0.0.1:{server_port}/api/health"))
    return service
