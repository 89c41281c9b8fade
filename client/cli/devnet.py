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
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx

from coffer.protocol import routes
from coffer.protocol.errors import CofferError
from coffer.server import settings as server_settings

from ..api import ServerClient
from ..errors import ClientError

SERVER_PORT = 8000
FILESERVER_PORTS = (8101, 8102)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("devnet", help="run a server and two fileservers on this machine until Ctrl-C")
    parser.add_argument("--var", type=Path, default=Path("var"), help="where state lives (default ./var)")
    parser.add_argument(
        "--shard-config", type=Path, default=Path("shard-config/local.toml"), help="shard definitions to apply"
    )
    parser.set_defaults(func=run)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll *check* until it is true; raise TimeoutError naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def coffer_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "coffer.client.cli.main", *args]


def spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a child whose output goes to *log_path*; it gets its own process group."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Stop the processes we started (and only those): SIGTERM, then SIGKILL after *timeout*."""
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in processes:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _admin_password(var: Path, settings: server_settings.ServerSettings) -> str:
    """Create ``admin`` once; its password comes from COFFER_ADMIN_PASSWORD or is generated and kept in var/."""
    from coffer.server.cli import create_admin_user

    saved = var / "admin-password"
    password = os.environ.get("COFFER_ADMIN_PASSWORD") or (saved.read_text().strip() if saved.exists() else "")
    if not password:
        password = secrets.token_urlsafe(12)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
    try:
        create_admin_user(settings, "admin", password)
    except CofferError as exc:
        if exc.code != "user_exists":
            raise
    return password


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    # Ctrl-C and SIGTERM both stop the network cleanly, even when started with SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    var: Path = args.var
    var.mkdir(parents=True, exist_ok=True)
    busy = [p for p in (SERVER_PORT, *FILESERVER_PORTS) if not _port_free(p)]
    if busy:
        print(f"coffer devnet: port(s) {busy} on 127.0.0.1 are in use: is another network running?", file=sys.stderr)
        return 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    env["COFFER_DATABASE_URL"] = f"sqlite:///{var / 'coffer.db'}"
    env["COFFER_BIND"] = f"127.0.0.1:{SERVER_PORT}"
    url = f"http://127.0.0.1:{SERVER_PORT}"
    env["COFFER_PUBLIC_URL"] = url
    settings = server_settings.ServerSettings(
        database_url=env["COFFER_DATABASE_URL"], bind=env["COFFER_BIND"], public_url=url
    )
    password = _admin_password(var, settings)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(spawn(coffer_command("server"), env, var / "server.log"))
        wait_until(lambda: http_ok(url + routes.HEALTH), 30, "the server")
        with ServerClient(url) as api:
            api.login("admin", password)
            api.apply(tomllib.loads(args.shard_config.read_text()), prune=False, dry_run=False)
            cluster = tomllib.loads(args.shard_config.read_text())["clusters"][0]["name"]
            config = var / f"cluster-{cluster}.toml"
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(api.cluster_config(cluster)["toml"])
            for n, port in enumerate(FILESERVER_PORTS, 1):
                fs_env = env | {
                    "COFFER_FS_BIND": f"127.0.0.1:{port}",
                    "COFFER_FS_PUBLIC_URL": f"http://127.0.0.1:{port}",
                    "COFFER_FS_DATA_DIR": str(var / f"fileserver{n}"),
                }
                processes.append(
                    spawn(coffer_command("fileserver", "--config", str(config)), fs_env, var / f"fileserver{n}.log")
                )

            def all_live() -> bool:
                live = [s for s in api.fileservers() if s["live"]]
                return len(live) >= len(FILESERVER_PORTS)

            wait_until(all_live, 30, "both fileservers to register", interval=0.3)
        _welcome(url, password, var)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        dead = [p.args for p in processes if p.poll() is not None]
        print(f"coffer devnet: a process stopped unexpectedly: {dead}; see the logs in {var}/", file=sys.stderr)
        return 1
    except (TimeoutError, ClientError) as exc:
        print(f"coffer devnet: {exc}; see the logs in {var}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        stop(processes)


def _welcome(url: str, password: str, var: Path) -> None:
    shown = "(from COFFER_ADMIN_PASSWORD)" if os.environ.get("COFFER_ADMIN_PASSWORD") else password
    print(
        f"""
Coffer is running.
  server       {url}
  fileservers  {", ".join(f"http://127.0.0.1:{p}" for p in FILESERVER_PORTS)}  (shard "default", local disk)
  admin        admin / {shown}
  state, logs  {var}/

Try, in another terminal:
  .venv/bin/coffer login admin --server {url}
  .venv/bin/coffer admin fileservers

Ctrl-C stops everything.""",
        flush=True,
    )
