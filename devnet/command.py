"""``coffer devnet`` (what ``make run`` runs): a whole network on this machine, in the foreground.

It starts the server on SQLite, creates the administrator ``admin`` on the first
run (the rule for its password is in :mod:`.accounts`), applies
``shard-config/local.toml``, exports the cluster config and starts two
fileservers on local disk; then it keeps them running (a process that stops is
started again, see :mod:`.supervise`) until Ctrl-C or SIGTERM, and stops all it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import tomllib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from coffer.client.errors import AuthError, ClientError
from coffer.protocol import routes
from coffer.protocol.settings import PRIVATE_UMASK

from . import accounts
from .procs import http_ok, port_free
from .supervise import Supervised, Supervisor

if TYPE_CHECKING:
    from .network import Fileserver, Network

SERVER_PORT = 8000
FILESERVER_PORTS = (8101, 8102)
METRICS_PORTS = (9100, 9101, 9102)
"""Where the server and each fileserver serve Prometheus metrics, on 127.0.0.1."""


def register(commands: argparse._SubParsersAction, help_text: str) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("devnet", help=help_text)
    parser.add_argument("--var", type=Path, default=Path("var"), help="where state lives (default ./var)")
    parser.add_argument(
        "--shard-config", type=Path, default=Path("shard-config/local.toml"), help="shard definitions to apply"
    )
    parser.set_defaults(func=run)


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
    # SECURITY: var/ holds the database with the ticket-signing seed, passwords and chunks: its owner's alone,
    # whatever the umask, and whatever an older version left in it readable (the directory closes it all).
    os.umask(PRIVATE_UMASK)
    var: Path = args.var.absolute()
    var.mkdir(mode=0o700, parents=True, exist_ok=True)
    var.chmod(0o700)
    busy = [p for p in (SERVER_PORT, *FILESERVER_PORTS, *METRICS_PORTS) if not port_free(p)]
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
        admin_name=accounts.OPERATOR,
        admin_password=accounts.operator_password(var),
        fileserver_label="fileserver",
        server_extra={"COFFER_METRICS_BIND": _local(METRICS_PORTS[0]), "COFFER_METRICS_DIR": str(var / "metrics")},
    )
    try:
        net.start_server()
        net.bootstrap()
        admin = _settle_admin(net, var)
        for port, metrics_port in zip(FILESERVER_PORTS, METRICS_PORTS[1:], strict=True):
            net.add_fileserver(port, env={"COFFER_FS_METRICS_BIND": _local(metrics_port)})
        _welcome(net, accounts.shown(var, admin))
        supervisor = Supervisor(_watch(net), say=lambda line: print(line, file=sys.stderr, flush=True))
        while True:
            supervisor.tick()
            time.sleep(0.5)
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


def _local(port: int) -> str:
    return f"127.0.0.1:{port}"


def _settle_admin(net: Network, var: Path) -> accounts.AdminPassword:
    """Create the person's ``admin`` on the first run; on a later one, say if COFFER_ADMIN_PASSWORD goes unused."""
    assert net.admin is not None
    exists = any(user.name == accounts.ADMIN for user in net.admin.admin_users())
    # SECURITY: the password chooses the admin's credentials; it is never logged, only shown in the welcome.
    admin, password = accounts.settle_admin(var, exists, os.environ.get("COFFER_ADMIN_PASSWORD") or None)
    if password is not None:
        net.create_admin(accounts.ADMIN, password)
    warning = accounts.notice(var, admin)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return admin


def _watch(net: Network) -> list[tuple[Supervised, Callable[[], bool]]]:
    """Every process of *net*, with how to tell it is back: it answers, and a fileserver is listed live."""
    assert net.server is not None
    server: list[tuple[Supervised, Callable[[], bool]]] = [(net.server, lambda: http_ok(net.url + routes.HEALTH))]
    return server + [(fs.proc, partial(fileserver_back, net, fs)) for fs in net.fileservers]


def fileserver_back(net: Network, fs: Fileserver) -> bool:
    """Return whether *fs* answers and the server lists it live; False while the server cannot tell."""
    assert net.admin is not None
    try:
        return http_ok(fs.url + routes.HEALTH) and net.live(fs)
    except AuthError:
        # The devnet's session ran out (a network left running for half a day): sign in again, ask next time.
        try:
            net.admin.login(net.admin_name, net.admin_password)
        except ClientError:
            pass  # the server is down or restarting: the next tick tries again
        return False
    except ClientError:  # the server is down or restarting: not yet
        return False


def _welcome(net: Network, shown: str) -> None:
    print(
        f"""
Coffer is running.
  server       {net.url}
  web page     {net.url}/  (share links open at {net.url}/s/…)
  fileservers  {", ".join(fs.url for fs in net.fileservers)}  (shard "default", local disk)
  admin        admin / {shown}
  state, logs  {net.root}/
  metrics      {", ".join(f"http://{_local(p)}/metrics" for p in METRICS_PORTS)}
  health       {net.url}{routes.HEALTH} (alive), {net.url}{routes.READY} (ready), the same on each fileserver

Try, in another terminal:
  .venv/bin/coffer login admin --server {net.url}
  .venv/bin/coffer admin fileservers

A server or fileserver that stops is started again; Ctrl-C stops everything.""",
        flush=True,
    )
