"""Real Coffer processes on 127.0.0.1 for integration tests: a server and fileservers under gunicorn.

Every process is started by these helpers and stopped by its own PID; nothing
else on the machine is touched. Short heartbeat intervals and leases keep the
liveness tests quick while exercising the same code paths as production.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from coffer.client.api import ServerClient, new_user_body
from coffer.client.cli.devnet import http_ok, wait_until
from coffer.server.topology import render_toml

HEARTBEAT = 0.5
LEASE = 3.0
ADMIN_PASSWORD = "integration-admin-pw"
TOPOLOGY = {
    "shards": [{"name": "default"}, {"name": "archive"}],
    "clusters": [
        {
            "name": "local",
            "shards": [{"name": "default", "read": True, "write": True}, {"name": "archive", "read": True}],
        }
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def coffer(*args: str) -> list[str]:
    return [sys.executable, "-m", "coffer.client.cli.main", *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFER_")}
    return env | extra


@dataclass
class Proc:
    """A child process we started, with its log file for failure messages."""

    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal our process group (gunicorn master and its workers), then reap the master."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
        if self.popen is not None:
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@dataclass
class Fileserver:
    name: str
    port: int
    data_dir: Path
    proc: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Network:
    """A server, its admin session, the exported cluster config, and the fileservers started so far."""

    root: Path
    database_url: str
    port: int = field(default_factory=free_port)
    server: Proc | None = None
    admin: ServerClient | None = None
    cluster_config: Path | None = None
    fileservers: list[Fileserver] = field(default_factory=list)
    server_extra: dict[str, str] = field(default_factory=dict)
    """Environment added to the server's (``COFFER_…`` settings), over the fast test defaults."""
    fileserver_extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def server_env(self) -> dict[str, str]:
        defaults = {
            "COFFER_DATABASE_URL": self.database_url,
            "COFFER_BIND": f"127.0.0.1:{self.port}",
            "COFFER_PUBLIC_URL": self.url,
            "COFFER_LEASE_SECONDS": str(LEASE),
            "COFFER_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            "COFFER_WORKERS": "2",
            "COFFER_THREADS": "8",
        }
        return clean_env(**(defaults | self.server_extra))

    def start_server(self) -> None:
        self.server = Proc(coffer("server"), self.server_env(), self.root / "server.log")
        self.server.start()
        self._wait(lambda: http_ok(f"{self.url}/api/health"), "the server to answer", self.server)

    def _wait(self, check: Any, what: str, proc: Proc | None = None, timeout: float = 30) -> None:
        try:
            wait_until(check, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- log ---\n{proc.tail() if proc else ''}") from exc

    def bootstrap(self) -> None:
        """Create the admin with the real CLI, apply the topology and export the cluster config."""
        done = subprocess.run(
            coffer("server", "create-admin", "admin"),
            input=ADMIN_PASSWORD + "\n",
            env=self.server_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        self.admin = ServerClient(self.url)
        self.admin.login("admin", ADMIN_PASSWORD)
        self.admin.request("POST", "/api/admin/apply", {"config": TOPOLOGY, "prune": False, "dry_run": False})
        self.cluster_config = self.root / "cluster-local.toml"
        self.cluster_config.write_text(self.admin.request("GET", "/api/admin/clusters/local/config")["toml"])

    def add_fileserver(self, port: int | None = None, *, config: Path | None = None) -> Fileserver:
        """Start one more fileserver, from the exported cluster config or from *config*."""
        n = len(self.fileservers) + 1
        port = port or free_port()
        data_dir = self.root / f"fs{n}"
        defaults = {
            "COFFER_FS_BIND": f"127.0.0.1:{port}",
            "COFFER_FS_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "COFFER_FS_DATA_DIR": str(data_dir),
            "COFFER_FS_HEARTBEAT_INTERVAL": str(HEARTBEAT),
            "COFFER_FS_WORKERS": "2",
            "COFFER_FS_THREADS": "8",
        }
        env = clean_env(**(defaults | self.fileserver_extra))
        config = config or self.cluster_config
        assert config is not None
        proc = Proc(coffer("fileserver", "--config", str(config)), env, self.root / f"fs{n}.log")
        fs = Fileserver(f"fs{n}", port, data_dir, proc)
        self.fileservers.append(fs)
        self.start_fileserver(fs)
        return fs

    def start_fileserver(self, fs: Fileserver) -> None:
        fs.proc.start()
        # A restarted fileserver may still look live from its last beat: wait for it to answer too.
        self._wait(lambda: http_ok(f"{fs.url}/api/health"), f"{fs.name} to answer", fs.proc)
        self._wait(lambda: self.live(fs), f"{fs.name} to be live", fs.proc)

    def create_user(self, username: str, password: str, role: str = "user") -> None:
        """Create an account the way `coffer admin user create` does (salt, auth key, wrapped key pair made here)."""
        assert self.admin is not None
        self.admin.request("POST", "/api/admin/users", new_user_body(username, password, role))

    def export_config(self, cluster: str, shard_paths: dict[str, str] | None = None) -> Path:
        """Write the config of *cluster* as exported, with a storage path set per shard if asked."""
        assert self.admin is not None
        paths = shard_paths or {}
        config = self.admin.request("GET", f"/api/admin/clusters/{cluster}/config")["config"]
        for shard in config["shards"]:
            if shard["name"] in paths:
                shard["path"] = paths[shard["name"]]
        path = self.root / f"cluster-{cluster}-{len(list(self.root.glob('cluster-*.toml')))}.toml"
        path.write_text(render_toml(config, {}))
        return path

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one statement straight on the server's database (``?`` placeholders), as an intruder would."""
        if self.database_url.startswith("sqlite:///"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as db:
                db.row_factory = sqlite3.Row
                return [dict(r) for r in db.execute(statement, params).fetchall()]
        with psycopg.connect(self.database_url, row_factory=dict_row) as pg:
            cursor = pg.execute(statement.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []

    def listing(self) -> list[dict[str, Any]]:
        assert self.admin is not None
        result: list[dict[str, Any]] = self.admin.request("GET", "/api/admin/fileservers")
        return result

    def live(self, fs: Fileserver) -> bool:
        return any(s["url"] == fs.url and s["live"] for s in self.listing())

    def fileserver_id(self, fs: Fileserver) -> str:
        """The id the fileserver persisted on its own disk."""
        return str(json.loads((fs.data_dir / "identity.json").read_text())["id"])

    def stop(self) -> None:
        for fs in self.fileservers:
            fs.proc.kill(signal.SIGTERM)
        if self.server is not None:
            self.server.kill(signal.SIGTERM)
        if self.admin is not None:
            self.admin.close()


def start_network(
    root: Path,
    fileservers: int = 2,
    *,
    server_extra: dict[str, str] | None = None,
    fileserver_extra: dict[str, str] | None = None,
) -> Network:
    """Start a server on SQLite under *root*, bootstrap it and add *fileservers*; stop it all on failure."""
    net = Network(
        root=root,
        database_url=f"sqlite:///{root / 'coffer.db'}",
        server_extra=server_extra or {},
        fileserver_extra=fileserver_extra or {},
    )
    try:
        net.start_server()
        net.bootstrap()
        for _ in range(fileservers):
            net.add_fileserver()
    except BaseException:
        net.stop()
        raise
    return net
