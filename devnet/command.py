"""``coffer devnet`` (what ``make run`` runs): a whole network on this machine, in the foreground.

It starts the server on SQLite, creates the administrator ``admin``, applies
``shard-config/local.toml``, exports the cluster config and starts two
fileservers on local disk; then it waits until Ctrl-C and stops all it started.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from coffer.client.errors import ClientError

from .procs import port_free

if TYPE_CHECKING:
    from .network import Network

SERVER_PORT = 8000
FILESERVER_PORTS = (8101, 8102)


def register(commands: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("devnet", help=help_text)
    parser.add_argument("--var", type=Path, default=Path("var"), help="where state lives (default ./var)")
    parser.add_argument(
        "--shard-config", type=Path, default=Path("shard-config/local.toml"), help="shard definitions to apply"
    )
    parser.set_defaults(func=run)


def admin_password(var: Path) -> str:
    """Return the admin's password: COFFER_ADMIN_PASSWORD, or one generated once and kept in var/."""
    saved = var / "admin-password"
    password = os.environ.get("COFFER_ADMIN_PASSWORD") or (saved.read_text().strip() if saved.exists() else "")
    if not password:
        password = secrets.token_urlsafe(12)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    return password


def _interrupt(signum: int, frame: object) -> None:
    # The first Ctrl-C or SIGTERM stops the network; one more (a supervisor's, or `timeout`'s, which
    # signal every process they match) must not cut that stopping short and leave fileservers running.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from .network import Network  # the launcher loads when it runs, not with every `coffer` command

    # Ctrl-C and SIGTERM both stop the network cleanly, even when started with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    var: Path = args.var.absolute()
    var.mkdir(parents=True, exist_ok=True)
    busy = [p for p in (SERVER_PORT, *FILESERVER_PORTS) if not port_free(p)]
    if busy:
        print(f"coffer devnet: port(s) {busy} on 127.0.0.1 are in use: is another network running?", file=sys.stderr)
        return 1
    try:
        topology = tomllib.loads(args.shard_config.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"coffer devnet: cannot read the shard config {args.shard_config}: {exc}", file=sys.stderr)
        return 2
    net = Network(
        root=var,
        database_url=f"sqlite:///{var / 'coffer.db'}",
        port=SERVER_PORT,
        topology=topology,
        admin_password=admin_password(var),
        fileserver_label="fileserver",
    )
    try:
        net.start_server()
        net.bootstrap()
        for port in FILESERVER_PORTS:
            net.add_fileserver(port)
        _welcome(net)
        services = [s for s in (net.server, *(fs.proc for fs in net.fileservers)) if s is not None]
        while all(s.alive() for s in services):
            time.sleep(0.5)
        dead = [s.name for s in services if not s.alive()]
        print(f"coffer devnet: {', '.join(dead)} stopped unexpectedly; see the logs in {var}/", file=sys.stderr)
        return 1
    except (RuntimeError, ClientError) as exc:
        print(f"coffer devnet: {exc}\nsee the logs in {var}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        # Likewise when it stops for another reason (a process died, a start-up step failed).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        net.stop()


def _welcome(net: Network) -> None:
    shown = "(from COFFER_ADMIN_PASSWORD)" if os.environ.get("COFFER_ADMIN_PASSWORD") else net.admin_password
    print(
        f"""
Coffer is running.
  server       {net.url}
  fileservers  {", ".join(fs.url for fs in net.fileservers)}  (shard "default", local disk)
  admin        admin / {shown}
  state, logs  {net.root}/

Try, in another terminal:
  .venv/bin/coffer login admin --server {net.url}
  .venv/bin/coffer admin fileservers

Ctrl-C stops everything.""",
        flush=True,
    )
